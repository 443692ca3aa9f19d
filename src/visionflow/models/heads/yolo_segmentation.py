"""YOLO instance segmentation models exported to ONNX without their NMS (YOLOv8-seg, also
YOLO11-seg), format ``yolov8`` of task ``instance_segmentation``.

Two outputs, told apart by their number of axes:

- detections (1, 4 + C + M, N): box centre x, y, width, height in input pixels, C class
  scores, then M mask coefficients (32 in Ultralytics' models);
- prototypes (1, M, Hm, Wm): M mask prototypes over the whole input (160 x 160 at 640).

Boxes are decoded as the ``yolov8`` detection head decodes them (letterbox, thresholds,
class-wise NMS, same options). Each kept box's mask is ``sigmoid(coefficients @
prototypes)``, resampled (bilinear) from the prototype grid straight onto the image's
pixels through the letterbox, kept inside the box, and thresholded at ``mask_threshold``
(default 0.5): ``detections.mask`` holds one H x W boolean mask per detection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelFormatError
from visionflow.models.heads.preprocess import Placement
from visionflow.models.heads.yolo import YoloV8Head
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) annotations only
    import supervision as sv

MASK_THRESHOLD = 0.5


class YoloV8SegmentationHead(YoloV8Head):
    kinds: ClassVar[list[str]] = ["instance_segmentation_prediction"]

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        if len(outputs) != 2:
            raise ModelFormatError(
                f"model '{spec.id}' has {len(outputs)} output(s); a YOLOv8 "
                "segmentation model has two: detections with mask coefficients, and the "
                "mask prototypes",
                place=f"models '{spec.id}' field 'format'",
                hint="export the model with Ultralytics' format=onnx (task segment)",
            )

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.settings.setdefault("mask_threshold", MASK_THRESHOLD)

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        settings = {**self.settings, **options}
        output, prototypes = sorted(
            (np.asarray(o, dtype=np.float32) for o in outputs), key=lambda o: o.ndim
        )
        prototypes = prototypes.reshape(prototypes.shape[-3:])  # (M, Hm, Wm)
        count = prototypes.shape[0]
        rows = output.reshape(output.shape[-2], output.shape[-1])  # (4 + C + M, N)
        detections, kept = self.detect(rows[:-count], context, image, settings)
        coefficients = rows[-count:, kept].T  # (kept, M)
        threshold = float(settings["mask_threshold"])
        detections.mask = self.masks(
            coefficients, prototypes, detections.xyxy, context, image, threshold
        )
        return detections

    def masks(
        self,
        coefficients: np.ndarray,
        prototypes: np.ndarray,
        xyxy: np.ndarray,
        context: Placement,
        image: WorkflowImage,
        threshold: float,
    ) -> np.ndarray:
        """(N x H x W) boolean masks on the image's pixels: the pixels of each box whose mask
        probability is above ``threshold``. Thresholded box by box: a full-size float mask
        per detection would take 4 bytes a pixel (300 detections on a 4K frame: 10 GB)."""
        count, proto_height, proto_width = prototypes.shape
        probabilities = 1 / (1 + np.exp(-(coefficients @ prototypes.reshape(count, -1))))
        probabilities = probabilities.reshape(-1, proto_height, proto_width).astype(np.float32)
        to_grid = _image_to_prototypes(
            context, proto_width / self.transform.width, proto_height / self.transform.height
        )
        import cv2  # here: checking the model (validate) imports this module, not cv2

        masks = np.zeros((len(xyxy), image.height, image.width), dtype=bool)
        for position, (mask, box) in enumerate(zip(probabilities, xyxy, strict=True)):
            # Only the box's pixels are resampled: everything outside it is zero anyway.
            # A pixel belongs to the box when its index lies in [x_min, x_max).
            x_min, y_min = (max(0, int(np.ceil(v))) for v in box[:2])
            x_max = min(image.width, int(np.ceil(box[2])))
            y_max = min(image.height, int(np.ceil(box[3])))
            if x_min >= x_max or y_min >= y_max:
                continue
            shift = to_grid.copy()
            shift[:, 2] += to_grid[:, :2] @ np.array([x_min, y_min], dtype=np.float64)
            resampled = cv2.warpAffine(
                mask,
                shift,
                (x_max - x_min, y_max - y_min),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            masks[position, y_min:y_max, x_min:x_max] = resampled > threshold
        return masks


def _image_to_prototypes(context: Placement, per_input_x: float, per_input_y: float) -> np.ndarray:
    """The 2 x 3 affine map from an image pixel to the prototype grid (pixel centres).

    Input = image * scale + offset (the letterbox), grid = input * grid cells per input pixel.
    """
    scale_x, scale_y = context.scale_x * per_input_x, context.scale_y * per_input_y
    return np.array(
        [
            [scale_x, 0.0, (0.5 * context.scale_x + context.offset_x) * per_input_x - 0.5],
            [0.0, scale_y, (0.5 * context.scale_y + context.offset_y) * per_input_y - 0.5],
        ],
        dtype=np.float64,
    )
