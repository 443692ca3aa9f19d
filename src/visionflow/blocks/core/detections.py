"""Detection post-processing: filtering, Roboflow's operation chains on detections, and
classes replaced by per-crop classifications."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import PrivateAttr, model_validator

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import (
    check_expression,
    check_parameter_names,
    evaluate,
    exactly_one,
    roboflow_operations,
)
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.data.detections import CLASS_NAME, class_names, detection_ids
from visionflow.errors import ExpressionError, ExpressionEvaluationError

DETECTION_VARIABLES = {
    "class_name",
    "class_id",
    "confidence",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "width",
    "height",
    "area",
}


class DetectionsTransformation(Block):
    """Roboflow's operation chain (``operations``) applied to detections, giving detections.

    ``operations_parameters`` are the names the chain's operands and fields read, e.g.
    ``[{type: DetectionsFilter, filter_operation: ...}, {type: SortDetections, ...}]``
    (docs/guide/roboflow-operations.md).
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "roboflow_core/detections_transformation@v1",
            "DetectionsTransformation",
            "visionflow/detections_transformation@v1",
        ]
        predictions: Selector(kinds=DETECTION_KINDS)
        operations: list[Any]
        operations_parameters: dict[str, Selector() | Any] = {}
        _chain: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _operations_compile(self):
            self._chain = compile_chain(self.operations, self.operations_parameters)
            return self

    outputs = [Output("predictions", kinds=DETECTION_KINDS)]
    _chain: Any = None

    def setup(self, manifest: BlockManifest) -> None:
        self._chain = manifest._chain

    def run(self, predictions: Any, operations_parameters: dict[str, Any], **_: Any) -> dict:
        return {"predictions": run_chain(self._chain, predictions, operations_parameters)}


def compile_chain(operations: list[Any], parameters: dict[str, Any]) -> Any:
    """The chain compiled once, reading only the names ``parameters`` gives."""
    check_parameter_names(parameters, "operations_parameters")
    return roboflow_operations(operations, "operations", parameters)


def run_chain(chain: Any, predictions: Any, parameters: dict[str, Any]) -> Any:
    import supervision as sv

    found = chain(predictions, parameters)
    if not isinstance(found, sv.Detections):  # the chain must keep detections detections
        raise ExpressionEvaluationError(
            f"the operations turned detections into {type(found).__name__}",
            place="operations",
            hint="end the chain with an operation that gives detections "
            "(PropertyDefinition extracts values)",
        )
    return found


