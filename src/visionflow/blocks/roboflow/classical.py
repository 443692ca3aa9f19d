"""Roboflow's classical computer vision blocks (issue 12): contours, template matching,
SIFT keypoints and SIFT comparison, QR codes and barcodes, on OpenCV with Roboflow's names
and fields.

Images a block draws are derived images of its input (as Roboflow's ``copy_and_replace``
makes them). SIFT's drawings take random colours from OpenCV's generator, and FLANN's
matcher builds random trees with it, as in Roboflow's blocks. Roboflow's engine runs each
step on a fresh thread, whose generator starts as seed 0 sets it, so these blocks seed it
with 0 first: Roboflow's colours and matches, the same on every run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import CLASS_NAME, attach_image_metadata
from visionflow.data.image import WorkflowImage

IMAGE = Field(validation_alias=AliasChoices("image", "images"))
PURPLE = (255, 0, 255)  # BGR: the colour Roboflow's contours block draws with


def _gray(pixels: np.ndarray) -> np.ndarray:
    """One channel: BGR by luminance; a gray image (H x W or H x W x 1) as it is."""
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    return pixels.reshape(pixels.shape[:2])


class ImageContours(Block):
    """The outer contours of a (thresholded) image, OpenCV's ``RETR_EXTERNAL`` with simple
    chains, drawn in purple ``line_thickness`` wide on the gray image. Gives the drawing
    (``image``), the ``contours`` (a tuple of N x 1 x 2 int32 point arrays), OpenCV's
    ``hierarchy`` (1 x N x 4, None when nothing is found) and ``number_contours``."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/contours_detection@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        line_thickness: Selector(kinds=["integer"]) | int = 3

    outputs = [
        Output("image", kinds=["image"]),
        Output("contours", kinds=["contours"]),
        Output("hierarchy", kinds=["numpy_array"]),
        Output("number_contours", kinds=["integer"]),
    ]

    def run(self, image: WorkflowImage, line_thickness: int = 3) -> dict:
        gray = _gray(image.numpy)
        contours, hierarchy = cv2.findContours(gray, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        drawing = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        cv2.drawContours(drawing, contours, -1, PURPLE, line_thickness)
        return {
            "image": image.region(drawing, 0, 0),
            "contours": contours,
            "hierarchy": hierarchy,
            "number_contours": len(contours),
        }


class TemplateMatching(Block):
    """Every place where ``template`` matches ``image`` (both in gray) with a normalised
    correlation coefficient of at least ``matching_threshold``: one box of the template's
    size per place, class ``template_match`` (id 0), confidence 1.0. With ``apply_nms``,
    supervision's non-maximum suppression at ``nms_threshold`` keeps one of overlapping
    boxes (all confidences being equal, the first in supervision's order)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/template_matching@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        template: Selector(kinds=["image"]) = Field(
            validation_alias=AliasChoices("template", "templates")
        )
        matching_threshold: Selector(kinds=["float"]) | float = 0.8
        apply_nms: Selector(kinds=["boolean"]) | bool = True
        nms_threshold: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.5

    outputs = [
        Output("predictions", kinds=["object_detection_prediction"]),
        Output("number_of_matches", kinds=["integer"]),
    ]

    def run(
        self,
        image: WorkflowImage,
        template: WorkflowImage,
        matching_threshold: float = 0.8,
        apply_nms: bool = True,
        nms_threshold: float = 0.5,
    ) -> dict:
        pattern = _gray(template.numpy)
        height, width = pattern.shape
        if height > image.height or width > image.width:  # OpenCV's own error is cryptic
            raise ValueError(
                f"the template ({width} x {height}) is larger than the image "
                f"({image.width} x {image.height}): it must fit inside it"
            )
        scores = cv2.matchTemplate(_gray(image.numpy), pattern, cv2.TM_CCOEFF_NORMED)
        ys, xs = np.nonzero(scores >= matching_threshold)  # row by row, as Roboflow's order
        xyxy = np.stack([xs, ys, xs + width, ys + height], axis=1).astype(np.float64)
        detections = sv.Detections(
            xyxy=xyxy.reshape(-1, 4),
            confidence=np.ones(len(xyxy)),
            class_id=np.zeros(len(xyxy), dtype=int),
            data={CLASS_NAME: np.array(["template_match"] * len(xyxy))},
        )
        if apply_nms and len(detections):
            detections = detections.with_nms(threshold=nms_threshold)
        detections.data["prediction_type"] = np.array(["object-detection"] * len(detections))
        attach_image_metadata(detections, image)
        return {"predictions": detections, "number_of_matches": len(detections)}


def _sift(pixels: np.ndarray) -> tuple[np.ndarray, tuple, np.ndarray | None]:
    """The gray image, OpenCV's SIFT keypoints on it and their descriptors (None: none)."""
    gray = _gray(pixels)
    keypoints, descriptors = cv2.SIFT_create().detectAndCompute(gray, None)
    return gray, keypoints, descriptors


def _keypoint_records(keypoints: tuple) -> list[dict[str, Any]]:
    """Keypoints as Roboflow's ``image_keypoints`` give them: plain dicts."""
    return [
        {
            "pt": (point.pt[0], point.pt[1]),
            "size": point.size,
            "angle": point.angle,
            "response": point.response,
            "octave": point.octave,
            "class_id": point.class_id,
        }
        for point in keypoints
    ]


class SIFT(Block):
    """OpenCV's SIFT on the gray image: the ``keypoints`` (dicts of ``pt``, ``size``,
    ``angle``, ``response``, ``octave``, ``class_id``), their ``descriptors`` (N x 128
    float32; None when none is found) and the gray image with each keypoint circled in a
    random colour (``image``)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/sift@v1"]
        image: Selector(kinds=["image"]) = IMAGE

    outputs = [
        Output("image", kinds=["image"]),
        Output("keypoints", kinds=["image_keypoints"]),
        Output("descriptors", kinds=["numpy_array"]),
    ]

    def run(self, image: WorkflowImage) -> dict:
        gray, keypoints, descriptors = _sift(image.numpy)
        cv2.setRNGSeed(0)  # Roboflow's colours (see the module's docstring)
        drawing = cv2.drawKeypoints(gray, keypoints, None)
        return {
            "image": image.region(drawing, 0, 0),
            "keypoints": _keypoint_records(keypoints),
            "descriptors": descriptors,
        }


MatcherName = Literal["FlannBasedMatcher", "BFMatcher"]


def _good_matches(
    first: np.ndarray, second: np.ndarray, ratio: float, matcher: str = "FlannBasedMatcher"
) -> list[cv2.DMatch]:
    """The matches of ``first`` in ``second`` that pass Lowe's ratio test: the nearest
    descriptor closer than ``ratio`` times the second nearest (FLANN: 5 KD-trees, 50
    checks; or brute force, L2)."""
    if matcher == "BFMatcher":
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(first, second, k=2)
    else:
        flann = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 50})
        pairs = flann.knnMatch(first, second, k=2)
    return [pair[0] for pair in pairs if pair[0].distance < ratio * pair[1].distance]


def _too_few(descriptors: np.ndarray | None) -> bool:
    return descriptors is None or len(descriptors) < 2  # the ratio test needs two


class SIFTComparison(Block):
    """Whether two images' SIFT descriptors match: ``good_matches_count`` descriptors of
    the first pass the ratio test (``ratio_threshold``) against the second, and
    ``images_match`` when that count reaches ``good_matches_threshold``. Fewer than two
    descriptors on a side: 0 and false."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/sift_comparison@v1"]
        descriptor_1: Selector(kinds=["numpy_array"])
        descriptor_2: Selector(kinds=["numpy_array"])
        good_matches_threshold: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 50
        # Roboflow declares the selector's kind integer; a float parameter is accepted too
        ratio_threshold: Selector(kinds=["integer", "float"]) | float = 0.7

    outputs = [
        Output("good_matches_count", kinds=["integer"]),
        Output("images_match", kinds=["boolean"]),
    ]

    def run(
        self,
        descriptor_1: np.ndarray | None,
        descriptor_2: np.ndarray | None,
        good_matches_threshold: int = 50,
        ratio_threshold: float = 0.7,
    ) -> dict:
        if _too_few(descriptor_1) or _too_few(descriptor_2):
            return {"good_matches_count": 0, "images_match": False}
        cv2.setRNGSeed(0)  # Roboflow's FLANN trees (see the module's docstring)
        count = len(_good_matches(descriptor_1, descriptor_2, ratio_threshold))
        return {"good_matches_count": count, "images_match": count >= good_matches_threshold}


