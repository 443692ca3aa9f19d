"""Roboflow's formatter blocks: CSV rows, JSON fields, the current time, text templates and
secrets read from environment variables (issue 12); the VLM formatters live in ``vlm.py``
(a VLM's text as a classification) and ``vlm_detections.py`` (as detections)."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import re
import string
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, field_validator, model_validator

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import roboflow_operations
from visionflow.errors import EnvironmentAccessNotAllowedError, ExpressionError
from visionflow.kinds import register_kind
from visionflow.selectors import looks_like_selector

register_kind("timestamp", "a moment in time (a timezone-aware datetime)")

Scalar = str | int | float | bool


def _compiled_chains(operations: dict[str, list[Any]], names: list[str], field: str) -> dict:
    """Each name's Roboflow operation chain, compiled once; a name not in the data is an error
    now (Roboflow finds it only when the step runs)."""
    chains = {}
    for name, chain in operations.items():
        if name not in names:
            raise ExpressionError(
                f"{field} names {name!r}, which is not a key of the data",
                place=f"field '{field}'",
                hint="keys: " + (", ".join(sorted(names)) or "(none)"),
            )
        chains[name] = roboflow_operations(chain, f"{field}.{name}", ())
    return chains


# --- CSV formatter --------------------------------------------------------------------------

TIMESTAMP_COLUMN = "timestamp"  # added to every row; reserved, as in Roboflow
# Text that a spreadsheet would run as a formula gets a leading quote (Roboflow's rule).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CSVFormatter(Block):
    """Rows of a CSV document: one column per key of ``columns_data`` plus ``timestamp``.

    Given batches, one row per element, and the whole document in the last element's
    ``csv_content`` (None in the others), as Roboflow's block gives it.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/csv_formatter@v1"]
        columns_data: dict[str, Selector() | Scalar]
        columns_operations: dict[str, list[Any]] = Field(default_factory=dict)
        _chains: dict = PrivateAttr(default_factory=dict)

        @field_validator("columns_data", "columns_operations")
        @classmethod
        def _timestamp_reserved(cls, value: dict) -> dict:
            if TIMESTAMP_COLUMN in value:
                raise ValueError(f"'{TIMESTAMP_COLUMN}' is a reserved column name (always added)")
            return value

        @model_validator(mode="after")
        def _operations_compile(self):
            self._chains = _compiled_chains(
                self.columns_operations, list(self.columns_data), "columns_operations"
            )
            return self

    outputs = [Output("csv_content", kinds=["string"])]
    accepts_batches = True
    _chains: dict = {}

    def setup(self, manifest: BlockManifest) -> None:
        self._chains = manifest._chains

    def run(self, columns_data: dict[str, Any], **_: Any) -> dict | list[dict]:
        sizes = {len(value) for value in columns_data.values() if isinstance(value, Batch)}
        if not sizes:
            return {"csv_content": _csv([self._row(columns_data)])}
        size = max(sizes)  # the batches of one step are aligned on its elements
        rows = [
            self._row(
                {
                    name: value[i] if isinstance(value, Batch) else value
                    for name, value in columns_data.items()
                }
            )
            for i in range(size)
        ]
        return [{"csv_content": None}] * (size - 1) + [{"csv_content": _csv(rows)}]

    def _row(self, values: dict[str, Any]) -> dict[str, Any]:
        row = {
            name: chain(values[name]) if (chain := self._chains.get(name)) else values[name]
            for name in values
        }
        row[TIMESTAMP_COLUMN] = datetime.now(tz=UTC).isoformat()
        return row


def _csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text, each value written as Roboflow's (pandas) writer writes it."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    cells = {name: _column_texts([row.get(name) for row in rows]) for name in columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(cells[name] for name in columns), strict=True))
    return buffer.getvalue()


def _column_texts(values: list[Any]) -> list[str]:
    # pandas makes a column of numbers with a missing value (or any float) a float column:
    # 3 is then written "3.0"; any other column is written value by value
    present = [value for value in values if not _missing(value)]
    numeric = bool(present) and all(_number(value) for value in present)
    floats = numeric and (len(present) < len(values) or any(_real(v) for v in present))
    return [_text(value, floats) for value in values]


def _text(value: Any, as_float: bool) -> str:
    if _missing(value):
        return ""
    if as_float:
        return repr(float(value))
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return str(value)


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return _number(value) and not isinstance(value, numbers.Integral)


def _missing(value: Any) -> bool:
    return value is None or (_real(value) and math.isnan(value))


# --- JSON parser ----------------------------------------------------------------------------

ERROR_STATUS = "error_status"
# The first Markdown block marked json (as language models write it) is what is parsed.
_JSON_BLOCK = re.compile(r"```json([\s\S]*?)```", flags=re.IGNORECASE)