class DetectionsFilter(Block):
    """Keeps the detections for which ``condition`` is true.

    The condition sees each detection's ``class_name``, ``class_id``, ``confidence``,
    ``x_min``, ``y_min``, ``x_max``, ``y_max``, ``width``, ``height``, ``area``, plus
    the names in ``data``. Example: ``confidence > 0.5 and class_name in ["car", "bus"]``.
    Or, as Roboflow writes it, ``operations`` (a chain giving detections, usually one
    ``DetectionsFilter`` operation) with ``operations_parameters``.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/detections_filter@v1",
            "DetectionsFilter",
            "roboflow_core/detections_filter@v1",
        ]
        predictions: Selector(kinds=DETECTION_KINDS)
        condition: str | None = None
        data: dict[str, Selector() | Any] = {}
        operations: list[Any] | None = None
        operations_parameters: dict[str, Selector() | Any] = {}
        _chain: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _condition_compiles(self):
            chosen = exactly_one(
                {"condition": self.condition, "operations": self.operations},
                condition={"data": self.data},
                operations={"operations_parameters": self.operations_parameters},
            )
            if chosen == "condition":
                check_expression(self.condition, DETECTION_VARIABLES | set(self.data), "condition")
            else:
                self._chain = compile_chain(self.operations, self.operations_parameters)
            return self

    outputs = [Output("predictions", kinds=DETECTION_KINDS)]
    _chain: Any = None

    def setup(self, manifest: BlockManifest) -> None:
        self._chain = manifest._chain

    def run(
        self,
        predictions: Any,
        condition: str | None,
        data: dict[str, Any],
        operations_parameters: dict[str, Any],
        **_: Any,
    ) -> dict[str, Any]:
        if self._chain is not None:
            return {"predictions": run_chain(self._chain, predictions, operations_parameters)}
        names = class_names(predictions)
        keep = np.zeros(len(predictions), dtype=bool)
        for position, (x1, y1, x2, y2) in enumerate(predictions.xyxy.tolist()):
            variables = {
                **data,
                "class_name": names[position] if names else None,
                "class_id": _item(predictions.class_id, position),
                "confidence": _item(predictions.confidence, position),
                "x_min": x1,
                "y_min": y1,
                "x_max": x2,
                "y_max": y2,
                "width": x2 - x1,
                "height": y2 - y1,
                "area": (x2 - x1) * (y2 - y1),
            }
            keep[position] = bool(evaluate(condition, variables))
        return {"predictions": predictions[keep]}


CLASSIFICATION = "classification_prediction"
CLASSIFICATION_FILTER = "ClassificationFilter"


class DetectionsFilterV2(DetectionsFilter):
    """Roboflow's Detections Filter v2: v1 for detections, and classification predictions
    filtered one class at a time by a ``ClassificationFilter`` operation, keeping their
    shape (single-label: ``predictions``, ``top``, ``confidence`` recomputed; multi-label:
    ``predicted_classes`` filtered). docs/guide/roboflow-operations.md.
    """

    class Manifest(DetectionsFilter.Manifest):
        type: Literal["roboflow_core/detections_filter@v2"]
        predictions: Selector(kinds=[*DETECTION_KINDS, CLASSIFICATION])

        @model_validator(mode="after")
        def _one_family(self):
            types = {
                operation.get("type")
                for operation in self.operations or []
                if isinstance(operation, dict)
            }
            if {"DetectionsFilter", CLASSIFICATION_FILTER} <= types:
                raise ExpressionError(
                    "DetectionsFilter and ClassificationFilter cannot be mixed in one chain",
                    place="field 'operations'",
                    hint="filter detections or classification predictions, one per step",
                )
            return self

    outputs = [Output("predictions", kinds=[*DETECTION_KINDS, CLASSIFICATION])]

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        if _classifies(manifest.operations):
            return [Output("predictions", kinds=[CLASSIFICATION])]
        return [Output("predictions", kinds=DETECTION_KINDS)]

    def setup(self, manifest: BlockManifest) -> None:
        super().setup(manifest)
        self._classifies = _classifies(manifest.operations)

    def run(self, predictions: Any, **fields: Any) -> dict[str, Any]:
        if self._classifies:
            return {"predictions": self._chain(predictions, fields["operations_parameters"])}
        if isinstance(predictions, dict):
            raise ExpressionEvaluationError(
                "classification predictions need a ClassificationFilter operation",
                place="field 'predictions'",
                hint="filter them with operations: [{type: ClassificationFilter, ...}]",
            )
        return super().run(predictions, **fields)


def _classifies(operations: list[Any] | None) -> bool:
    return any(
        isinstance(operation, dict) and operation.get("type") == CLASSIFICATION_FILTER
        for operation in operations or []
    )


class DetectionsClassesReplacement(Block):
    """Replaces each detection's class with the top class of its crop's classification.

    ``classification_predictions`` are made per crop (one level deeper); each is matched
    to the detection its crop came from. Detections whose crop has no classification (or a
    single-label one with no top class) are dropped, unless ``fallback_class_name`` is
    given; as in Roboflow's engine, a multi-label one that predicted no class drops its
    detection even then.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/detections_classes_replacement@v1",
            "DetectionsClassesReplacement",
            "roboflow_core/detections_classes_replacement@v1",
        ]
        object_detection_predictions: Selector(kinds=DETECTION_KINDS)
        classification_predictions: Selector(kinds=["classification_prediction"])
        fallback_class_name: str | None = None
        fallback_class_id: int = -1

    outputs = [Output("predictions", kinds=DETECTION_KINDS)]
    input_dimensionality_offsets = {"classification_predictions": 1}
    accepts_empty = True  # as Roboflow's: no crops (or none classified) is no detections

    def run(
        self,
        object_detection_predictions: Any,
        classification_predictions: Batch | None,
        fallback_class_name: str | None,
        fallback_class_id: int,
    ) -> dict[str, Any]:
        detections = object_detection_predictions
        if detections is None:  # masked out upstream
            return {"predictions": None}
        if not classification_predictions:  # no crops at all: Roboflow gives no detections
            return {"predictions": detections[np.zeros(0, dtype=int)]}
        by_parent = {str(c.get("parent_id")): c for c in classification_predictions if c}
        # by position only a classification naming no parent: one that names another
        # detection must never label this one (its own was masked out)
        by_position = {
            index[-1]: c
            for index, c in classification_predictions.items()
            if c and c.get("parent_id") is None
        }
        keep, names, ids, confidences = [], [], [], []
        fallback = (
            None if fallback_class_name is None else (fallback_class_name, fallback_class_id, 0.0)
        )
        for position, detection_id in enumerate(detection_ids(detections)):
            found = by_parent.get(detection_id) or by_position.get(position)
            top = _top(found, fallback) if found else fallback
            if top is None:
                continue
            keep.append(position)
            names.append(top[0])
            ids.append(top[1])
            confidences.append(top[2])
        replaced = detections[np.array(keep, dtype=int)]
        replaced.class_id = np.array(ids, dtype=int)
        replaced.confidence = np.array(confidences, dtype=float)
        replaced.data[CLASS_NAME] = np.array(names, dtype=object)
        return {"predictions": replaced}


