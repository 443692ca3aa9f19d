"""What the benchmarks share: rows with a target and a PASS/MISS, the table, the command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    label: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: for information, no target
    compare: str = ""

    @property
    def status(self) -> str:
        return {True: "PASS", False: "MISS", None: ""}[self.passed]


COLUMNS = (("measurement", 48), ("value", 18), ("target", 14), ("status", 6))


def print_header(title: str) -> None:
    print(f"\n{title}")
    print("  " + " ".join(f"{name:<{width}}" for name, width in COLUMNS) + " compare")
    print("  " + "-" * (sum(width + 1 for _, width in COLUMNS) + 24))


def print_row(row: Row) -> Row:
    cells = (row.label, row.value, row.target, row.status)
    line = " ".join(f"{cell:<{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))
    print(f"  {line} {row.compare}".rstrip(), flush=True)
    return row


def run_figures(
    figures: dict[int, Callable[[Any], list[Row]]],
    full: Any,
    quick: Any,
    description: str | None,
    argv: list[str] | None = None,
) -> None:
    """Parse ``--quick`` / ``--only``, print the chosen figures, then the targets met."""
    parser = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 2,3")
    args = parser.parse_args(argv)
    settings = quick if args.quick else full
    chosen = [int(n) for n in args.only.split(",") if n.strip()] or list(figures)
    started = time.perf_counter()
    rows = [row for number in chosen for row in figures[number](settings)]
    judged = [row for row in rows if row.passed is not None]
    missed = [row.label for row in judged if not row.passed]
    print(
        f"\n{len(judged) - len(missed)}/{len(judged)} targets met"
        + (f"; missed: {'; '.join(missed)}" if missed else "")
        + f"  ({time.perf_counter() - started:.0f} s, Python {sys.version.split()[0]})"
    )
