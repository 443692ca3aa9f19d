"""The canonical Definition every dialect produces and the compiler consumes."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

MAX_NAME = 256  # characters of a name (input, step, output): names are read, not written

INPUT_TYPE_ALIASES = {
    "image": "image",
    "WorkflowImage": "image",
    "InferenceImage": "image",
    "parameter": "parameter",
    "WorkflowParameter": "parameter",
    "InferenceParameter": "parameter",
    "batch": "batch",
    "WorkflowBatchInput": "batch",
    "WorkflowInstanceSegmentation": "batch",
    "WorkflowVideoMetadata": "batch",
}

# Roboflow's typed batch inputs: a batch whose kind the type name says.
TYPED_BATCH_KINDS = {
    "WorkflowInstanceSegmentation": ["instance_segmentation_prediction"],
    "WorkflowVideoMetadata": ["video_metadata"],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputDefinition(_Strict):
    """A workflow input: images and batches are batch-oriented, parameters are scalars."""

    type: Literal["image", "parameter", "batch"]
    name: str = Field(min_length=1, max_length=MAX_NAME)
    kind: list[str] = Field(default_factory=lambda: ["*"])
    default_value: Any = None
    dimensionality: int = Field(default=1, ge=1, le=4)

    @model_validator(mode="before")
    @classmethod
    def _typed_batch_kind(cls, data: Any) -> Any:
        typed = data.get("type") if isinstance(data, dict) else None
        if isinstance(typed, str) and typed in TYPED_BATCH_KINDS and "kind" not in data:
            return {**data, "kind": TYPED_BATCH_KINDS[typed]}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_type(cls, value: Any) -> Any:
        return INPUT_TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def is_batch_oriented(self) -> bool:
        return self.type != "parameter"

    @functools.cached_property  # read for every element of every run
    def kinds(self) -> frozenset[str]:
        return frozenset(["image"]) if self.type == "image" else frozenset(self.kind)


class OutputDefinition(_Strict):
    """One entry of each result dict: ``name`` <- the value a selector points at."""

    type: Literal["JsonField"] = "JsonField"
    name: str = Field(min_length=1, max_length=MAX_NAME)
    selector: str
    coordinates_system: Literal["own", "parent"] = "parent"


def _short_name(step: dict[str, Any]) -> dict[str, Any]:
    name = step.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME:
        raise ValueError(f"a step name has at most {MAX_NAME} characters, found {len(name):,}")
    return step


class Definition(_Strict):
    """A whole workflow: inputs, steps (raw dicts, parsed by their blocks), outputs."""

    version: str = "1.0"
    inputs: list[InputDefinition] = Field(default_factory=list)
    steps: list[Annotated[dict[str, Any], AfterValidator(_short_name)]] = Field(
        default_factory=list
    )
    outputs: list[OutputDefinition] = Field(default_factory=list)
    models: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    dynamic_blocks_definitions: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value
