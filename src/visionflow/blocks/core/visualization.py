"""Drawing predictions on images (supervision's annotators) for people to look at."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.core.detections import _top
from visionflow.blocks.core.skeletons import SKELETONS, Skeleton, skeleton_for
from visionflow.data.detections import (
    KEYPOINTS_CLASS_NAME,
    KEYPOINTS_CONFIDENCE,
    KEYPOINTS_XY,
    QUAD,
    class_names,
    detection_ids,
)
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

EDGE_HEX = "#FFD400"  # skeleton lines and iris circles: a yellow seen on most pictures
DENSE_POINTS = 100  # more keypoints than this (a face mesh): small dots under the lines


class DrawDetections(Block):
    """A copy of ``images`` with the predictions drawn: boxes (or the quadrilaterals of
    text detections, ``data["quad"]``), translucent masks, labels (class and confidence)
    and keypoints, joined by their skeleton's lines when the keypoint names are a known
    skeleton's (MediaPipe pose, hand, face mesh contours; iris circles).

    ``classifications`` adds lines to each detection's label: a mapping from a name to
    classifications made on the detections' crops (one level deeper, e.g.
    ``{fer: $steps.fer.predictions}``), drawn as ``fer: happy 0.91``. ``predictions`` must
    be in the image's own coordinates (use DetectionsStitch for detections made on crops).
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/draw_detections@v1", "DrawDetections"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS)
        labels: bool = True
        keypoints: bool = True
        keypoint_confidence: float = 0.5
        skeleton: Literal["auto", "none", *SKELETONS] = "auto"  # type: ignore[valid-type]
        masks: bool = True
        mask_opacity: float = Field(0.5, ge=0, le=1)
        classifications: dict[str, Selector(kinds=["classification_prediction"])] = Field(
            default_factory=dict
        )
        thickness: int = Field(2, ge=1)  # pixels: OpenCV draws no thinner line

    outputs = [Output("image", kinds=["image"])]
    input_dimensionality_offsets = {"classifications": 1}

    def run(
        self,
        images: WorkflowImage,
        predictions: Any,
        labels: bool,
        keypoints: bool,
        keypoint_confidence: float,
        skeleton: str,
        masks: bool,
        mask_opacity: float,
        classifications: dict[str, Batch],
        thickness: int,
    ) -> dict[str, Any]:
        import supervision as sv

        scene = images.numpy.copy()
        if predictions.class_id is None and len(predictions):
            # boxes read without classes (e.g. from JSON): supervision colours by class id
            predictions = predictions[np.arange(len(predictions))]  # a copy to change
            predictions.class_id = np.zeros(len(predictions), dtype=int)
        if masks and predictions.mask is not None and len(predictions):
            _check_masks(predictions.mask, images)
            scene = sv.MaskAnnotator(opacity=mask_opacity).annotate(scene, predictions)
        if QUAD in predictions.data:
            scene = _draw_quads(scene, predictions, thickness)
        else:
            scene = sv.BoxAnnotator(thickness=thickness).annotate(scene, predictions)
        if keypoints and KEYPOINTS_XY in predictions.data and len(predictions):
            chosen = _skeleton(predictions, skeleton)
            scene = _draw_keypoints(scene, predictions, chosen, keypoint_confidence, thickness)
        if labels and len(predictions):
            scale = max(0.4, min(images.width, images.height) / 800)
            texts = _label_texts(predictions, classifications)
            # smart_position: a label that would leave the picture (a box at its top edge,
            # as a selfie mask's is) is moved inside it, and labels do not cover each other
            annotator = sv.LabelAnnotator(text_scale=scale, text_thickness=1, smart_position=True)
            scene = annotator.annotate(scene, predictions, labels=texts)
        return {"image": WorkflowImage(scene, parent_id=images.image_id, origin=images.origin)}


def _check_masks(masks: np.ndarray, image: WorkflowImage) -> None:
    """Masks of another size than the image were made on another image: supervision would
    paint them misplaced (cut or stretched into the corner), so they are refused."""
    if tuple(masks.shape[1:]) != (image.height, image.width):
        raise RuntimeInputError(
            f"the masks are {masks.shape[2]}x{masks.shape[1]} pixels, the image "
            f"{image.width}x{image.height}",
            place="field 'predictions'",
            hint="give predictions made on this image (DetectionsStitch for crops)",
        )


