"""PredictionRouter: regions sent to branches by the labels a previous inference predicted.

A region goes to the branch of each ``routing_values`` label that its ``routing_name``
concept predicted (every kept label, or only its best one with ``top_prediction``). Later
steps name a branch as ``<router name>:<label>``; the router's own name means every routed
region. An empty branch is an empty list: the steps after it run on no regions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from visionflow.blocks.api import BlockManifest, Output
from visionflow.blocks.deepomatic.base import Args, DeepomaticBlock, DeepomaticManifest
from visionflow.blocks.deepomatic.inference import check_labels
from visionflow.blocks.deepomatic.regions import REGIONS_KIND, Region, flatten
from visionflow.errors import WorkflowError


class RouterArgs(Args):
    routing_name: str = Field(description="the concept whose labels route the regions")
    routing_values: list[str] = Field(min_length=1, description="one branch per label")
    top_prediction: bool = Field(False, description="route by the best label only")

    @field_validator("routing_values")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("routing_values must not repeat a label")
        return values


class LabelSource(BaseModel):
    """An Inference step upstream that writes the concept routed by: its labels are the
    model's, or the ones it keeps (``concepts``)."""

    step: str
    model_id: str
    concepts: list[str] | None = None


def known_labels(models: Any, sources: list[LabelSource]) -> list[str]:
    """The labels a concept can have, from the models that write it; none when one
    source's are not known (then nothing is checked)."""
    labels: list[str] = []
    for source in sources:
        try:
            known = source.concepts or models.spec(source.model_id)[0].labels
        except WorkflowError:  # an unknown model: its Inference step reports it
            return []
        if not known:
            return []
        labels += [label for label in known if label not in labels]
    return labels


def branch_output(position: int) -> str:
    """The native output of the branch of ``routing_values[position]``."""
    return f"branch_{position}"


class PredictionRouter(DeepomaticBlock):
    """Splits regions into one branch per label of a previous inference's concept."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/prediction_router@v1"]
        args: RouterArgs
        # Set by the dialect when every step writing the concept routed by is an Inference.
        label_sources: list[LabelSource] = Field(default_factory=list)

    deepomatic_type = "PredictionRouter"
    Args = RouterArgs
    input_count: ClassVar[tuple[int, int | None]] = (1, 1)
    init_parameters = ["models"]

    @classmethod
    def concepts_read(cls, args: RouterArgs) -> list[tuple[str, str, str | None]]:
        return [("routing_name", args.routing_name, "Text")]

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        branches = [
            Output(branch_output(position), kinds=[REGIONS_KIND])
            for position in range(len(manifest.args.routing_values))
        ]
        return [*cls.outputs, *branches]

    def setup(self, manifest: BlockManifest) -> None:
        labels = known_labels(self.models, manifest.label_sources)
        if labels:
            steps = [f"'{source.step}'" for source in manifest.label_sources]
            sources = f"{'step' if len(steps) == 1 else 'steps'} {', '.join(steps)}"
            check_labels(
                manifest.args.routing_values,
                labels,
                f"concept '{manifest.args.routing_name}'",
                "args 'routing_values'",
                f"the labels {sources} can give it",
            )

    def run(self, inputs: list[list[Region]], args: RouterArgs, **_: Any) -> dict[str, Any]:
        regions = flatten(inputs)
        result: dict[str, Any] = {}
        routed: set[str] = set()
        for position, label in enumerate(args.routing_values):
            branch = [r for r in regions if _predicts(r, args.routing_name, label, args)]
            result[branch_output(position)] = branch
            routed.update(r.region_id for r in branch)
        result["regions"] = [r for r in regions if r.region_id in routed]  # in input order
        return result


def _predicts(region: Region, concept_name: str, label: str, args: RouterArgs) -> bool:
    concept = region.concept(concept_name)
    if concept is None:
        return False
    if args.top_prediction or not concept.predictions:
        return concept.value == label
    return any(p.get("label") == label for p in concept.predictions)
