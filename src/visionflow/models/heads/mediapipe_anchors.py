"""MediaPipe's SSD decoding, done the way its calculators do it.

- ``ssd_anchors``: ``SsdAnchorsCalculator`` (anchor centres per feature-map cell; layers of
  equal stride share one map);
- ``decode_ssd``: ``TensorsToDetectionsCalculator`` with ``reverse_output_order: true``
  (x, y, w, h, then x, y per keypoint, all relative to the anchor and divided by the
  x/y/w/h scales), scores through a clipped sigmoid;
- ``weighted_nms``: ``NonMaxSuppressionCalculator`` with ``algorithm: WEIGHTED``: each kept
  detection is the score-weighted mean of the boxes and keypoints it suppresses.

Everything here works in coordinates relative to the model's input tensor (0..1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorOptions:
    """The ``SsdAnchorsCalculatorOptions`` fields that MediaPipe's face and pose graphs use."""

    input_width: int
    input_height: int
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: tuple[float, float] = (0.5, 0.5)
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0  # the proto's default
    fixed_anchor_size: bool = True


def _layer_scale(options: AnchorOptions, layer: int) -> float:
    count = len(options.strides)
    if count == 1:
        return (options.min_scale + options.max_scale) / 2
    return options.min_scale + (options.max_scale - options.min_scale) * layer / (count - 1)


def ssd_anchors(options: AnchorOptions) -> np.ndarray:
    """(N, 4) anchors: x_centre, y_centre, width, height, relative to the input tensor."""
    strides = options.strides
    anchors: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers of the same stride share one feature map: their anchors are
        # interleaved per cell, in layer order (this is what fixes the output's box order).
        sizes: list[tuple[float, float]] = []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _layer_scale(options, last)
            sizes += [(scale * math.sqrt(r), scale / math.sqrt(r)) for r in options.aspect_ratios]
            if options.interpolated_scale_aspect_ratio > 0:
                following = 1.0 if last == len(strides) - 1 else _layer_scale(options, last + 1)
                ratio = math.sqrt(options.interpolated_scale_aspect_ratio)
                mean = math.sqrt(scale * following)
                sizes.append((mean * ratio, mean / ratio))
            last += 1
        rows = math.ceil(options.input_height / strides[layer])
        columns = math.ceil(options.input_width / strides[layer])
        offset_x, offset_y = options.anchor_offset
        for y in range(rows):
            for x in range(columns):
                for width, height in sizes:
                    if options.fixed_anchor_size:
                        width = height = 1.0
                    anchors.append(((x + offset_x) / columns, (y + offset_y) / rows, width, height))
        layer = last
    return np.array(anchors, dtype=np.float32)


def decode_ssd(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    scales: tuple[float, float, float, float],
    score_clipping: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative xyxy boxes (N, 4), keypoints (N, K, 2) and scores (N,) of every anchor.

    ``raw_boxes`` is (N, 4 + 2K) in x, y, w, h, kx, ky... order; ``scales`` are MediaPipe's
    x_scale, y_scale, w_scale, h_scale (the input size in pixels for its face/pose models).
    """
    x_scale, y_scale, w_scale, h_scale = scales
    anchor_xy, anchor_wh = anchors[:, None, :2], anchors[:, None, 2:]
    centre = raw_boxes[:, 0:2] / (x_scale, y_scale) * anchors[:, 2:] + anchors[:, :2]
    size = raw_boxes[:, 2:4] / (w_scale, h_scale) * anchors[:, 2:]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    keypoints = raw_boxes[:, 4:].reshape(len(raw_boxes), -1, 2)
    keypoints = keypoints / (x_scale, y_scale) * anchor_wh + anchor_xy
    # MediaPipe's score_clipping_thresh; float64 keeps exp(100) finite.
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -score_clipping, score_clipping)
    scores = 1.0 / (1.0 + np.exp(-logits))
    return boxes.astype(np.float32), keypoints.astype(np.float32), scores.astype(np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-max suppression; returns kept boxes, keypoints, scores.

    Take the best remaining detection; every remaining one overlapping it by more than
    ``iou_threshold`` (itself included) is merged into a score-weighted mean of boxes and
    keypoints, which keeps the best one's score. Blending the anchors' guesses steadies
    the box and its landmarks more than keeping only the best anchor would.
    """
    order = np.argsort(-scores, kind="stable")
    kept_boxes, kept_keypoints, kept_scores = [], [], []
    while len(order):
        best = order[0]
        overlapping = _iou(boxes[best], boxes[order]) > iou_threshold
        overlapping[0] = True  # the best one even when its box is degenerate
        merged = order[overlapping]
        weights = scores[merged][:, None]
        total = float(weights.sum())
        kept_boxes.append((boxes[merged] * weights).sum(axis=0) / total)
        kept_keypoints.append((keypoints[merged] * weights[:, :, None]).sum(axis=0) / total)
        kept_scores.append(scores[best])
        order = order[~overlapping]
    count = len(kept_scores)
    return (
        np.array(kept_boxes, dtype=np.float32).reshape(count, 4),
        np.array(kept_keypoints, dtype=np.float32).reshape(count, *keypoints.shape[1:]),
        np.array(kept_scores, dtype=np.float32),
    )
