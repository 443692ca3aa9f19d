"""OpenCV's cascade classifiers (Haar or LBP features, e.g. the Haar cascades that ship
with opencv-python) as a model runtime: ``runtime: opencv_cascade``, a ``.xml`` file.

The "session" is one ``cv2.CascadeClassifier`` behind the ``Session`` interface, so that a
cascade is served by the model pool like any other model: a batch is a loop over its
images. Its two inputs, per element, are the gray image (any size: the head's ``collate``
puts images of different sizes in one call, as an object array) and the ``detectMultiScale``
parameters; its two outputs, per element, are the boxes (n x 4, x y w h) and how many raw
detections each box merges (``detectMultiScale2``'s numDetections, a rough strength).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from visionflow.errors import ModelError
from visionflow.models.runtime import RunHandle, RunStoppedError, Session, TensorInfo

# The order of the parameters input: scale factor, min neighbours, min size, max size
# (sizes in pixels, width then height; 0 x 0 for no bound).
PARAMETERS = ("scale_factor", "min_neighbors", "min_width", "min_height", "max_width", "max_height")


def objects(items: list) -> np.ndarray:
    """A 1-D object array of ``items`` (arrays of any shapes), one per batch element."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def images_with_parameters(
    elements: list[list[np.ndarray]],
) -> list[tuple[list[int], list[np.ndarray]]]:
    """A batch of (image, parameters) elements as ONE session call: the images, of any
    sizes, as an object array, their parameters stacked (a looping session's collate)."""
    images = objects([tensors[0] for tensors in elements])
    return [(list(range(len(elements))), [images, np.stack([t[1] for t in elements])])]


class CascadeSession(Session):
    fixed_batch = False
    stoppable = False  # detectMultiScale cannot be interrupted: stops come between images

    def __init__(self, path: Path):
        import cv2

        self._classifier = cv2.CascadeClassifier(str(path))
        if self._classifier.empty():
            raise ModelError(
                f"OpenCV cannot load the cascade '{path.name}'",
                hint="give a cascade classifier .xml file (Haar or LBP), as cv2.data.haarcascades",
            )
        self.inputs = [
            TensorInfo("image", (None, None, None), np.dtype(np.uint8)),
            TensorInfo("parameters", (None, len(PARAMETERS)), np.dtype(np.float64)),
        ]
        self.outputs = [
            TensorInfo("boxes", (None, None, 4), np.dtype(np.int32)),
            TensorInfo("neighbors", (None, None), np.dtype(np.int32)),
        ]
        self.metadata: dict[str, str] = {}
        # A classifier keeps scratch buffers: one detectMultiScale at a time on each.
        self._lock = threading.Lock()

    def run(self, feeds: list[np.ndarray], handle: RunHandle | None = None) -> list[np.ndarray]:
        boxes, neighbors = [], []
        for image, parameters in zip(feeds[0], feeds[1], strict=True):
            if handle is not None and handle.stopped:
                raise RunStoppedError("the call was stopped")
            found, counts = self._detect(image, parameters)
            boxes.append(found)
            neighbors.append(counts)
        return [objects(boxes), objects(neighbors)]

    def _detect(self, image: np.ndarray, parameters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale, neighbors, min_w, min_h, max_w, max_h = (float(p) for p in parameters)
        with self._lock:
            found, counts = self._classifier.detectMultiScale2(
                image,
                scaleFactor=scale,
                minNeighbors=int(neighbors),
                minSize=(int(min_w), int(min_h)),
                maxSize=(int(max_w), int(max_h)),
            )
        # OpenCV answers an empty tuple when nothing is found
        return (
            np.asarray(found, dtype=np.int32).reshape(-1, 4),
            np.asarray(counts, dtype=np.int32).reshape(-1),
        )