class SIFTComparisonV2(Block):
    """SIFT comparison of two images or descriptor arrays (an image is described first,
    as the SIFT block does), with the FLANN or brute-force ``matcher``. Gives the count
    and verdict of v1, each image's ``keypoints_N`` and ``descriptors_N`` (None for a
    descriptor input) and, with ``visualize``, each image's keypoints drawn
    (``visualization_N``) and, for two images, the good matches drawn side by side
    (``visualization_matches``)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/sift_comparison@v2"]
        input_1: Selector(kinds=["image", "numpy_array"])
        input_2: Selector(kinds=["image", "numpy_array"])
        good_matches_threshold: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 50
        ratio_threshold: Selector(kinds=["float_zero_to_one"]) | float = 0.7
        matcher: Selector(kinds=["string"]) | MatcherName = "FlannBasedMatcher"
        visualize: Selector(kinds=["boolean"]) | bool = False

    outputs = [
        Output("images_match", kinds=["boolean"]),
        Output("good_matches_count", kinds=["integer"]),
        Output("keypoints_1", kinds=["image_keypoints"]),
        Output("descriptors_1", kinds=["numpy_array"]),
        Output("keypoints_2", kinds=["image_keypoints"]),
        Output("descriptors_2", kinds=["numpy_array"]),
        Output("visualization_1", kinds=["image"]),
        Output("visualization_2", kinds=["image"]),
        Output("visualization_matches", kinds=["image"]),
    ]

    def run(
        self,
        input_1: WorkflowImage | np.ndarray | None,
        input_2: WorkflowImage | np.ndarray | None,
        good_matches_threshold: int = 50,
        ratio_threshold: float = 0.7,
        matcher: str = "FlannBasedMatcher",
        visualize: bool = False,
    ) -> dict:
        if matcher not in ("FlannBasedMatcher", "BFMatcher"):  # a step output's text
            raise ValueError(f"matcher {matcher!r} is not 'FlannBasedMatcher' or 'BFMatcher'")
        cv2.setRNGSeed(0)  # Roboflow's colours and FLANN trees (see the module's docstring)
        first, second = _Described(input_1, visualize), _Described(input_2, visualize)
        result = {
            "images_match": False,
            "good_matches_count": 0,
            "keypoints_1": first.records,
            "descriptors_1": first.descriptors,
            "keypoints_2": second.records,
            "descriptors_2": second.descriptors,
            "visualization_1": first.derived_drawing(),
            "visualization_2": second.derived_drawing(),
            "visualization_matches": None,
        }
        if _too_few(first.descriptors) or _too_few(second.descriptors):
            return result
        good = _good_matches(first.descriptors, second.descriptors, ratio_threshold, matcher)
        result.update(
            good_matches_count=len(good), images_match=len(good) >= good_matches_threshold
        )
        if visualize and first.image is not None and second.image is not None:
            result["visualization_matches"] = first.image.region(
                _matches_drawing(first, second, good, matcher), 0, 0
            )
        return result


class _Described:
    """One input of the SIFT comparison: its image (if one), keypoints and descriptors."""

    def __init__(self, value: WorkflowImage | np.ndarray | None, visualize: bool):
        self.image = value if isinstance(value, WorkflowImage) else None
        self.keypoints: tuple = ()
        self.records: list | None = None
        self.drawing: np.ndarray | None = None
        if self.image is None:
            self.descriptors = value
            return
        gray, self.keypoints, self.descriptors = _sift(self.image.numpy)
        self.records = _keypoint_records(self.keypoints)
        if visualize:
            self.drawing = cv2.drawKeypoints(gray, self.keypoints, None)

    def derived_drawing(self) -> WorkflowImage | None:
        if self.drawing is None:
            return None
        return self.image.region(self.drawing, 0, 0)


def _matches_drawing(
    first: _Described, second: _Described, good: list[cv2.DMatch], matcher: str
) -> np.ndarray:
    """Both images side by side, each good match joined by a line: FLANN's in green with
    unmatched keypoints in red; brute force's in random colours, unmatched ones left out."""
    if matcher == "BFMatcher":
        style: dict[str, Any] = {"flags": cv2.DrawMatchesFlags_NOT_DRAW_SINGLE_POINTS}
    else:
        style = {
            "matchColor": (0, 255, 0),
            "singlePointColor": (0, 0, 255),
            "flags": cv2.DrawMatchesFlags_DEFAULT,
        }
    return cv2.drawMatchesKnn(
        first.image.numpy,
        first.keypoints,
        second.image.numpy,
        second.keypoints,
        [[match] for match in good],
        None,
        **style,
    )


