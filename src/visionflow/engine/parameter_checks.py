"""Parameters checked against the step fields they feed, before any step runs.

A parameter given to a step field must be a value that field accepts written in the
document (Roboflow's engine checks the same): ``confidence: $inputs.c`` with ``c=1.5`` or
``None`` fails the run at input time, naming the parameter, the step and the field, never
somewhere inside a block.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from visionflow.blocks.api import BlockManifest, SelectorInfo
from visionflow.compiler.plan import Plan
from visionflow.errors import RuntimeInputError
from visionflow.kinds import shown_value


@dataclass(frozen=True)
class ParameterCheck:
    parameter: str
    step: str
    field: str
    adapter: TypeAdapter

    def __call__(self, value: Any) -> None:
        try:
            self.adapter.validate_python(value)
        except ValidationError as error:
            reason = error.errors()[0]["msg"]
            raise RuntimeInputError(
                f"parameter '{self.parameter}' is {shown_value(value)}, which field "
                f"'{self.field}' of step '{self.step}' does not accept: {reason}",
                place=f"inputs '{self.parameter}'",
                hint=f"give '{self.parameter}' a value the field takes "
                "(`visionflow blocks TYPE` lists each field's type)",
            ) from None


def parameter_checks(plan: Plan) -> list[ParameterCheck]:
    """One check per step field fed directly by a parameter and able to take a literal."""
    checks = []
    for step in plan.steps.values():
        if type(step.block).__module__ == _IN_DOCUMENT:
            continue  # Roboflow's engine checks no parameter given to an in-document block
        for binding in step.fields:
            selector = binding.selector
            if selector is None or selector.mode != "scalar" or selector.source.origin != "input":
                continue
            adapter = literal_adapter(type(step.manifest), binding.name)
            if adapter is not None:
                checks.append(
                    ParameterCheck(selector.source.name, step.name, binding.name, adapter)
                )
    return checks


# where blocks defined inside a document are built (their manifests, as Roboflow's, are
# made without assignment validation: their value types apply to the document's literals)
_IN_DOCUMENT = "visionflow.blocks.dynamic"


@functools.lru_cache(maxsize=4096)  # bounded: in-document blocks make new manifest classes
def literal_adapter(manifest_class: type[BlockManifest], name: str) -> TypeAdapter | None:
    """A validator of the field's literal values (its type without the selectors); None
    when the field takes selectors only."""
    info = manifest_class.model_fields[name]
    if any(isinstance(meta, SelectorInfo) for meta in info.metadata):
        return None  # a bare Selector(...): there is no literal to compare with
    literal = _without_selectors(info.annotation)
    if literal is None:
        return None
    if info.metadata:  # constraints written on the whole field (e.g. Field(ge=0))
        literal = Annotated[literal, *info.metadata]
    return TypeAdapter(literal)


def _without_selectors(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [option for option in typing.get_args(annotation) if not _is_selector(option)]
        if not kept:
            return None
        return typing.Union[tuple(kept)] if len(kept) > 1 else kept[0]  # noqa: UP007
    return None if _is_selector(annotation) else annotation


def _is_selector(annotation: Any) -> bool:
    metadata = getattr(annotation, "__metadata__", ())
    return any(isinstance(meta, SelectorInfo) for meta in metadata)
