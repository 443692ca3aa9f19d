"""Roboflow's instance segmentation block (``roboflow_core/roboflow_instance_segmentation_model``
@v1/@v2/@v3) on the local model its ``model_id`` is mapped to (task ``instance_segmentation``,
e.g. a YOLOv8-seg ONNX export).

It is Roboflow's detection block with masks: the same mapping rules, fields, defaults and
refusals (``blocks/core/roboflow_models.py``), plus ``mask_decode_mode`` and
``tradeoff_factor``. The local head decodes every mask at the image's full resolution,
which is Roboflow's ``accurate`` mode (its default); ``fast`` and ``tradeoff`` trade
precision for speed in ways the local head does not reproduce, so they are refused rather
than silently decoded another way. ``tradeoff_factor`` only matters in ``tradeoff`` mode, as
in Roboflow. v3's ``enforce_dense_masks_in_inference_models`` is accepted and unused: masks
here are always dense (one H x W array per detection).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from visionflow.blocks.api import Batch, BlockManifest
from visionflow.blocks.core.roboflow_models import (
    UNIT_INTERVAL,
    DetectionManifest,
    RoboflowObjectDetectionModel,
    RoboflowObjectDetectionModelV3,
    every_output,
    parameter_selector,
)
from visionflow.errors import ModelError, RuntimeInputError
from visionflow.kinds import shown_value

DECODE_MODES = ("accurate", "tradeoff", "fast")
DECODE_REFUSED = (
    "mask_decode_mode '{mode}' is not supported: the local head decodes every mask at the "
    "image's full resolution (Roboflow's 'accurate')"
)
DECODE_HINT = "leave it out, or write 'accurate' (Roboflow's default)"


class _Masks:
    """What both versions add to Roboflow's detection block: masks, and their decode mode."""

    outputs = every_output("instance_segmentation_prediction")
    tasks: ClassVar[tuple[str, ...]] = ("instance_segmentation",)
    spec_defaults: ClassVar[dict[str, Any]] = {"task": "instance_segmentation"}
    prediction_kind: ClassVar[str] = "instance_segmentation_prediction"

    def check(self, manifest: BlockManifest) -> None:
        super().check(manifest)  # the detection block's refusals
        mode = manifest.mask_decode_mode
        if mode in DECODE_MODES and mode != "accurate":  # a selector's value comes with run
            raise ModelError(
                DECODE_REFUSED.format(mode=mode),
                place="field 'mask_decode_mode'",
                hint=DECODE_HINT,
            )

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        mode = fields["mask_decode_mode"]
        if mode != "accurate":  # a selector's value, known only now
            refused = DECODE_REFUSED.format(mode=mode)
            if mode not in DECODE_MODES:
                refused = f"mask_decode_mode is {shown_value(mode)}; it must be accurate"
            raise RuntimeInputError(refused, place="field 'mask_decode_mode'", hint=DECODE_HINT)
        return super().run(images, model_id, **fields)


class _MaskFields(BlockManifest):
    """Roboflow's mask decoding fields, every version."""

    mask_decode_mode: parameter_selector("string") | Literal[DECODE_MODES] = "accurate"
    tradeoff_factor: parameter_selector("float") | UNIT_INTERVAL = 0.0


class RoboflowInstanceSegmentationModel(_Masks, RoboflowObjectDetectionModel):
    """Roboflow's instance segmentation block (v1, v2), on a local segmentation model."""

    class Manifest(_MaskFields, DetectionManifest):
        type: Literal[
            "roboflow_core/roboflow_instance_segmentation_model@v2",
            "roboflow_core/roboflow_instance_segmentation_model@v1",
            "RoboflowInstanceSegmentationModel",
            "InstanceSegmentationModel",
        ]


class RoboflowInstanceSegmentationModelV3(_Masks, RoboflowObjectDetectionModelV3):
    """Roboflow's instance segmentation block v3: ``confidence_mode`` / ``custom_confidence``
    as in the detection block v3 (``best`` and ``default``: the model's own threshold)."""

    class Manifest(_MaskFields, RoboflowObjectDetectionModelV3.Manifest):
        type: Literal[
            "roboflow_core/roboflow_instance_segmentation_model@v3",
            "roboflow_core/roboflow_instance_segmentation_model@v4",  # v3 less a field
        ]
        enforce_dense_masks_in_inference_models: parameter_selector("boolean") | bool = True