class QRCodeDetection(Block):
    """The QR codes OpenCV's ``QRCodeDetector`` finds and reads: one detection each, class
    ``qr_code`` (id 0), confidence 1.0, its text in ``data`` and ``prediction_type``
    ``qrcode-detection``. The box runs from the code's first corner to its third (a
    bounding box for an upright code), as Roboflow's block makes it."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/qr_code_detector@v1", "QRCodeDetector", "QRCodeDetection"]
        images: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("images", "image"))

    outputs = [Output("predictions", kinds=["qr_code_detection"])]

    def run(self, images: WorkflowImage) -> dict:
        _, texts, corners, _ = cv2.QRCodeDetector().detectAndDecodeMulti(images.numpy)
        if corners is None:  # nothing found (Roboflow's block fails here; we give none)
            texts, corners = (), np.empty((0, 4, 2), dtype=np.float32)
        xyxy = np.concatenate([corners[:, 0], corners[:, 2]], axis=1).reshape(-1, 4)
        count = len(xyxy)
        detections = sv.Detections(
            xyxy=xyxy.astype(np.float64),
            confidence=np.ones(count),
            class_id=np.zeros(count, dtype=int),
            data={CLASS_NAME: np.array(["qr_code"] * count, dtype=str)},
        )
        detections.data["prediction_type"] = np.array(["qrcode-detection"] * count, dtype=str)
        detections.data["data"] = np.array(list(texts), dtype=str)
        attach_image_metadata(detections, images)
        return {"predictions": detections}


class BarcodeDetection(Block):
    """The barcodes (EAN, UPC, Code 128, ...) OpenCV's ``barcode.BarcodeDetector`` finds
    and reads: one detection each, class ``barcode`` (id 0), confidence 1.0, its text in
    ``data`` and ``prediction_type`` ``barcode-detection``; the box bounds the code's four
    corners as OpenCV locates them. A code found but not read is left out, as Roboflow's
    block (on zxing-cpp, which reads as it finds) gives only codes it reads. OpenCV's
    reader is pickier than zxing-cpp: small, sharp or very large bars may go unread."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/barcode_detector@v1", "BarcodeDetector", "BarcodeDetection"]
        images: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("images", "image"))

    outputs = [Output("predictions", kinds=["bar_code_detection"])]

    def run(self, images: WorkflowImage) -> dict:
        _, texts, _, corners = cv2.barcode.BarcodeDetector().detectAndDecodeWithType(images.numpy)
        read = [i for i, text in enumerate(texts) if text] if corners is not None else []
        boxes = [[*corners[i].min(axis=0).tolist(), *corners[i].max(axis=0).tolist()] for i in read]
        count = len(boxes)
        detections = sv.Detections(
            xyxy=np.array(boxes, dtype=np.float64).reshape(-1, 4),
            confidence=np.ones(count),
            class_id=np.zeros(count, dtype=int),
            data={CLASS_NAME: np.array(["barcode"] * count, dtype=str)},
        )
        detections.data["prediction_type"] = np.array(["barcode-detection"] * count, dtype=str)
        detections.data["data"] = np.array([texts[i] for i in read], dtype=str)
        attach_image_metadata(detections, images)
        return {"predictions": detections}


BLOCKS: list[type[Block]] = [
    ImageContours,
    TemplateMatching,
    SIFT,
    SIFTComparison,
    SIFTComparisonV2,
    QRCodeDetection,
    BarcodeDetection,
]
