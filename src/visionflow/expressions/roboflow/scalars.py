"""Roboflow's operations on single values: texts, numbers, booleans, lookups."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.functions import MAX_REPEAT
from visionflow.expressions.roboflow.fields import Context
from visionflow.expressions.roboflow.values import (
    Parameters,
    describe,
    expect_number,
    expect_text,
    is_number,
    mismatch,
    plain,
)

Step = Callable[[Any, Parameters], Any]

MAX_REGEX = 1_000  # characters of a StringMatches pattern
MAX_TEXT = MAX_REPEAT  # longest text ToString may produce, as for the expression language


# --- texts -----------------------------------------------------------------------------


def lower_case(fields: dict, context: Context) -> Step:
    return lambda value, parameters: expect_text("StringToLowerCase", value).lower()


def upper_case(fields: dict, context: Context) -> Step:
    return lambda value, parameters: expect_text("StringToUpperCase", value).upper()


def sub_sequence(fields: dict, context: Context) -> Step:
    # Python slice semantics, as Roboflow's: the default end -1 leaves out the last character
    start, end = fields["start"], fields["end"]
    return lambda value, parameters: expect_text("StringSubSequence", value)[start:end]


def string_matches(fields: dict, context: Context) -> Step:
    pattern = fields["regex"]
    if len(pattern) > MAX_REGEX:
        raise ExpressionError(
            f"the pattern is {len(pattern):,} characters long; the limit is {MAX_REGEX:,}",
            place=f"{context.place}.regex",
        )
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ExpressionError(
            f"not a regular expression: {error}", place=f"{context.place}.regex"
        ) from None
    # True when the pattern is found anywhere in the text (``re.search``)
    search = compiled.search
    return lambda value, parameters: search(expect_text("StringMatches", value)) is not None


def to_string(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        text = str(plain(value))
        if len(text) > MAX_TEXT:
            raise ExpressionEvaluationError(
                f"ToString would make {len(text):,} characters; the limit is {MAX_TEXT:,}"
            )
        return text

    return run


def timestamp_to_iso(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        if not isinstance(value, datetime):
            raise mismatch("TimestampToISOFormat", "a timestamp (datetime)", value)
        return value.isoformat()

    return run


# --- numbers ---------------------------------------------------------------------------


def to_number(fields: dict, context: Context) -> Step:
    cast_to = fields["cast_to"]

    def run(value, parameters):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise mismatch("ToNumber", "a number, a numeric text or a boolean", value) from None
        if cast_to == "float":
            return number
        if number != number or number in (float("inf"), float("-inf")):
            raise ExpressionEvaluationError(f"ToNumber cannot make an int of {describe(value)}")
        return int(number)  # towards zero, as int() does

    return run


def number_round(fields: dict, context: Context) -> Step:
    digits = fields["decimal_digits"]
    return lambda value, parameters: round(plain(expect_number("NumberRound", value)), digits)


def multiply(fields: dict, context: Context) -> Step:
    other = fields["other"]
    return lambda value, parameters: plain(expect_number("Multiply", value)) * other


def divide(fields: dict, context: Context) -> Step:
    other = fields["other"]
    if other == 0:
        raise ExpressionError("Divide by 0", place=f"{context.place}.other")
    return lambda value, parameters: plain(expect_number("Divide", value)) / other


def random_number(fields: dict, context: Context) -> Step:
    # the value given is ignored: Roboflow uses it to sample predictions or images
    low, high = fields["min_value"], fields["max_value"]
    if low == high:
        return lambda value, parameters: low
    # Roboflow's formula: between the two whatever their order (min above max included)
    span = high - low
    if span in (float("inf"), float("-inf")):
        raise ExpressionError("max_value - min_value is too large for a float", place=context.place)
    return lambda value, parameters: low + random.random() * span


# --- booleans and lookups --------------------------------------------------------------


def to_boolean(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        if not (is_number(value) or isinstance(value, bool | str | list | tuple | dict)):
            raise mismatch("ToBoolean", "a number", value)
        return bool(value)

    return run


def lookup(operation: str, table: dict, value):
    try:
        return table[value]
    except TypeError:
        raise mismatch(operation, "a value that can be looked up", value) from None
    except KeyError:
        keys = ", ".join(repr(key) for key in list(table)[:20])
        raise ExpressionEvaluationError(
            f"{operation}: {describe(value)} is not in the lookup table",
            hint=f"its keys: {keys}",
        ) from None


def lookup_table(fields: dict, context: Context) -> Step:
    table = fields["lookup_table"]
    return lambda value, parameters: lookup("LookupTable", table, plain(value))
