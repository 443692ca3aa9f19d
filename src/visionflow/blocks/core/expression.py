"""Computing values: an expression over named values, or a named property of one value."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import check_expression, evaluate
from visionflow.expressions import PROPERTIES, extract_property
from visionflow.kinds import WILDCARD


class Expression(Block):
    """The value of ``expression`` over the names in ``data``.

    Example: ``expression: "count(people) * price"`` with
    ``data: {people: $steps.detect.predictions, price: $inputs.price}``.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/expression@v1", "Expression"]
        expression: str
        data: dict[str, Selector() | Any] = {}
        output_kinds: list[str] = Field(default_factory=lambda: [WILDCARD])

        @model_validator(mode="after")
        def _expression_compiles(self):
            check_expression(self.expression, set(self.data), "expression")
            return self

    outputs = [Output("output")]

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        return [Output("output", kinds=manifest.output_kinds)]

    def run(self, expression: str, data: dict[str, Any], output_kinds: list[str]) -> dict[str, Any]:
        return {"output": evaluate(expression, data)}


# What each property gives, so the compiler can check what a PropertyDefinition feeds.
_PROPERTY_KINDS: dict[str, list[str]] = {
    "count": ["integer"],
    "is_empty": ["boolean"],
    "width": ["integer"],
    "height": ["integer"],
    "aspect_ratio": ["float"],
    "image_size": ["dict"],
    "image_id": ["string"],
    "top_class": ["string"],
    "top_confidence": ["float"],
    "mean": ["float"],
    **{
        name: ["list"]
        for name in (
            "areas",
            "boxes",
            "xyxy",
            "centers",
            "class_ids",
            "class_names",
            "confidences",
            "detection_ids",
            "heights",
            "widths",
            "keypoints",
            "predicted_classes",
            "unique",
        )
    },
}


class PropertyDefinition(Block):
    """A named property of a value: ``count``, ``class_names``, ``confidences``, ``image_size``...

    ``property`` may be a list to chain properties: ``[class_names, unique]``.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/property_definition@v1", "PropertyDefinition"]
        data: Selector()
        property: str | list[str]

        @field_validator("property")
        @classmethod
        def _known_properties(cls, value: str | list[str]) -> str | list[str]:
            if not value:
                raise ValueError("name a property (or a list of at least one)")
            for name in [value] if isinstance(value, str) else value:
                if name not in PROPERTIES:
                    known = ", ".join(sorted(PROPERTIES))
                    raise ValueError(f"unknown property '{name}'; known properties: {known}")
            return value

    outputs = [Output("output")]

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        chain = [manifest.property] if isinstance(manifest.property, str) else manifest.property
        kinds = _PROPERTY_KINDS.get(chain[-1], [WILDCARD])  # first/last/min/max/sum: any
        return [Output("output", kinds=kinds)]

    def run(self, data: Any, property: str | list[str]) -> dict[str, Any]:
        for name in [property] if isinstance(property, str) else property:
            data = extract_property(data, name)
        return {"output": data}
