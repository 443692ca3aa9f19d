"""Video metadata given as a run's input (Roboflow's ``WorkflowVideoMetadata``): read from
``VideoMetadata`` itself or its JSON form, each field checked, errors placed."""

from __future__ import annotations

import datetime
import math
from typing import Any

from visionflow.data.image import VideoMetadata
from visionflow.errors import RuntimeInputError

_FIELDS = ", ".join(VideoMetadata._fields)


def read_video_metadata(value: Any, place: str) -> VideoMetadata:
    """``value`` as ``VideoMetadata``: itself, or a dict of its fields (``frame_timestamp``
    a datetime, ISO 8601 text or seconds since the epoch; ``fps`` and the flags optional)."""
    if isinstance(value, VideoMetadata):
        return value
    if not isinstance(value, dict):
        raise RuntimeInputError(
            f"expected video metadata {{{_FIELDS}}}, found {type(value).__name__}", place=place
        )
    unknown = sorted(set(value) - set(VideoMetadata._fields), key=str)
    if unknown:
        raise RuntimeInputError(
            f"unknown video metadata field(s) {', '.join(map(repr, unknown))}",
            place=place,
            hint=f"the fields are: {_FIELDS}",
        )
    identifier = value.get("video_identifier")
    if not isinstance(identifier, str) or not identifier:
        raise RuntimeInputError(
            "video metadata needs 'video_identifier', a text", place=f"{place} 'video_identifier'"
        )
    return VideoMetadata(
        video_identifier=identifier,
        frame_number=_whole(value.get("frame_number", 0), f"{place} 'frame_number'"),
        frame_timestamp=_timestamp(value.get("frame_timestamp"), f"{place} 'frame_timestamp'"),
        fps=_rate(value.get("fps"), f"{place} 'fps'"),
        comes_from_video_file=_flag(value.get("comes_from_video_file"), place),
        measured_fps=_rate(value.get("measured_fps"), f"{place} 'measured_fps'"),
    )


def _whole(value: Any, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuntimeInputError(f"expected a whole number >= 0, found {value!r}", place=place)
    return value


def _rate(value: Any, place: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuntimeInputError(f"expected frames per second, found {value!r}", place=place)
    if value <= 0:
        raise RuntimeInputError(f"frames per second must be above 0, found {value}", place=place)
    return float(value)


def _flag(value: Any, place: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RuntimeInputError(
        f"expected true, false or null, found {value!r}", place=f"{place} 'comes_from_video_file'"
    )


def _timestamp(value: Any, place: str) -> datetime.datetime:
    if value is None:
        return datetime.datetime.now(datetime.UTC)
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise RuntimeInputError(
        f"expected a time (ISO 8601 text, seconds since 1970, or a datetime), found {value!r}",
        place=place,
    )