def _top(
    classification: dict, fallback: tuple[str, int, float] | None
) -> tuple[str, int, float] | None:
    """(class, class id, confidence) a classification gives its detection, as Roboflow's
    block reads it: single-label, its top class (none: ``fallback``); multi-label, its most
    confident class, when it predicted any (none: the detection is dropped). Both forms of
    ``predictions``: visionflow's list of ``{class, class_id, confidence}`` and Roboflow's
    multi-label mapping ``{class: {class_id, confidence}}``."""
    scores = _class_scores(classification.get("predictions"))
    if "top" in classification:
        if not classification["top"] or not scores:
            return fallback
        name = classification["top"]
        class_id = classification.get("class_id")
        if class_id is None:  # Roboflow's form: the id is in the class's entry
            class_id = next((i for n, i, _ in scores if n == name), -1)
        return name, int(class_id), float(classification["confidence"])
    if not classification.get("predicted_classes") or not scores:
        return None
    name, class_id, confidence = max(scores, key=lambda score: score[2])
    return (name, int(class_id), float(confidence)) if confidence else None


def _class_scores(predictions: Any) -> list[tuple[str, int, float]]:
    """(class, class id, confidence) of each class of a classification's ``predictions``."""
    if isinstance(predictions, dict):
        entries = [{"class": name, **entry} for name, entry in predictions.items()]
    else:
        entries = list(predictions or [])
    return [(e["class"], e.get("class_id", -1), e["confidence"]) for e in entries]


def _item(array, position: int) -> Any:
    return None if array is None else array[position].item()


class DetectionsStitch(Block):
    """Detections made on crops, gathered into one set in the coordinates of ``images``.

    ``predictions`` are one level deeper than ``images`` (e.g. pose landmarks per person
    crop); they are moved into the image's coordinates and merged.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/detections_stitch@v1", "DetectionsStitch"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS)

    outputs = [Output("predictions", kinds=DETECTION_KINDS)]
    input_dimensionality_offsets = {"predictions": 1}

    def run(self, images: Any, predictions: Batch) -> dict[str, Any]:
        import supervision as sv

        from visionflow.data.detections import attach_image_metadata, to_root_coordinates

        moved = [to_root_coordinates(found) for found in predictions if len(found)]
        if not moved:
            return {"predictions": attach_image_metadata(sv.Detections.empty(), images)}
        merged = sv.Detections.merge(moved)
        shift = np.array([images.origin.offset_x, images.origin.offset_y] * 2, dtype=float)
        merged.xyxy = merged.xyxy - shift
        for points in ("keypoints_xy", "quad"):  # (N, points, 2), moved as the boxes are
            if (found := merged.data.get(points)) is not None:
                merged.data[points] = found - shift[:2].astype(found.dtype)
        if merged.mask is not None:  # root-sized masks: the part under this image
            x, y = images.origin.offset_x, images.origin.offset_y
            merged.mask = merged.mask[:, y : y + images.height, x : x + images.width]
        ids = merged.data.get("detection_id")
        return {
            "predictions": attach_image_metadata(merged, images)
            if ids is None
            else _keep_ids(attach_image_metadata(merged, images), ids)
        }


def _keep_ids(detections: Any, ids: np.ndarray) -> Any:
    detections.data["detection_id"] = ids
    return detections
