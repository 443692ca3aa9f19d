"""MediaPipe's selfie segmentation (task ``instance_segmentation``, format
``mediapipe_selfie``): which pixels of the image show a person.

As MediaPipe's SelfieSegmentationCpu graph runs it (options read from the graph compiled
into mediapipe 0.10.21): the whole image stretched to the input (256 x 256, or 256 x 144
for the landscape model; no letterbox), RGB in [0, 1]; the model's one output is a
probability map of the input's size (no activation to apply), resized bilinearly to the
image's size. With ``preprocessing: {resize: letterbox}`` the map's padding is cut off
first, so that the mask still lies on the image.

The prediction is ``supervision.Detections`` with ONE detection, class ``person``, when any
pixel's probability exceeds ``mask_threshold`` (default 0.5); none otherwise. Its mask is
those pixels (H x W, the image's size), its box their bounding box, its confidence the mean
probability over them. The model does not tell people apart: several people share one mask.
``postprocessing`` / step options: ``mask_threshold``, ``confidence`` (the detection is
dropped when its confidence is below it; default 0, keep any), ``class_filter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from visionflow.data.detections import CLASS_NAME, attach_image_metadata
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelFormatError
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.heads.detector_layouts import shape_text
from visionflow.models.heads.preprocess import ImageTransform, Placement
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) is imported where detections are built
    import supervision as sv

# ImageToTensorCalculator: keep_aspect_ratio false, range [0, 1]; MediaPipe's warp sampling.
SELFIE_INPUT = {"resize": "stretch", "color": "rgb", "resampler": "warp"}
MASK_THRESHOLD = 0.5


class SelfieSegmentationHead(TaskHead):
    kinds: ClassVar[list[str]] = ["instance_segmentation_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, SELFIE_INPUT)

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        if len(outputs) != 1 or len(outputs[0].shape) != 4 or (outputs[0].shape[-1] or 1) != 1:
            found = ", ".join(shape_text(output.shape) for output in outputs)
            raise ModelFormatError(
                f"model '{spec.id}' has outputs [{found}]; a selfie segmentation model has one "
                "(1, height, width, 1) probability map",
                place=f"models '{spec.id}' field 'format'",
                hint="use format mediapipe_selfie only for MediaPipe's selfie segmentation",
            )

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        import supervision as sv

        probabilities = self.probabilities(outputs[0], image, context)
        threshold = self._setting(options, "mask_threshold", MASK_THRESHOLD)
        mask = probabilities > threshold
        confidence = float(probabilities[mask].mean()) if mask.any() else 0.0
        label = label_of(self.labels, 0)
        wanted = options.get("class_filter", self.post.get("class_filter"))
        dropped = wanted is not None and label not in wanted
        if dropped or not mask.any() or confidence < self._setting(options, "confidence", 0.0):
            return attach_image_metadata(sv.Detections.empty(), image)
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        # Box corners on pixel edges: the last pixel of the mask lies inside [x_min, x_max).
        box = [columns[0], rows[0], columns[-1] + 1, rows[-1] + 1]
        detections = sv.Detections(
            xyxy=np.array([box], dtype=np.float32),
            mask=mask[None],
            confidence=np.array([confidence], dtype=np.float32),
            class_id=np.zeros(1, dtype=int),
            data={CLASS_NAME: np.array([label], dtype=object)},
        )
        return attach_image_metadata(detections, image)

    @staticmethod
    def probabilities(
        output: np.ndarray, image: WorkflowImage, placement: Placement | None = None
    ) -> np.ndarray:
        """The model's probability map, resized bilinearly to the image (H x W float32),
        as MediaPipe's TensorsToSegmentationCalculator does on the CPU. With a letterbox
        (``preprocessing: {resize: letterbox}``) only the image's part of the map is used."""
        grid = np.asarray(output, dtype=np.float32).reshape(output.shape[-3], output.shape[-2])
        if placement is not None and (placement.offset_x or placement.offset_y):
            # the padding is no part of the image: cut the map to where the image lies
            left, top = round(placement.offset_x), round(placement.offset_y)
            right = round(placement.offset_x + image.width * placement.scale_x)
            bottom = round(placement.offset_y + image.height * placement.scale_y)
            grid = grid[top : max(bottom, top + 1), left : max(right, left + 1)]
        import cv2  # here: checking the model (validate) imports this module, not cv2

        return cv2.resize(grid, (image.width, image.height), interpolation=cv2.INTER_LINEAR)

    def _setting(self, options: dict, name: str, default: float) -> float:
        """A step's option, else the model's postprocessing value, else the default."""
        value = options.get(name)
        return float(self.post.get(name, default) if value is None else value)
