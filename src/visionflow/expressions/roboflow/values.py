"""Runtime checks of the values an operation is given, and the errors they raise.

A compiled operation calls ``expect`` before touching its value, so a mismatch (a string
operation given a number) is an ``ExpressionEvaluationError`` that names the operation, what
it needs and what it got, never a bare ``TypeError`` from deep inside numpy.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import supervision as sv

from visionflow.data.image import WorkflowImage
from visionflow.errors import ExpressionEvaluationError

NUMBER = "a number"
TEXT = "a text"
DETECTIONS = "detections"
DETECTION = "one detection"
SEQUENCE = "a list"
MAPPING = "a dictionary"
IMAGE = "an image"

Parameters = Mapping[str, Any]


def describe(value: object) -> str:
    """A short description of a value for messages (bounded: values may be large)."""
    if isinstance(value, sv.Detections):
        return f"detections ({len(value)})"
    if isinstance(value, WorkflowImage):
        return f"an image ({value.width}x{value.height})"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def mismatch(operation: str, expected: str, value: object) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(f"{operation} needs {expected}, got {describe(value)}")


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def expect_number(operation: str, value: object):
    if not is_number(value):
        raise mismatch(operation, NUMBER, value)
    return value


def expect_text(operation: str, value: object) -> str:
    if not isinstance(value, str):
        raise mismatch(operation, TEXT, value)
    return value


def expect_detections(operation: str, value: object) -> sv.Detections:
    if not isinstance(value, sv.Detections):
        raise mismatch(operation, DETECTIONS, value)
    return value


def expect_sequence(operation: str, value: object) -> list | tuple:
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.tolist()
    if not isinstance(value, list | tuple):
        raise mismatch(operation, SEQUENCE, value)
    return value


def expect_mapping(operation: str, value: object) -> Mapping:
    if not isinstance(value, Mapping):
        raise mismatch(operation, MAPPING, value)
    return value


def expect_image(operation: str, value: object) -> np.ndarray:
    """The pixels of a ``WorkflowImage`` (or of a bare H x W (x C) array)."""
    if isinstance(value, WorkflowImage):
        return value.numpy
    if isinstance(value, np.ndarray) and value.ndim in (2, 3):
        return value
    raise mismatch(operation, IMAGE, value)


def parameter(operation: str, name: str, parameters: Parameters):
    """The evaluation parameter ``name``, for fields that name one."""
    if name not in parameters:
        raise ExpressionEvaluationError(
            f"{operation} reads the evaluation parameter {name!r}, which was not given",
            hint=f"given: {', '.join(sorted(map(str, parameters))[:20]) or 'none'}",
        )
    return parameters[name]


def plain(value: Any) -> Any:
    """numpy scalars as Python numbers (what documents compare with)."""
    return value.item() if isinstance(value, np.generic) else value