class JSONParser(Block):
    """The ``expected_fields`` of a JSON text, each an output; ``error_status`` is true when
    the text is not JSON (or an object) or a field is missing (missing fields are None)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/json_parser@v1"]
        raw_json: str | Selector(["language_model_output"])
        expected_fields: list[str]

        @field_validator("expected_fields")
        @classmethod
        def _error_status_reserved(cls, value: list[str]) -> list[str]:
            if ERROR_STATUS in value:
                raise ValueError(f"'{ERROR_STATUS}' is reserved: it is always an output")
            return value

    outputs = [Output(ERROR_STATUS, kinds=["boolean"])]

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        fields = [Output(name) for name in dict.fromkeys(manifest.expected_fields)]
        return [Output(ERROR_STATUS, kinds=["boolean"]), *fields]

    def run(self, raw_json: str, expected_fields: list[str]) -> dict[str, Any]:
        blocks = _JSON_BLOCK.findall(raw_json)
        try:
            parsed = json.loads(blocks[0] if blocks else raw_json)
        except (ValueError, TypeError):
            return {**dict.fromkeys(expected_fields), ERROR_STATUS: True}
        if not isinstance(parsed, dict):  # a list or a number has no fields
            return {**dict.fromkeys(expected_fields), ERROR_STATUS: bool(expected_fields)}
        found = {name: parsed.get(name) for name in expected_fields}
        return {**found, ERROR_STATUS: not all(name in parsed for name in expected_fields)}


# --- Current time ---------------------------------------------------------------------------

# The time zones Roboflow's block offers (IANA names); others are refused, as there.
TIMEZONES = (
    "Etc/GMT+12", "Pacific/Pago_Pago", "Pacific/Honolulu", "Pacific/Marquesas",
    "America/Anchorage", "Pacific/Gambier", "America/Los_Angeles", "America/Denver",
    "America/Phoenix", "America/Chicago", "America/Mexico_City", "America/New_York",
    "America/Bogota", "America/Halifax", "America/Puerto_Rico", "America/St_Johns",
    "America/Sao_Paulo", "Atlantic/South_Georgia", "Atlantic/Azores", "Atlantic/Cape_Verde",
    "UTC", "Europe/London", "Europe/Berlin", "Africa/Lagos", "Europe/Kyiv", "Africa/Cairo",
    "Africa/Johannesburg", "Europe/Moscow", "Europe/Istanbul", "Africa/Nairobi", "Asia/Tehran",
    "Asia/Dubai", "Asia/Kabul", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
    "Asia/Yangon", "Asia/Bangkok", "Asia/Shanghai", "Australia/Eucla", "Asia/Tokyo",
    "Australia/Darwin", "Australia/Adelaide", "Australia/Sydney", "Pacific/Port_Moresby",
    "Australia/Lord_Howe", "Pacific/Guadalcanal", "Pacific/Norfolk", "Pacific/Fiji",
    "Pacific/Auckland", "Pacific/Chatham", "Pacific/Tongatapu", "Pacific/Apia",
    "Pacific/Kiritimati",
)  # fmt: skip
_TIMEZONE_SET = frozenset(TIMEZONES)


class CurrentTime(Block):
    """The current moment in ``timezone``: a timezone-aware ``timestamp`` and its
    ``iso_string``, ``date`` (YYYY-MM-DD) and ``time`` (HH:MM:SS)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/current_time@v1"]
        timezone: Literal[TIMEZONES] | Selector(["string"]) = "UTC"  # type: ignore[valid-type]

    outputs = [
        Output("timestamp", kinds=["timestamp"]),
        Output("iso_string", kinds=["string"]),
        Output("date", kinds=["string"]),
        Output("time", kinds=["string"]),
    ]

    def run(self, timezone: str = "UTC") -> dict[str, Any]:
        if timezone not in _TIMEZONE_SET:  # a value given by a selector
            raise ValueError(
                f"unsupported timezone {timezone!r}; one of: {', '.join(sorted(_TIMEZONE_SET))}"
            )
        now = datetime.now(ZoneInfo(timezone))
        return {
            "timestamp": now,
            "iso_string": now.isoformat(),
            "date": now.strftime("%Y-%m-%d"),
            "time": now.strftime("%H:%M:%S"),
        }


# --- String template ------------------------------------------------------------------------

MAX_FORMAT_NUMBER = 10_000  # a width or precision above this is refused (Roboflow's limit)
MAX_RENDERED_LENGTH = 1_000_000


