"""Heads of the three OCR stages of PP-OCR models (as shipped by rapidocr): text detection
(DB), text-line orientation (0 / 180 degrees) and text recognition (CTC).

Pre- and post-processing reproduce rapidocr 3.10 (``ch_ppocr_det``, ``ch_ppocr_cls``,
``ch_ppocr_rec``, ``utils/process_img.py`` and its ``config.yaml``) so that results match
it; rapidocr itself is only the package that carries the model files. Setting names are
rapidocr's own (``thresh``, ``box_thresh``, ``unclip_ratio``, ``limit_side_len``...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.data.detections import CLASS_NAME, QUAD, attach_image_metadata
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.heads.base import TaskHead, classification_prediction
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) is imported where detections are built
    import supervision as sv

DETECTION_PRE = {
    "min_side_len": 30,  # whole-image bounds applied first (rapidocr's Global section)
    "max_side_len": 2000,
    "width_height_ratio": 8,  # wider images (and very low ones) get black bands above/below
    "min_height": 30,
    "limit_side_len": 736,  # then the detector's own resize
    "limit_type": "min",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
}
DETECTION_POST = {
    "thresh": 0.3,  # probability above which a pixel is text
    "box_thresh": 0.5,  # mean probability inside a box to keep it
    "max_candidates": 1000,
    "unclip_ratio": 1.6,  # how far the shrunk text kernel is grown back
    "use_dilation": True,
    "score_mode": "fast",  # fast: mean inside the box; slow: inside the contour
}
OPTION_NAMES = {"confidence": "box_thresh"}  # the TextDetectionModel block's name for it
MIN_SIZE = 3  # shortest side, in map pixels, of a box worth keeping (rapidocr's min_size)
LINE_Y_TOLERANCE = 10  # boxes whose tops differ less are on the same line (reading order)


def rotate_180(image: WorkflowImage) -> WorkflowImage:
    """The image upside down. It keeps its ids and origin: it shows the same region, so
    results made on it stay linked to the detection it was cropped for."""
    import cv2  # cv2 where pixels change: validating a document imports this module, not cv2

    return image.with_pixels(cv2.rotate(image.numpy, cv2.ROTATE_180))


# --- text detection ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    """How the probability map maps back to the image (rapidocr's op_record)."""

    padded_width: int  # the map is scaled to this image first
    padded_height: int
    pad_top: int
    ratio_x: float  # image pixels per padded-image pixel
    ratio_y: float
    image_width: int
    image_height: int


class TextDetectionHead(TaskHead):
    """DB text detection: one quadrilateral per text line, in reading order."""

    kinds = ["object_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.pre = {**DETECTION_PRE, **self.pre}
        self.post = {**DETECTION_POST, **self.post}

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], _Geometry]:
        s = self.pre
        pixels = image.numpy
        if max(pixels.shape[:2]) > s["max_side_len"]:
            pixels = _resize_to_32(pixels, s["max_side_len"], "max")
        if min(pixels.shape[:2]) < s["min_side_len"]:
            pixels = _resize_to_32(pixels, s["min_side_len"], "min")
        ratio_x, ratio_y = image.width / pixels.shape[1], image.height / pixels.shape[0]
        pixels, pad_top = _pad_wide(pixels, s["width_height_ratio"], s["min_height"])
        network = _resize_to_32(pixels, s["limit_side_len"], s["limit_type"])
        geometry = _Geometry(
            pixels.shape[1], pixels.shape[0], pad_top, ratio_x, ratio_y, image.width, image.height
        )
        return [_normalise(network, s["mean"], s["std"])], geometry

    def postprocess(
        self, outputs: list[np.ndarray], context: _Geometry, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        settings = self.post | {
            OPTION_NAMES.get(k, k): v
            for k, v in options.items()
            if OPTION_NAMES.get(k, k) in DETECTION_POST
        }
        quads, scores = _db_quads(
            outputs[0][0], context.padded_width, context.padded_height, settings
        )
        quads, scores = _reading_order(quads, scores)
        return attach_image_metadata(_text_detections(_to_image(quads, context), scores), image)


def _resize_to_32(pixels: np.ndarray, limit: int, limit_type: str) -> np.ndarray:
    """rapidocr's resize: scale so the max (or min) side meets ``limit``, sides rounded to
    multiples of 32 (the network downsamples by 32)."""
    import cv2

    height, width = pixels.shape[:2]
    if limit_type == "max":
        ratio = limit / max(height, width) if max(height, width) > limit else 1.0
    else:
        ratio = limit / min(height, width) if min(height, width) < limit else 1.0
    # at least 32: rapidocr gives up on images that would round to nothing
    new_height = max(32, round(int(height * ratio) / 32) * 32)
    new_width = max(32, round(int(width * ratio) / 32) * 32)
    return cv2.resize(pixels, (new_width, new_height))


def _pad_wide(pixels: np.ndarray, max_ratio: float, min_height: int) -> tuple[np.ndarray, int]:
    """Black bands above and below very wide or very low images (rapidocr's vertical
    padding): DB finds no text in a strip much wider than it is high."""
    import cv2

    height, width = pixels.shape[:2]
    too_wide = max_ratio != -1 and width / height > max_ratio
    if height > min_height and not too_wide:
        return pixels, 0
    pad = int(abs(max(int(width / max_ratio), min_height) * 2 - height) / 2)
    return cv2.copyMakeBorder(pixels, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad


def _normalise(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    # (x / 255 - mean) / std as one multiply-add per channel, in float32 (rapidocr's formula)
    scale = 1.0 / (255.0 * np.asarray(std, dtype=np.float32))
    shift = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    chw = pixels.transpose(2, 0, 1).astype(np.float32)
    return chw * scale[:, None, None] - shift[:, None, None]


def _db_quads(
    probability: np.ndarray, width: int, height: int, s: dict[str, Any]
) -> tuple[list[np.ndarray], list[float]]:
    """Text quads in a (width x height) image from DB's probability map."""
    import cv2

    bitmap = (probability > s["thresh"]).astype(np.uint8)
    if s["use_dilation"]:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    map_height, map_width = bitmap.shape
    quads, scores = [], []
    for contour in contours[: s["max_candidates"]]:
        points, short_side = _min_area_quad(contour)
        if short_side < MIN_SIZE:
            continue
        region = points if s["score_mode"] == "fast" else contour.reshape(-1, 2)
        score = _mean_inside(probability, region)
        if score < s["box_thresh"]:
            continue
        grown = _unclip(points, s["unclip_ratio"])
        if grown is None:
            continue
        quad, short_side = _min_area_quad(grown)
        if short_side < MIN_SIZE + 2:
            continue
        quad[:, 0] = np.clip(np.round(quad[:, 0] / map_width * width), 0, width)
        quad[:, 1] = np.clip(np.round(quad[:, 1] / map_height * height), 0, height)
        quad = np.clip(_clockwise(quad), 0, [width - 1, height - 1])
        if np.linalg.norm(quad[0] - quad[1]) < 4 or np.linalg.norm(quad[0] - quad[3]) < 4:
            continue
        quads.append(quad)
        scores.append(score)
    return quads, scores


def _min_area_quad(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle's corners (rapidocr's ordering) and its shorter side."""
    import cv2

    rectangle = cv2.minAreaRect(contour)
    points = sorted(cv2.boxPoints(rectangle).tolist(), key=lambda point: point[0])
    left = (points[0], points[1]) if points[1][1] > points[0][1] else (points[1], points[0])
    right = (points[2], points[3]) if points[3][1] > points[2][1] else (points[3], points[2])
    quad = np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
    return quad, min(rectangle[1])


def _mean_inside(probability: np.ndarray, polygon: np.ndarray) -> float:
    """Mean probability inside a polygon (DB's box score)."""
    import cv2

    height, width = probability.shape
    low = np.clip(np.floor(polygon.min(axis=0)).astype(np.int32), 0, [width - 1, height - 1])
    high = np.clip(np.ceil(polygon.max(axis=0)).astype(np.int32), 0, [width - 1, height - 1])
    mask = np.zeros((high[1] - low[1] + 1, high[0] - low[0] + 1), dtype=np.uint8)
    cv2.fillPoly(mask, (polygon - low).reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(probability[low[1] : high[1] + 1, low[0] : high[0] + 1], mask)[0]


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    """The quad grown by area * ratio / perimeter: DB predicts shrunk text kernels."""
    import cv2
    import pyclipper  # the only user of pyclipper; imported when a text detector runs

    distance = cv2.contourArea(quad) * ratio / cv2.arcLength(quad, True)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(distance)
    if not paths:
        return None
    return np.concatenate([np.array(path, dtype=np.int32) for path in paths]).reshape(-1, 1, 2)


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left (two leftmost points are the left side)."""
    by_x = points[np.argsort(points[:, 0])]
    top_left, bottom_left = by_x[:2][np.argsort(by_x[:2, 1])]
    top_right, bottom_right = by_x[2:][np.argsort(by_x[2:, 1])]
    return np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float32)


def _reading_order(
    quads: list[np.ndarray], scores: list[float]
) -> tuple[list[np.ndarray], list[float]]:
    """Top to bottom, then left to right among boxes whose tops are on the same line."""
    if not quads:
        return quads, scores
    tops = np.array([quad[0] for quad in quads])
    by_y = np.argsort(tops[:, 1], kind="stable")
    lines = np.concatenate([[0], np.cumsum(np.diff(tops[by_y, 1]) >= LINE_Y_TOLERANCE)])
    order = by_y[np.lexsort((tops[by_y, 0], lines))]
    return [quads[i] for i in order], [scores[i] for i in order]


def _to_image(quads: list[np.ndarray], geometry: _Geometry) -> np.ndarray:
    """Quads from the padded, resized image back to the image the user gave."""
    if not quads:
        return np.zeros((0, 4, 2), dtype=np.float32)
    moved = np.stack(quads) - np.array([0, geometry.pad_top], dtype=np.float32)
    moved *= np.array([geometry.ratio_x, geometry.ratio_y], dtype=np.float32)
    return np.clip(moved, 0, [geometry.image_width, geometry.image_height]).astype(np.float32)


def _text_detections(quads: np.ndarray, scores: list[float]) -> sv.Detections:
    import supervision as sv

    count = len(quads)
    return sv.Detections(
        xyxy=np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1),
        confidence=np.array(scores, dtype=np.float32),
        class_id=np.zeros(count, dtype=int),
        data={CLASS_NAME: np.array(["text"] * count, dtype=object), QUAD: quads},
    )


# --- text lines: orientation and recognition ------------------------------------------------


def _line_tensor(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """A text line resized to ``height`` keeping its ratio (at most ``width`` wide),
    normalised to [-1, 1] and padded with zeros on the right to ``width``."""
    import cv2

    resized_width = min(width, math.ceil(height * pixels.shape[1] / pixels.shape[0]))
    resized = cv2.resize(pixels, (resized_width, height)).astype(np.float32)
    tensor = np.zeros((3, height, width), dtype=np.float32)
    tensor[:, :, :resized_width] = (resized.transpose(2, 0, 1) / 255 - 0.5) / 0.5
    return tensor


class TextOrientationHead(TaskHead):
    """Is a text line upright ("0") or upside down ("180")? A classification dict."""

    kinds = ["classification_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        _, self.height, self.width = self.pre.get("image_shape", [3, 48, 192])

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], None]:
        return [_line_tensor(image.numpy, self.height, self.width)], None

    def postprocess(
        self, outputs: list[np.ndarray], context: None, image: WorkflowImage, options: dict
    ) -> dict[str, Any]:
        probabilities = outputs[0]  # the model ends with a softmax
        return classification_prediction(probabilities, self.labels, image)


def ctc_greedy_decode(scores: np.ndarray, characters: Sequence[str]) -> tuple[str, float]:
    """Best-path CTC decoding: the likeliest class per time step, repeats collapsed, blanks
    (class 0) dropped. The confidence is the mean score of the kept steps (0 if none).

    >>> ctc_greedy_decode(np.eye(3)[[1, 1, 0, 1, 2, 2]], ["<blank>", "a", "b"])
    ('aab', 1.0)
    """
    best = scores.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    text = "".join(characters[i] for i in best[keep])
    confidence = float(scores.max(axis=1)[keep].mean()) if keep.any() else 0.0
    return text, confidence


class TextRecognitionHead(TaskHead):
    """The text of one line crop: ``{"text", "confidence", "parent_id"}``.

    The character list comes from the ONNX metadata ``character`` (or the spec's ``labels``);
    as in rapidocr, the CTC blank is put first and a space last.
    """

    kinds = ["dict"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        metadata = getattr(session, "metadata", {}).get("character")
        characters = metadata.splitlines() if metadata else spec.labels
        if not characters:
            raise ModelError(
                f"text recognition model '{spec.id}' has no character list",
                hint="give its characters as 'labels' (one per class, without the CTC blank)",
            )
        self.characters = ["<blank>", *characters, " "]
        _, self.height, self.min_width = self.pre.get("image_shape", [3, 48, 320])
        self.group_size = int(self.pre.get("batch_group_size", 6))

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], None]:
        # At least min_width wide; a wider line keeps its ratio. (rapidocr narrows the widest
        # line of a batch by a pixel, int() instead of ceil(); we keep every line's ratio.)
        width = max(self.min_width, math.ceil(self.height * image.width / image.height))
        return [_line_tensor(image.numpy, self.height, width)], None

    def postprocess(
        self, outputs: list[np.ndarray], context: None, image: WorkflowImage, options: dict
    ) -> dict[str, Any]:
        text, confidence = ctc_greedy_decode(outputs[0], self.characters)
        return {"text": text, "confidence": confidence, "parent_id": image.image_id}

    def collate(self, elements: list[list[np.ndarray]]) -> list[tuple[list[int], list[np.ndarray]]]:
        """Lines sorted by width, ``batch_group_size`` at a time, zero-padded on the right
        to the widest of their group (rapidocr's batching: little padding is wasted)."""
        order = sorted(range(len(elements)), key=lambda i: elements[i][0].shape[-1])
        groups = []
        for start in range(0, len(order), self.group_size):
            positions = order[start : start + self.group_size]
            lines = [elements[i][0] for i in positions]
            batch = np.zeros((len(lines), *lines[-1].shape), dtype=np.float32)  # last: widest
            for row, line in enumerate(lines):
                batch[row, :, :, : line.shape[-1]] = line
            groups.append((positions, [batch]))
        return groups
