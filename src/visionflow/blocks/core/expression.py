"""Computing values: an expression over named values, or a named property of one value."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import (
    check_expression,
    evaluate,
    exactly_one,
    roboflow_operations,
    roboflow_switch,
)
from visionflow.expressions import PROPERTIES, extract_property
from visionflow.kinds import WILDCARD


class Expression(Block):
    """The value of ``expression`` over the names in ``data``.

    Example: ``expression: "count(people) * price"`` with
    ``data: {people: $steps.detect.predictions, price: $inputs.price}``. Or, as Roboflow
    writes it, a ``switch`` (a CasesDefinition) over ``data``, each name first passed
    through its chain in ``data_operations`` (docs/guide/roboflow-operations.md).
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/expression@v1", "Expression", "roboflow_core/expression@v1"]
        expression: str | None = None
        data: dict[str, Selector() | Any] = {}
        data_operations: dict[str, list[Any]] = {}
        switch: dict[str, Any] | None = None
        output_kinds: list[str] = Field(default_factory=lambda: [WILDCARD])
        _compiled: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _expression_compiles(self):
            chosen = exactly_one(
                {"expression": self.expression, "switch": self.switch},
                switch={"data_operations": self.data_operations},
            )
            if chosen == "expression":
                check_expression(self.expression, set(self.data), "expression")
            else:  # compiled once; names not in data are errors now
                self._compiled = roboflow_switch(self.switch, self.data_operations, self.data)
            return self

    outputs = [Output("output")]
    _compiled: Any = None

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        return [Output("output", kinds=manifest.output_kinds)]

    def setup(self, manifest: BlockManifest) -> None:
        self._compiled = manifest._compiled

    def run(self, expression: str | None, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if self._compiled is None:
            return {"output": evaluate(expression, data)}
        operations, switch = self._compiled
        variables = dict(data)
        for name, chain in operations.items():
            variables[name] = chain(variables[name])  # as Roboflow: no parameters given
        return {"output": switch(variables)}


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

    ``property`` may be a list to chain properties: ``[class_names, unique]``. Or, as
    Roboflow writes it, ``operations``: a chain of Roboflow operations applied to ``data``
    (docs/guide/roboflow-operations.md).
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/property_definition@v1",
            "PropertyDefinition",
            "roboflow_core/property_definition@v1",
        ]
        data: Selector()
        property: str | list[str] | None = None
        operations: list[Any] | None = None
        _chain: Any = PrivateAttr(default=None)

        @field_validator("property")
        @classmethod
        def _known_properties(cls, value: str | list[str] | None) -> str | list[str] | None:
            if value is None:
                return value
            if not value:
                raise ValueError("name a property (or a list of at least one)")
            for name in [value] if isinstance(value, str) else value:
                if name not in PROPERTIES:
                    known = ", ".join(sorted(PROPERTIES))
                    raise ValueError(f"unknown property '{name}'; known properties: {known}")
            return value

        @model_validator(mode="after")
        def _operations_compile(self):
            chosen = exactly_one({"property": self.property, "operations": self.operations})
            if chosen == "operations":  # Roboflow runs the chain with no parameters
                self._chain = roboflow_operations(self.operations, "operations", ())
            return self

    outputs = [Output("output")]
    _chain: Any = None

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        if manifest.property is None:
            return [Output("output")]  # what an operation chain gives is known when run
        chain = [manifest.property] if isinstance(manifest.property, str) else manifest.property
        kinds = _PROPERTY_KINDS.get(chain[-1], [WILDCARD])  # first/last/min/max/sum: any
        return [Output("output", kinds=kinds)]

    def setup(self, manifest: BlockManifest) -> None:
        self._chain = manifest._chain

    def run(self, data: Any, property: str | list[str] | None, **_: Any) -> dict[str, Any]:
        if self._chain is not None:
            return {"output": self._chain(data)}
        for name in [property] if isinstance(property, str) else property:
            data = extract_property(data, name)
        return {"output": data}
