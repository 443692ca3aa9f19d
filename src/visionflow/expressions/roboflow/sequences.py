"""Roboflow's operations on sequences (lists of values)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import supervision as sv

from visionflow.errors import ExpressionEvaluationError
from visionflow.expressions.roboflow.fields import Context
from visionflow.expressions.roboflow.scalars import MAX_TEXT, lookup
from visionflow.expressions.roboflow.values import (
    Parameters,
    expect_sequence,
    is_number,
    mismatch,
    plain,
)

Step = Callable[[Any, Parameters], Any]


def sequence_map(fields: dict, context: Context) -> Step:
    table = fields["lookup_table"]

    def run(value, parameters):
        items = expect_sequence("SequenceMap", value)
        return [lookup("SequenceMap", table, plain(item)) for item in items]

    return run


def sequence_apply(chain: Step) -> Step:
    """The chain of nested operations applied to every element (SequenceApply)."""

    def run(value, parameters):
        return [chain(item, parameters) for item in expect_sequence("SequenceApply", value)]

    return run


def numeric_aggregate(fields: dict, context: Context) -> Step:
    pick, neutral = (min if fields["function"] == "min" else max), fields["neutral_value"]

    def run(value, parameters):
        items = expect_sequence("NumericSequenceAggregate", value)
        if not items:
            return neutral
        for item in items:
            if not is_number(item):
                raise mismatch("NumericSequenceAggregate", "a list of numbers", value)
        return plain(pick(items))

    return run


def aggregate(fields: dict, context: Context) -> Step:
    mode = fields["mode"]

    def run(value, parameters):
        items = expect_sequence("SequenceAggregate", value)
        if not items:
            raise ExpressionEvaluationError("SequenceAggregate: an empty list has no " + mode)
        if mode in ("first", "last"):
            return items[0 if mode == "first" else -1]
        try:
            # most frequent first; equal counts keep the order of first appearance
            ranked = [item for item, _ in Counter(items).most_common()]
        except TypeError:
            expected = "a list of texts, numbers or booleans"
            raise mismatch("SequenceAggregate", expected, value) from None
        return ranked[0 if mode == "most_common" else -1]

    return run


def sequence_length(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        if not isinstance(value, list | tuple | dict | str | sv.Detections):
            raise mismatch("SequenceLength", "a list, a dictionary or detections", value)
        return len(value)

    return run


def elements_count(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        items = expect_sequence("SequenceElementsCount", value)
        try:
            return dict(Counter(plain(item) for item in items))
        except TypeError:
            raise mismatch("SequenceElementsCount", "a list of texts or numbers", value) from None

    return run


def join(fields: dict, context: Context) -> Step:
    separator = fields["separator"]

    def run(value, parameters):
        texts = [str(plain(item)) for item in expect_sequence("SequenceJoin", value)]
        size = sum(map(len, texts)) + len(separator) * max(len(texts) - 1, 0)
        if size > MAX_TEXT:
            raise ExpressionEvaluationError(
                f"SequenceJoin would make {size:,} characters; the limit is {MAX_TEXT:,}"
            )
        return separator.join(texts)

    return run
