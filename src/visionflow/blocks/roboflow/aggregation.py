"""Roboflow's data aggregator (issue 12): statistics of values over a window of runs or of
time, given once per window.

State: each step (one block instance per compiled step, as in Roboflow) keeps its window
as long as the compiled workflow lives; one window for all the elements the step runs on
(each element counts as a run, as in Roboflow, which keeps no window per video). Runs may
be concurrent, so the window is changed under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.roboflow.formatters import _compiled_chains

Mode = Literal[
    "sum",
    "avg",
    "max",
    "min",
    "count",
    "distinct",
    "count_distinct",
    "values_counts",
    "values_difference",
]
SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600}


def _kinds(mode: str) -> list[str]:
    if mode == "distinct":
        return ["list_of_values"]
    if mode == "values_counts":
        return ["dictionary"]
    return ["float", "integer"]


class _Statistic:
    """One mode's running value over a window: ``add`` each value, ``result`` at the end."""

    def __init__(self, mode: str):
        self.mode = mode
        self.total: Any = 0
        self.seen = 0  # values added
        self.low: Any = None
        self.high: Any = None
        self.distinct: set = set()
        self.counts: Counter = Counter()

    def add(self, value: Any) -> None:
        mode = self.mode
        if mode in ("sum", "avg"):
            self.total += value
        elif mode == "count":  # a list counts its items, as in Roboflow
            self.total += len(value) if hasattr(value, "__len__") else 1
        elif mode in ("distinct", "count_distinct"):
            self.distinct.update(value if isinstance(value, list | set | tuple) else [value])
        elif mode == "values_counts":  # only a list counts its items here, as in Roboflow
            self.counts.update(value if isinstance(value, list) else [value])
        elif mode in ("max", "min", "values_difference"):
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        self.seen += 1

    def result(self) -> Any:
        mode = self.mode
        if mode in ("sum", "count"):
            return self.total
        if mode == "avg":
            return self.total / self.seen if self.seen else None
        if mode == "max":
            return self.high
        if mode == "min":
            return self.low
        if mode == "values_difference":
            return None if self.low is None else self.high - self.low
        if mode == "distinct":
            return list(self.distinct)
        if mode == "count_distinct":
            return len(self.distinct)
        return dict(self.counts)  # values_counts


class DataAggregator(Block):
    """Statistics of each value of ``data`` (after its chain in ``data_operations``) over a
    window: ``aggregation_mode`` names them per value (sum, avg, max, min, count, distinct,
    count_distinct, values_counts, values_difference), each an output ``<name>_<mode>``.
    The window closes after ``interval`` runs (``interval_unit: runs``) or, checked at each
    run, once ``interval`` seconds, minutes or hours have passed since it opened; that run
    gives the statistics and a new window opens. Other runs give None for every output.

    The window is the step's own, kept as long as the compiled workflow: run the same
    compiled workflow on each frame. Each element of a batch counts as one run.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/data_aggregator@v1"]
        data: dict[str, Selector()]  # type: ignore[valid-type]
        data_operations: dict[str, list[Any]] = Field(default_factory=dict)
        aggregation_mode: dict[str, list[Mode]]
        interval_unit: Literal["seconds", "minutes", "hours", "runs"] = "seconds"
        interval: Annotated[int, Field(gt=0)]
        _chains: dict = PrivateAttr(default_factory=dict)

        @model_validator(mode="after")
        def _operations_compile(self):
            self._chains = _compiled_chains(
                self.data_operations, list(self.data), "data_operations"
            )
            return self

    outputs: list[Output] = []
    _chains: dict = {}

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        return [
            Output(f"{name}_{mode}", kinds=_kinds(mode))
            for name in manifest.data
            for mode in manifest.aggregation_mode.get(name, [])
        ]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._window: dict[str, _Statistic] = {}
        self._runs = 0
        self._opened = time.monotonic()

    def setup(self, manifest: BlockManifest) -> None:
        self._chains = manifest._chains

    def run(
        self,
        data: dict[str, Any],
        aggregation_mode: dict[str, list[str]],
        interval_unit: str,
        interval: int,
        **_: Any,
    ) -> dict[str, Any]:
        values = {
            name: chain(value) if (chain := self._chains.get(name)) else value
            for name, value in data.items()
        }
        with self._lock:
            for name, value in values.items():
                for mode in aggregation_mode.get(name, []):  # a mode named twice adds twice
                    self._window.setdefault(f"{name}_{mode}", _Statistic(mode)).add(value)
            self._runs += 1
            if interval_unit == "runs":
                closes = self._runs >= interval
            else:
                closes = time.monotonic() - self._opened >= interval * SECONDS[interval_unit]
            if not closes:
                return dict.fromkeys(self._window)
            results = {key: statistic.result() for key, statistic in self._window.items()}
            self._window, self._runs, self._opened = {}, 0, time.monotonic()
        return results


BLOCKS: list[type[Block]] = [DataAggregator]
