"""The core block library: flow control, expressions, crops, detections, nesting."""

from __future__ import annotations

from visionflow.blocks.api import Block


def load_blocks() -> list[type[Block]]:
    from visionflow.blocks import deepomatic  # the Deepomatic dialect's steps
    from visionflow.blocks.core.background import BackgroundBlur, BackgroundReplace
    from visionflow.blocks.core.collapse import AlignedDimensionCollapse, DimensionCollapse
    from visionflow.blocks.core.consensus import ClassificationConsensus
    from visionflow.blocks.core.crops import AbsoluteStaticCrop, DynamicCrop, RelativeStaticCrop
    from visionflow.blocks.core.detections import (
        DetectionsClassesReplacement,
        DetectionsFilter,
        DetectionsFilterV2,
        DetectionsStitch,
        DetectionsTransformation,
    )
    from visionflow.blocks.core.expression import Expression, PropertyDefinition
    from visionflow.blocks.core.flow import ContinueIf, FirstNonEmptyOrDefault
    from visionflow.blocks.core.functional import FunctionCall, ListItems, ModelCall
    from visionflow.blocks.core.models import (
        ClassificationModel,
        KeypointDetectionModel,
        ModelInference,
        ObjectDetectionModel,
        TextDetectionModel,
        TextRecognitionModel,
    )
    from visionflow.blocks.core.ocr import OrientImage, PerspectiveCrop
    from visionflow.blocks.core.regions import PersonRegionCrop
    from visionflow.blocks.core.roboflow_models import (
        RoboflowClassificationModel,
        RoboflowClassificationModelV3,
        RoboflowKeypointDetectionModel,
        RoboflowKeypointDetectionModelV3,
        RoboflowMultiLabelClassificationModel,
        RoboflowMultiLabelClassificationModelV3,
        RoboflowObjectDetectionModel,
        RoboflowObjectDetectionModelV3,
    )
    from visionflow.blocks.core.roboflow_ocr import RoboflowOCRModel
    from visionflow.blocks.core.roboflow_segmentation import (
        RoboflowInstanceSegmentationModel,
        RoboflowInstanceSegmentationModelV3,
    )
    from visionflow.blocks.core.segmentation import SegmentationModel
    from visionflow.blocks.core.visualization import DrawDetections

    return [
        *deepomatic.load_blocks(),  # Roboflow's library: loaded when needed (blocks/loader.py)
        ContinueIf,
        FirstNonEmptyOrDefault,
        Expression,
        PropertyDefinition,
        DynamicCrop,
        AbsoluteStaticCrop,
        RelativeStaticCrop,
        DetectionsFilter,
        DetectionsFilterV2,
        DetectionsTransformation,
        DetectionsClassesReplacement,
        DimensionCollapse,
        AlignedDimensionCollapse,
        ObjectDetectionModel,
        KeypointDetectionModel,
        ClassificationModel,
        TextDetectionModel,
        TextRecognitionModel,
        ModelInference,
        RoboflowObjectDetectionModel,
        RoboflowObjectDetectionModelV3,
        RoboflowKeypointDetectionModel,
        RoboflowKeypointDetectionModelV3,
        RoboflowClassificationModel,
        RoboflowClassificationModelV3,
        RoboflowMultiLabelClassificationModel,
        RoboflowMultiLabelClassificationModelV3,
        RoboflowInstanceSegmentationModel,
        RoboflowInstanceSegmentationModelV3,
        RoboflowOCRModel,
        DetectionsStitch,
        DrawDetections,
        ClassificationConsensus,
        PerspectiveCrop,
        OrientImage,
        PersonRegionCrop,
        FunctionCall,
        ModelCall,
        ListItems,
        SegmentationModel,
        BackgroundBlur,
        BackgroundReplace,
    ]