def _label_texts(predictions: Any, classifications: dict[str, Batch]) -> list[str]:
    """Each detection's class and confidence, then one line per named classification of
    its crop (matched by the crop's id, the detection's; one naming no crop, by position);
    "-" where its crop has none (e.g. masked out)."""
    confidences = predictions.confidence
    texts = [
        name if confidences is None else f"{name} {confidences[i]:.2f}"
        for i, name in enumerate(class_names(predictions) or [""] * len(predictions))
    ]
    for title, batch in classifications.items():
        by_parent = {str(c.get("parent_id")): c for c in batch or () if c}
        # by position only those naming no crop: a named one belongs to its own detection
        by_position = (
            {index[-1]: c for index, c in batch.items() if c and not c.get("parent_id")}
            if batch
            else {}
        )
        for position, detection_id in enumerate(detection_ids(predictions)):
            found = by_parent.get(detection_id) or by_position.get(position)
            top = _top(found, None) if found else None
            vote = "-" if top is None else f"{top[0]} {top[2]:.2f}"
            texts[position] += f"\n{title}: {vote}"
    return texts


def _draw_quads(scene: np.ndarray, predictions: Any, thickness: int) -> np.ndarray:
    """Each detection's quadrilateral, in the colour BoxAnnotator gives its class."""
    import cv2  # cv2 and supervision here: compiling (validate) loads this module, not them
    import supervision as sv

    palette = sv.ColorPalette.DEFAULT
    class_ids = predictions.class_id if predictions.class_id is not None else [0] * len(predictions)
    for quad, class_id in zip(predictions.data[QUAD], class_ids, strict=True):
        corners = np.round(np.asarray(quad, dtype=np.float64)).astype(np.int32)
        colour = palette.by_idx(int(class_id)).as_bgr()
        cv2.polylines(scene, [corners.reshape(-1, 1, 2)], True, colour, thickness)
    return scene


def _skeleton(predictions: Any, choice: str) -> Skeleton | None:
    names = predictions.data.get(KEYPOINTS_CLASS_NAME)
    if names is None or choice == "none":  # skeletons join keypoints by name
        return None
    if choice != "auto":
        return SKELETONS[choice]
    return skeleton_for([str(name) for name in names[0]])


def _draw_keypoints(
    scene: np.ndarray, predictions: Any, skeleton: Skeleton | None, threshold: float, size: int
) -> np.ndarray:
    """Lines between connected keypoints, iris circles, then a dot on each keypoint; points
    below ``threshold`` confidence are left out, with their lines."""
    import cv2
    import supervision as sv

    points = np.asarray(predictions.data[KEYPOINTS_XY], dtype=np.float32)
    confidence = predictions.data.get(KEYPOINTS_CONFIDENCE)
    visible = np.ones(points.shape[:2], dtype=bool)
    if confidence is not None:
        visible = np.asarray(confidence) >= threshold
    dense = points.shape[1] > DENSE_POINTS
    hidden = points.copy()
    hidden[~visible] = 0  # supervision's VertexAnnotator skips (0, 0) vertices
    dots = sv.VertexAnnotator(color=sv.Color.GREEN, radius=1 if dense else size + 1)
    if dense:  # a mesh: its dots under the contour lines, which say more
        scene = dots.annotate(scene, sv.KeyPoints(xy=hidden))
    key_points = sv.KeyPoints(xy=points, visible=visible)
    edge = sv.Color.from_hex(EDGE_HEX)
    if skeleton is not None:
        names = [str(name) for name in predictions.data[KEYPOINTS_CLASS_NAME][0]]
        edges = [(a + 1, b + 1) for a, b in skeleton.edges(names)]  # supervision's: 1-based
        if edges:
            annotator = sv.EdgeAnnotator(color=edge, thickness=size, edges=edges)
            scene = annotator.annotate(scene, key_points)
        for detection, shown in zip(points, visible, strict=True):
            named = [name if seen else "" for name, seen in zip(names, shown, strict=True)]
            for centre, radius in skeleton.circles(named, detection):  # of shown points only
                if not np.isfinite([*centre, radius]).all():  # a point the model could not place
                    continue
                middle = tuple(int(v) for v in np.round(centre))
                cv2.circle(scene, middle, max(1, round(radius)), edge.as_bgr(), size)
    return scene if dense else dots.annotate(scene, sv.KeyPoints(xy=hidden))