class StringTemplate(Block):
    """``template`` with each ``{name}`` replaced by ``data[name]`` (after its chain in
    ``data_operations``), Python format specs allowed: ``"n={n:.2f}"``; ``{{`` is a brace."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/string_template@v1"]
        template: Selector(["string"]) | str
        data: dict[str, Selector() | Scalar] = Field(default_factory=dict)
        data_operations: dict[str, list[Any]] = Field(default_factory=dict)
        _chains: dict = PrivateAttr(default_factory=dict)

        @model_validator(mode="after")
        def _template_and_operations(self):
            self._chains = _compiled_chains(
                self.data_operations, list(self.data), "data_operations"
            )
            if not looks_like_selector(self.template):  # a literal template is checked now
                try:
                    _check_names(self.template, set(self.data))
                except ValueError as error:
                    raise ExpressionError(str(error), place="field 'template'") from None
            return self

    outputs = [Output("output", kinds=["string"])]
    _chains: dict = {}

    def setup(self, manifest: BlockManifest) -> None:
        self._chains = manifest._chains

    def run(self, template: Any, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if not isinstance(template, str):
            raise TypeError(f"template must be text, got {type(template).__name__}")
        variables = dict(data)
        for name, chain in self._chains.items():
            variables[name] = chain(variables[name])
        _check_names(template, set(variables))
        try:
            rendered = _LimitedFormatter().vformat(template, (), variables)
        except (ValueError, TypeError, KeyError) as error:
            if isinstance(error, ValueError) and str(error).startswith(_LIMIT):
                raise
            raise ValueError(
                f"could not render the template: {error} (do the format specs fit the values?)"
            ) from None
        if len(rendered) > MAX_RENDERED_LENGTH:
            raise ValueError(
                f"the rendered template has {len(rendered):,} characters; "
                f"the limit is {MAX_RENDERED_LENGTH:,}"
            )
        return {"output": rendered}


_LIMIT = "format spec"


class _LimitedFormatter(string.Formatter):
    """Refuses widths and precisions that would make huge texts (``{x:999999999}``); nested
    fields (``{x:{width}}``) are expanded before this sees the spec."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        for digits in re.findall(r"\d+", format_spec):
            if int(digits) > MAX_FORMAT_NUMBER:
                raise ValueError(
                    f"{_LIMIT} {format_spec!r} has {digits}, above the limit "
                    f"{MAX_FORMAT_NUMBER:,} for a width or precision"
                )
        return super().format_field(value, format_spec)


def _check_names(template: str, names: set[str]) -> None:
    """Only named placeholders, each a name of the data (no positions, attributes, items)."""
    used = _placeholders(template)
    missing = sorted(used - names)
    if missing:
        raise ValueError(
            f"the template uses {missing}, not keys of data (keys: {sorted(names) or 'none'})"
        )


def _placeholders(template: str) -> set[str]:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"{error} (write {{{{ and }}}} for literal braces)") from None
    found: set[str] = set()
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ValueError("placeholders must be names, e.g. {count}, not positions")
        if "." in name or "[" in name:
            raise ValueError(
                f"no attribute or item access in a placeholder ({{{name}}}): extract the "
                "value with data_operations"
            )
        found.add(name)
        if spec and "{" in spec:
            found |= _placeholders(spec)
    return found


# --- Environment secrets store --------------------------------------------------------------

# Roboflow's switch for hosted servers; "False" there refuses the block here too.
ENVIRONMENT_SWITCH = "ALLOW_WORKFLOW_BLOCKS_ACCESSING_ENVIRONMENTAL_VARIABLES"


class SecretValue(str):
    """A secret read from the environment: the text itself for the blocks that use it, but
    masked wherever a value is shown (repr: errors, logs, debug output)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecretValue('***')"


class EnvironmentSecretsStore(Block):
    """Each environment variable of ``variables_storing_secrets`` as an output named in lower
    case (None when not set), of kind ``secret``.

    Only for trusted documents (``allow_custom_code``): a document from others must not
    read the server's environment. Refused too where Roboflow's switch is off, as on its
    hosted servers: ``ALLOW_WORKFLOW_BLOCKS_ACCESSING_ENVIRONMENTAL_VARIABLES=False``.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/environment_secrets_store@v1"]
        variables_storing_secrets: list[str] = Field(min_length=1)

    outputs: list[Output] = []
    init_parameters = ["allow_custom_code"]
    allow_custom_code: bool = False

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        names = dict.fromkeys(name.lower() for name in manifest.variables_storing_secrets)
        return [Output(name, kinds=["secret"]) for name in names]

    def setup(self, manifest: BlockManifest) -> None:
        _check_environment_access(self.allow_custom_code)

    def run(self, variables_storing_secrets: list[str]) -> dict[str, Any]:
        _check_environment_access(self.allow_custom_code)  # the switch may change after compile
        return {
            name.lower(): None if (value := os.environ.get(name)) is None else SecretValue(value)
            for name in variables_storing_secrets
        }


def _check_environment_access(trusted: bool) -> None:
    switched_off = os.environ.get(ENVIRONMENT_SWITCH, "True").strip().lower() in ("false", "0")
    if trusted and not switched_off:
        return
    why = f"{ENVIRONMENT_SWITCH} is False here"
    if not trusted:
        why = "this document is not trusted (allow_custom_code is off)"
    raise EnvironmentAccessNotAllowedError(
        f"reading environment variables is not allowed: {why}",
        hint="compile the workflow with allow_custom_code=True on a machine you trust, "
        "or give the values as workflow inputs",
    )


BLOCKS: list[type[Block]] = [
    CSVFormatter,
    JSONParser,
    CurrentTime,
    StringTemplate,
    EnvironmentSecretsStore,
]
