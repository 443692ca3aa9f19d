"""Inference steps: a model run on regions, adding a concept to each or finding new regions.

A classification model adds one Text concept to each input region (its best kept label
whose score reaches ``threshold``; the region stays without it when none does). A detection
model makes a new region per kept box, carrying a Text concept with the box's label. All
regions of all images of a batch go to the model in one ``Model.predict`` call.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from visionflow.blocks.api import Batch, BlockManifest
from visionflow.blocks.deepomatic.base import Args, DeepomaticBlock, DeepomaticManifest
from visionflow.blocks.deepomatic.regions import Concept, Region, flatten
from visionflow.data.detections import class_names
from visionflow.errors import ManifestError, ModelError, ModelNotFoundError, WorkflowError
from visionflow.suggestions import close_matches

CLASSIFICATION = ("classification",)
DETECTION = ("object_detection", "keypoints")


class InferenceArgs(Args):
    model_id: str = Field(
        description="a zoo id, a name declared under models:, or a Deepomatic numeric id "
        "mapped to a local model"
    )
    concept_name: str | None = Field(None, description="the concept written (default: step name)")
    concepts: list[str] | None = Field(None, description="the labels to keep (default: all)")
    threshold: float = Field(0.5, ge=0, le=1, description="the least score of a kept label")

    @field_validator("model_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Inference(DeepomaticBlock):
    """Runs a model on the regions of its input (a concept per region, or new regions)."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/inference@v1"]
        args: InferenceArgs

    deepomatic_type = "Inference"
    Args = InferenceArgs
    input_count: ClassVar[tuple[int, int | None]] = (1, 1)
    accepts_batches = True
    init_parameters = ["models"]

    @classmethod
    def produced_concept(cls, args: InferenceArgs, step_name: str) -> tuple[str, str]:
        return (args.concept_name or step_name, "Text")

    def setup(self, manifest: BlockManifest) -> None:
        args = manifest.args
        self.step = manifest.name
        self.concept_name = args.concept_name or manifest.name
        self.keep = set(args.concepts) if args.concepts else None
        self.threshold = args.threshold
        if args.model_id.isdecimal() and not self.models.is_mapped(args.model_id):
            raise _unknown_deepomatic_id(args.model_id)
        try:
            self.model = self.models.get(args.model_id)
        except WorkflowError as error:
            raise error.at("args 'model_id'", within=False) from None
        task = self.model.spec.task
        if task not in CLASSIFICATION + DETECTION:
            raise ModelError(
                f"model '{args.model_id}' is a {task} model; an Inference step runs "
                "classification or detection models",
                place="args 'model_id'",
            )
        self.detects = task in DETECTION
        if args.concepts and self.model.spec.labels:
            check_labels(
                args.concepts,
                self.model.spec.labels,
                f"model '{args.model_id}'",
                "args 'concepts'",
                "its labels",
            )

    def run(self, inputs: list[Batch], **_: Any) -> list[dict[str, list[Region]]]:
        # a list of selectors reaches a batch block as a list of Batch, one per selector
        per_image = [flatten(list(groups)) for groups in zip(*inputs, strict=True)]
        regions = [region for group in per_image for region in group]
        options = {"confidence": self.threshold} if self.detects else {}
        predictions = self.model.predict([r.crop() for r in regions], options) if regions else []
        results = iter(predictions)
        outputs = []
        for group in per_image:
            found = [(region, next(results)) for region in group]
            made = self._detected(found) if self.detects else self._classified(found)
            outputs.append({"regions": made})
        return outputs

    def _classified(self, found: list[tuple[Region, dict]]) -> list[Region]:
        regions = []
        for region, prediction in found:
            kept = [
                {"label": p["class"], "score": p["confidence"]}
                for p in prediction["predictions"]
                if (self.keep is None or p["class"] in self.keep)
                and p["confidence"] >= self.threshold
            ]
            if kept:
                best = kept[0]  # predictions come best first
                region = region.with_concept(
                    Concept(
                        self.concept_name,
                        "Text",
                        best["label"],
                        self.step,
                        best["score"],
                        tuple(kept),
                    )
                )
            regions.append(region)
        return regions

    def _detected(self, found: list[tuple[Region, Any]]) -> list[Region]:
        regions: list[Region] = []
        for parent, detections in found:
            x_offset, y_offset = (parent.box[0], parent.box[1]) if parent.box else (0.0, 0.0)
            labels = class_names(detections)
            for (x1, y1, x2, y2), score, label in zip(
                detections.xyxy.tolist(), detections.confidence.tolist(), labels, strict=True
            ):
                if self.keep is not None and label not in self.keep:
                    continue
                concept = Concept(
                    self.concept_name,
                    "Text",
                    label,
                    self.step,
                    score,
                    ({"label": label, "score": score},),
                )
                regions.append(
                    Region(
                        parent.entry,
                        f"{self.step}#{len(regions)}",
                        parent.image,
                        (x1 + x_offset, y1 + y_offset, x2 + x_offset, y2 + y_offset),
                        created_by=self.step,
                        parent_id=parent.region_id,
                        concepts=(concept,),
                    )
                )
        return regions


def _unknown_deepomatic_id(model_id: str) -> ModelNotFoundError:
    """Deepomatic names a model by its numeric version id, which means nothing here until
    it is mapped to a local model (the three ways a model id is mapped)."""
    return ModelNotFoundError(
        f"Deepomatic model id {model_id} matches no model here",
        place="args 'model_id'",
        hint=f'map it to a local model: under models: ("{model_id}": <zoo id or model file>, '
        "quoted: an unquoted number is no key), "
        f"with --model {model_id}=PATH, or by a model description whose id is {model_id} "
        "in a VISIONFLOW_MODELS folder",
    )


def check_labels(given: list[str], known: list[str], of: str, place: str, listed: str) -> None:
    """A compile error for the first label of ``given`` not in ``known``: a misspelt label
    would silently match nothing."""
    for label in given:
        if label not in known:
            close = close_matches(label, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ManifestError(
                f"'{label}' is not a label of {of}",
                place=place,
                hint=f"{hint}{listed}: {', '.join(known)}",
            )


class MultipleInference(Inference):
    """The same inference on the regions of several inputs; their results in input order."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/multiple_inference@v1"]
        args: InferenceArgs

    deepomatic_type = "MultipleInference"
    input_count: ClassVar[tuple[int, int | None]] = (1, None)
