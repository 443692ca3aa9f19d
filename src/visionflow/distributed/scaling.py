"""How a workflow scales on Ray, read from the performance properties of its models.

The same figures that size a model's pool in one process (``min_workers``,
``max_workers``, ``batch_size``, ``max_batch_delay_ms``, ``intra_op_threads``) size the
Ray actors (or Serve replicas) that each hold the whole compiled workflow, so a document
needs no Ray-specific settings; the command line may override each figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from visionflow.blocks.api import Block
from visionflow.errors import RayScalingError

if TYPE_CHECKING:
    from visionflow.models.model import Model
    from visionflow.workflow import Workflow


@dataclass(frozen=True)
class RayScaling:
    """Actors between ``min_actors`` and ``max_actors``, each given batches of up to
    ``batch_size`` elements (a partial batch waits at most ``max_batch_delay_s``) and
    ``num_cpus`` CPUs."""

    min_actors: int
    max_actors: int
    batch_size: int
    max_batch_delay_s: float
    num_cpus: float


# A workflow without models: one actor, the dataset runner's batch of 8 images, no wait.
WITHOUT_MODELS = RayScaling(
    min_actors=1, max_actors=1, batch_size=8, max_batch_delay_s=0.0, num_cpus=1.0
)


def scaling_of(
    workflow: Workflow, *, places: dict[str, str] | None = None, **overrides: Any
) -> RayScaling:
    """The Ray scaling of ``workflow``: the largest figure any of its models asks for
    (each actor runs every model), then ``overrides`` (a ``RayScaling`` field name ->
    value; None keeps the workflow's). An override of only one end of the actor range
    moves the other end if it must; both ends given the wrong way round is an error.
    ``places``: field name -> where the user gave it (a command's flag), for errors.

    >>> scaling_of(workflow, max_actors=4)  # doctest: +SKIP
    RayScaling(min_actors=1, max_actors=4, batch_size=8, max_batch_delay_s=0.0, num_cpus=1.0)
    """
    scaling = _from_models(models_of(workflow))
    given = {name: value for name, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(RayScaling.__dataclass_fields__))
    if unknown:
        raise TypeError(f"scaling_of() got unknown overrides: {', '.join(unknown)}")
    _check(given, places or {})
    scaling = replace(scaling, **given)
    if scaling.min_actors > scaling.max_actors:  # one end given: it wins
        if "min_actors" in given:
            scaling = replace(scaling, max_actors=scaling.min_actors)
        else:
            scaling = replace(scaling, min_actors=scaling.max_actors)
    return scaling


def _from_models(models: list[Model]) -> RayScaling:
    if not models:
        return WITHOUT_MODELS
    specs = [model.spec for model in models]
    return RayScaling(
        min_actors=max(spec.min_workers for spec in specs),
        max_actors=max(spec.max_workers for spec in specs),
        batch_size=max(spec.batch_size for spec in specs),
        max_batch_delay_s=max(spec.max_batch_delay_ms for spec in specs) / 1000,
        num_cpus=float(max(spec.intra_op_threads for spec in specs)),
    )


def _check(given: dict[str, Any], places: dict[str, str]) -> None:
    for name in ("min_actors", "max_actors", "batch_size"):
        if name in given and given[name] < 1:
            raise RayScalingError(
                f"{name.replace('_', ' ')} must be at least 1, found {given[name]}",
                place=places.get(name, name),
            )
    for name in ("max_batch_delay_s", "num_cpus"):
        if name in given and given[name] < 0:
            raise RayScalingError(
                f"{name.replace('_', ' ')} cannot be negative, found {given[name]}",
                place=places.get(name, name),
            )
    if given.get("min_actors", 0) > given.get("max_actors", float("inf")):
        raise RayScalingError(
            f"at least {given['min_actors']} actors cannot be at most {given['max_actors']}",
            place=places.get("min_actors", "min_actors"),
            hint="give a minimum no larger than the maximum",
        )


def models_of(workflow: Workflow) -> list[Model]:
    """The models the workflow's steps loaded when it compiled, each once, in step order."""
    from visionflow.models.model import Model  # models are an optional part: import on use

    found: dict[int, Model] = {}
    for step in workflow.plan.steps.values():
        for model in _held(step.block, Model, depth=0):
            found.setdefault(id(model), model)
    return list(found.values())


def _held(value: Any, model_class: type, depth: int) -> list[Any]:
    """Models a block holds: as attributes, in a dict or list of them, or in a block it
    delegates to (a Roboflow-named step's twin). Bounded: blocks nest at most a level."""
    if isinstance(value, model_class):
        return [value]
    if depth > 2:
        return []
    if isinstance(value, Block):
        items = list(vars(value).values())
    elif isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return []
    return [model for item in items for model in _held(item, model_class, depth + 1)]
