"""Exact areas of simple polygons and of their intersections, on numpy: shoelace areas, a
simple-polygon test (what shapely calls valid, for a ring) and the area two simple polygons
share, giving shapely's values (what Roboflow's overlap analysis uses). For that block:
shapely is not a dependency, and pyclipper (an optional extra) clips on integer coordinates
only. Everything is vectorised over the pairs of edges that can meet (found by a sweep):
mask outlines have thousands of points."""

from __future__ import annotations

import numpy as np

_PAIRS_AT_ONCE = 2_000_000  # edge pairs compared in one numpy step (memory, not speed)


def polygon_area(points: np.ndarray) -> float:
    """Signed area (shoelace): positive when the points turn anticlockwise in x-right,
    y-up axes."""
    x, y = points[:, 0], points[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def is_simple_polygon(points: np.ndarray) -> bool:
    """A ring with an area whose edges meet only their neighbours, at their shared ends."""
    points = _without_repeats(np.asarray(points, dtype=float))
    count = len(points)
    if count < 3 or polygon_area(points) == 0:
        return False
    ends = np.roll(points, -1, axis=0)
    first, second = _near_pairs(points, ends, points, ends, 0.0)
    # edges two or more apart; the last edge is the first one's neighbour
    apart = (second > first + 1) & ~((first == 0) & (second == count - 1))
    first, second = first[apart], second[apart]
    meet = _segments_meet(points[first], ends[first], points[second], ends[second])
    return not meet.any()


def _without_repeats(points: np.ndarray) -> np.ndarray:
    kept = np.any(points != np.roll(points, -1, axis=0), axis=1)
    return points[kept] if kept.any() else points[:1]


def _near_pairs(
    starts: np.ndarray,
    ends: np.ndarray,
    others: np.ndarray,
    other_ends: np.ndarray,
    gap: float,
    axis: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j) of segments i of one set and j of another whose bounding boxes meet
    (or come within ``gap``): the only pairs that can cross or touch. A sweep along
    ``axis``: the others sorted by where they begin there, each segment looks only at
    those beginning less than the longest other's extent before it."""
    low, high = np.minimum(starts, ends) - gap, np.maximum(starts, ends) + gap
    other_low, other_high = np.minimum(others, other_ends), np.maximum(others, other_ends)
    order = np.argsort(other_low[:, axis], kind="stable")
    begins = other_low[order, axis]
    reach = float((other_high - other_low)[:, axis].max(initial=0.0))
    first = np.searchsorted(begins, low[:, axis] - reach, side="left")
    counts = np.searchsorted(begins, high[:, axis], side="right") - first
    found_i, found_j = [], []
    limits = np.cumsum(counts)
    done, position = 0, 0
    while position < len(starts):  # blocks of at most _PAIRS_AT_ONCE candidate pairs
        stop = max(position + 1, int(np.searchsorted(limits, done + _PAIRS_AT_ONCE, "right")))
        block = np.arange(position, stop)
        i = np.repeat(block, counts[block])
        offsets = np.arange(len(i)) - np.repeat(limits[block] - counts[block] - done, counts[block])
        j = order[np.repeat(first[block], counts[block]) + offsets]
        meet = np.all((low[i] <= other_high[j]) & (other_low[j] <= high[i]), axis=1)
        found_i.append(i[meet])
        found_j.append(j[meet])
        done, position = int(limits[stop - 1]), stop
    if not found_i:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.concatenate(found_i), np.concatenate(found_j)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _segments_meet(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether segment a-b meets segment c-d (crossing or touching), broadcast."""

    def turn(p, q, r):
        return np.sign(_cross(q - p, r - p))

    def within(p, q, r):  # r on the line p-q: inside the segment's bounds
        low, high = np.minimum(p, q), np.maximum(p, q)
        return np.all((low <= r) & (r <= high), axis=-1)

    d1, d2, d3, d4 = turn(c, d, a), turn(c, d, b), turn(a, b, c), turn(a, b, d)
    crossing = (d1 * d2 < 0) & (d3 * d4 < 0)
    touching = (
        ((d1 == 0) & within(c, d, a))
        | ((d2 == 0) & within(c, d, b))
        | ((d3 == 0) & within(a, b, c))
        | ((d4 == 0) & within(a, b, d))
    )
    return crossing | touching


def intersection_area(one: np.ndarray, other: np.ndarray) -> float:
    """The area two simple polygons share, by Green's theorem: the outline of their common
    part is made of the pieces of each outline that lie inside the other (a stretch both
    outlines run along in the same direction counted once; in opposite directions, where
    the polygons only touch, not at all); its area is the shoelace sum over those pieces."""
    one, other = _anticlockwise(one), _anticlockwise(other)
    if len(one) < 3 or len(other) < 3:
        return 0.0
    return max(0.0, (_inner_pieces(one, other, True) + _inner_pieces(other, one, False)) / 2)


def _anticlockwise(points: np.ndarray) -> np.ndarray:
    points = _without_repeats(np.asarray(points, dtype=float))
    return points[::-1] if polygon_area(points) < 0 else points


def _inner_pieces(path: np.ndarray, shape: np.ndarray, shared: bool) -> float:
    """Twice the shoelace sum of the pieces of ``path``'s outline inside ``shape``'s (and,
    with ``shared``, of those along ``shape``'s outline in the same direction)."""
    ends, corners = np.roll(path, -1, axis=0), shape
    steps, sides = ends - path, np.roll(shape, -1, axis=0) - shape
    # lengths: a tolerance for "on a line", relative to the coordinates' size
    tolerance = 1e-9 * (1.0 + float(np.abs(np.concatenate([path, shape])).max()))
    edge, side = _near_pairs(path, ends, corners, corners + sides, tolerance)
    offset, step = corners[side] - path[edge], steps[edge]
    denominator = _cross(step, sides[side])
    with np.errstate(divide="ignore", invalid="ignore"):
        along = _cross(offset, sides[side]) / denominator
        across = _cross(offset, step) / denominator
    exact = 1e-12
    crossing = (denominator != 0) & (np.minimum(along, across) >= -exact)
    crossing &= np.maximum(along, across) <= 1 + exact
    # the other outline's corners on an edge: where stretches along both outlines begin/end
    length = np.sqrt((step**2).sum(axis=1))
    place = (offset * step).sum(axis=1) / length**2
    corner_on = (np.abs(_cross(step, offset)) <= tolerance * length) & (place > 0) & (place < 1)
    count = len(path)
    cut_edges = np.concatenate([np.arange(count), np.arange(count), edge[crossing],
                                edge[corner_on]])  # fmt: skip
    cuts = np.concatenate([np.zeros(count), np.ones(count),
                           np.clip(along[crossing], 0.0, 1.0), place[corner_on]])  # fmt: skip
    order = np.lexsort((cuts, cut_edges))
    cut_edges, cuts = cut_edges[order], cuts[order]
    piece = (cut_edges[1:] == cut_edges[:-1]) & (cuts[1:] - cuts[:-1] > 1e-12)
    which = cut_edges[:-1][piece]
    low = path[which] + cuts[:-1][piece, None] * steps[which]
    high = path[which] + cuts[1:][piece, None] * steps[which]
    counted = _counted(low, high, corners, sides, tolerance, shared)
    return float(_cross(low[counted], high[counted]).sum())


def _counted(
    low: np.ndarray,
    high: np.ndarray,
    corners: np.ndarray,
    sides: np.ndarray,
    tolerance: float,
    shared: bool,
) -> np.ndarray:
    """Which pieces (low -> high) lie inside the outline (corners, sides); a piece along
    it counts when ``shared`` and both run the same way."""
    middle = (low + high) / 2
    # along the outline: the middle on a side (pairs found by bounding boxes first)
    point, side = _near_pairs(middle, middle, corners, corners + sides, tolerance)
    offset = middle[point] - corners[side]
    length = np.sqrt((sides[side] ** 2).sum(axis=1))
    place = (offset * sides[side]).sum(axis=1) / length**2
    along = (np.abs(_cross(sides[side], offset)) <= tolerance * length) & (place >= 0)
    along &= place <= 1
    on_outline = np.zeros(len(middle), dtype=bool)
    on_outline[point[along]] = True
    same_way = np.zeros(len(middle), dtype=bool)
    runs_with = (high - low)[point] * sides[side]
    same_way[point[along & (runs_with.sum(axis=1) > 0)]] = True
    # inside: an odd number of sides crossed by a ray towards +x (half-open rule)
    ray_ends = np.column_stack([np.full(len(middle), corners[:, 0].max() + 1), middle[:, 1]])
    point, side = _near_pairs(middle, ray_ends, corners, corners + sides, 0.0, axis=1)
    x, y = middle[point, 0], middle[point, 1]
    y_low, y_high = corners[side, 1], corners[side, 1] + sides[side, 1]
    spans = (y_low > y) != (y_high > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = corners[side, 0] + (y - y_low) / (y_high - y_low) * sides[side, 0]
    crossings = np.bincount(point[spans & (x < at)], minlength=len(middle))
    inside = crossings % 2 == 1
    return np.where(on_outline, shared & same_way, inside)
