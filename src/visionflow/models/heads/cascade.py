"""The head of an OpenCV cascade classifier (``runtime: opencv_cascade``, task
``object_detection``, format ``haar_cascade``): gray image in, boxes out.

``postprocessing`` holds ``detectMultiScale``'s parameters: ``scale_factor`` (> 1; the
step between the window sizes tried), ``min_neighbors`` (how many overlapping raw hits a
box needs: higher is stricter), ``min_size`` / ``max_size`` ([width, height] in pixels of
the image; absent: no bound). A cascade has no score: every box has confidence 1.0, and
``data["neighbors"]`` says how many raw hits it merges (boxes are sorted by it, most first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from visionflow.data.detections import CLASS_NAME, attach_image_metadata
from visionflow.data.image import WorkflowImage
from visionflow.models.cascades import images_with_parameters
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) is imported where detections are built
    import supervision as sv

# OpenCV's own defaults of detectMultiScale
DEFAULTS: dict[str, Any] = {
    "scale_factor": 1.1,
    "min_neighbors": 3,
    "min_size": None,
    "max_size": None,
}
NEIGHBORS = "neighbors"


class CascadeHead(TaskHead):
    kinds: ClassVar[list[str]] = ["object_detection_prediction"]
    postprocessing_help = (
        "a cascade: scale_factor (e.g. 1.1), min_neighbors (e.g. 3), "
        "min_size and max_size ([width, height])"
    )

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        settings = {**DEFAULTS, **self.post}
        unknown = sorted(set(settings) - set(DEFAULTS) - {"confidence", "max_detections"})
        if unknown:
            self._fail(f"unknown postprocessing setting(s) {', '.join(unknown)}")
        scale, neighbors = settings["scale_factor"], settings["min_neighbors"]
        if not isinstance(scale, int | float) or not scale > 1:
            self._fail(f"scale_factor must be a number above 1, not {scale!r}")
        if not isinstance(neighbors, int) or isinstance(neighbors, bool) or neighbors < 0:
            self._fail(f"min_neighbors must be a whole number 0 or more, not {neighbors!r}")
        self.parameters = np.array(
            [
                scale,
                neighbors,
                *self._size(settings, "min_size"),
                *self._size(settings, "max_size"),
            ],
            dtype=np.float64,
        )
        self.settings = settings

    def _size(self, settings: dict, name: str) -> list[int]:
        size = settings[name]
        if size is None:
            return [0, 0]
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(side, int) and not isinstance(side, bool) for side in size)
            or min(size) < 0
        ):
            self._fail(f"{name} must be [width, height] in whole pixels, not {size!r}")
        return list(size)

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Any]:
        import cv2  # here: checking the model (validate) imports this module, not cv2

        return [cv2.cvtColor(image.numpy, cv2.COLOR_BGR2GRAY), self.parameters], None

    def collate(self, elements: list[list[np.ndarray]]) -> list[tuple[list[int], list[np.ndarray]]]:
        """The whole batch in one call: the session loops over images of any sizes."""
        return images_with_parameters(elements)

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        import supervision as sv

        boxes, neighbors = outputs
        order = np.argsort(-neighbors, kind="stable")
        boxes, neighbors = boxes[order], neighbors[order]
        settings = {**self.settings, **{k: v for k, v in options.items() if v is not None}}
        name = label_of(self.labels, 0)
        count = len(boxes)
        if float(settings.get("confidence") or 0.0) > 1.0:  # every box's confidence is 1.0
            count = 0
        if settings.get("class_filter") is not None and name not in settings["class_filter"]:
            count = 0
        if settings.get("max_detections") is not None:
            count = min(count, int(settings["max_detections"]))
        boxes, neighbors = boxes[:count], neighbors[:count]
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
        detections = sv.Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=np.ones(count, dtype=np.float32),
            class_id=np.zeros(count, dtype=int),
            data={
                CLASS_NAME: np.array([name] * count, dtype=object),
                NEIGHBORS: neighbors.astype(int),
            },
        )
        return attach_image_metadata(detections, image)
