"""Request and response bodies, with the examples /docs shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXAMPLE_WORKFLOW = {
    "inputs": [
        {"type": "image", "name": "image"},
        {"type": "parameter", "name": "ratio", "kind": ["float"], "default_value": 0.5},
    ],
    "steps": [
        {
            "type": "RelativeStaticCrop",
            "name": "centre",
            "images": "$inputs.image",
            "x_center": 0.5,
            "y_center": 0.5,
            "width": "$inputs.ratio",
            "height": 0.5,
        },
        {
            "type": "PropertyDefinition",
            "name": "width",
            "data": "$steps.centre.crops",
            "property": "width",
        },
    ],
    "outputs": [{"type": "JsonField", "name": "width", "selector": "$steps.width.output"}],
}
# a 2x2 PNG: enough for the example to run as it is from /docs
EXAMPLE_IMAGE = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVQIHWP8//8/IxAwgAEAJBoDA5ru"
    "wb0AAAAASUVORK5CYII="
)
ERROR_EXAMPLE = {
    "code": "invalid_selector",
    "place": "steps[1] 'width' field 'data'",
    "message": "selector '$steps.center.crops' points at no step named 'center'",
    "hint": "did you mean 'centre'?",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowSource(_Body):
    """A workflow: given inline (``workflow``, any dialect) or by registered ``name``."""

    workflow: dict[str, Any] | str | None = Field(
        None, description="The document: a JSON object, or JSON/YAML text."
    )
    name: str | None = Field(None, description="A registered workflow's name.")
    version: int | None = Field(None, description="A registered version (default: newest).")
    dialect: str | None = Field(
        None, description="native, deepomatic or functional (default: detected)."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"workflow": EXAMPLE_WORKFLOW}, {"name": "centre-width", "version": 1}]
        },
    )

    @model_validator(mode="after")
    def _one_source(self) -> WorkflowSource:
        if (self.workflow is None) == (self.name is None):
            raise ValueError("give either 'workflow' (a document) or 'name' (a registered one)")
        if self.name is not None and self.dialect is not None:
            raise ValueError("'dialect' goes with an inline 'workflow', not with 'name'")
        if self.version is not None and self.name is None:
            raise ValueError("'version' goes with 'name'")
        return self


class RunRequest(WorkflowSource):
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Input values by name. Images: base64 text, or "
        '{"type": "base64" | "url" | "file", "value": ...} (url and file only where the '
        "server allows them); a list is a batch.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"workflow": EXAMPLE_WORKFLOW, "inputs": {"image": EXAMPLE_IMAGE, "ratio": 0.5}},
                {"name": "centre-width", "inputs": {"image": [EXAMPLE_IMAGE, EXAMPLE_IMAGE]}},
            ]
        },
    )


class RunResponse(BaseModel):
    outputs: list[dict[str, Any]] = Field(
        description="One dict per input element, serialised as the engine defines "
        "(images as base64 with their origin, detections as JSON, arrays as lists)."
    )
    workflow: dict[str, Any] | None = Field(
        None, description="The registered workflow that ran: name and version."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"outputs": [{"width": 2}]}]})


class ValidateResponse(BaseModel):
    valid: bool
    inputs: dict[str, dict[str, Any]] | None = None
    outputs: dict[str, dict[str, Any]] | None = None
    error: dict[str, Any] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid": True,
                    "inputs": {
                        "image": {
                            "type": "image",
                            "kinds": ["image"],
                            "has_default": False,
                            "default_value": None,
                            "dimensionality": 1,
                        }
                    },
                    "outputs": {
                        "width": {
                            "selector": "$steps.width.output",
                            "kinds": ["integer"],
                            "dimensionality": 1,
                        }
                    },
                },
                {"valid": False, "error": ERROR_EXAMPLE},
            ]
        }
    )


class GraphResponse(BaseModel):
    nodes: list[dict[str, Any]] = Field(
        description="Inputs ($inputs.x), steps ($steps.s) and outputs ($outputs.o)."
    )
    edges: list[dict[str, Any]] = Field(
        description="data edges (a selector, the field it feeds, its kinds) and control "
        "edges (a flow-control step choosing its target)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "nodes": [
                        {
                            "id": "$inputs.image",
                            "type": "input",
                            "name": "image",
                            "input_type": "image",
                            "kinds": ["image"],
                            "dimensionality": 1,
                        },
                        {
                            "id": "$steps.centre",
                            "type": "step",
                            "name": "centre",
                            "block_type": "RelativeStaticCrop",
                            "outputs": {"crops": ["image"]},
                            "dimensionality": 1,
                            "output_dimensionality": 1,
                            "flow_control": False,
                        },
                    ],
                    "edges": [
                        {
                            "source": "$inputs.image",
                            "target": "$steps.centre",
                            "type": "data",
                            "selector": "$inputs.image",
                            "field": "images",
                            "output": None,
                            "kinds": ["image"],
                        }
                    ],
                }
            ]
        }
    )


class RegisterRequest(_Body):
    name: str = Field(description="Letters, digits, '_', '-', '.'; starts with a letter or digit.")
    workflow: dict[str, Any] | str
    dialect: str | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "centre-width", "workflow": EXAMPLE_WORKFLOW}]},
    )


class VersionRequest(_Body):
    workflow: dict[str, Any] | str
    dialect: str | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"workflow": EXAMPLE_WORKFLOW}]}
    )


class StoredWorkflow(BaseModel):
    name: str
    version: int
    dialect: str | None
    file: str
    modified: float = Field(description="The file's modification time (seconds since 1970).")
    versions: list[int] | None = None
    document: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: dict[str, Any] = Field(json_schema_extra={"example": ERROR_EXAMPLE})


def example(value: Any, media_type: str = "application/json") -> dict[int, dict[str, Any]]:
    """OpenAPI ``responses`` for an endpoint that needs only the key: its 200 example, 401."""
    return {
        200: {"content": {media_type: {"example": value}}},
        401: {"model": ErrorResponse, "description": "Missing or wrong API key"},
    }


KIND_EXAMPLE = {"name": "image", "description": "An image (BGR pixels with its origin)."}
DESCRIBE_EXAMPLE = {
    "blocks": [{"type": "visionflow/relative_static_crop@v1", "aliases": ["RelativeStaticCrop"]}],
    "kinds": [KIND_EXAMPLE],
    "dialects": ["deepomatic", "functional", "native"],
    "definition_schema": {"title": "Definition", "type": "object"},
}
WORKFLOWS_EXAMPLE = {
    "workflows": [
        {
            "name": "centre-width",
            "version": 2,
            "dialect": None,
            "file": "2.json",
            "modified": 1767225600.0,
            "versions": [1, 2],
        }
    ]
}
METRICS_EXAMPLE = (
    "# TYPE visionflow_runs_total counter\n"
    'visionflow_runs_total{outcome="ok",workflow="centre-width"} 12.0\n'
)

ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in [
        (400, "Malformed JSON"),
        (401, "Missing or wrong API key"),
        (403, "Custom code, URL or server path not allowed"),
        (404, "Unknown workflow name or version"),
        (413, "Request, image or batch too large"),
        (422, "Compile error, wrong inputs, or a failing step (named)"),
        (503, "A model's queue is full, or every loaded model is busy: retry"),
    ]
}


def parse_form_request(text: str) -> RunRequest:
    """The ``request`` field of a multipart run, with the errors a JSON body would give."""
    from pydantic import ValidationError

    from visionflow.server.errors import MalformedJsonError, request_error_from

    try:
        return RunRequest.model_validate_json(text or "{}")
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise MalformedJsonError(
                f"form field 'request' is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                place="form field 'request'",
                hint='send the run request as JSON: {"workflow": ..., "inputs": {...}}',
            ) from None
        problems = [{**p, "loc": ("request", *p["loc"])} for p in error.errors()]
        raise request_error_from(problems) from None
