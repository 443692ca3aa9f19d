"""What Roboflow's image and visualisation blocks cost against calling OpenCV / supervision
directly. Prints figures, asserts nothing.

    .venv/bin/python bench/blocks.py            # the full run (about 2 min on 2 cores)
    .venv/bin/python bench/blocks.py --quick    # a smoke run with fewer repeats
    .venv/bin/python bench/blocks.py --only 2   # one figure

Figures 1 and 2 (bench/README.md explains them): for each block, images/s of a one-step
workflow (Roboflow's document format) at batch 1, against the same OpenCV / supervision call
made directly on the numpy array (with the copy the block must make, e.g. ``copy_image``),
sampled alternately in the same process; best of N. Figure 1 on skimage's astronaut
(512x512, BGR), figure 2 on the astronaut scaled to a full-HD camera frame (1920x1080, the
frames video workflows see), boxes, masks and zone scaled with it. The engine's cost per
run is the same at both sizes; the operations cost more on the larger frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import supervision as sv

from _report import Row, print_header, print_row, run_figures
from engine_overhead import Settings, _timed, loops_for
from visionflow import Workflow
from visionflow.data.image import WorkflowImage
from visionflow.serialization import deserialize_detections

FULL = Settings(repeats=13, min_seconds=0.1, import_runs=0)
QUICK = Settings(repeats=3, min_seconds=0.02, import_runs=0)
TARGET = 0.9  # visionflow's images/s as a share of the direct call's (issue 12)

# --- inputs ------------------------------------------------------------------------------

# x_min, y_min, x_max, y_max on the 512x512 astronaut: face, flag, helmet, hands, badge
BOXES = [
    [170, 20, 300, 190],
    [380, 0, 512, 130],
    [140, 0, 330, 110],
    [20, 300, 180, 470],
    [300, 320, 420, 430],
]
CLASSES = ["face", "flag", "helmet", "hand", "badge"]


def astronaut(size: tuple[int, int] = (512, 512)) -> np.ndarray:
    """skimage's astronaut, BGR (as OpenCV reads images), at ``size`` (width, height)."""
    from skimage import data

    pixels = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    return pixels if size == (512, 512) else cv2.resize(pixels, size)


def roboflow_predictions(with_masks: bool, size: tuple[int, int] = (512, 512)) -> dict[str, Any]:
    """The boxes (scaled from the 512x512 astronaut to ``size``) in Roboflow's JSON form
    (centre, size); with an octagon outline each when ``with_masks`` (a segmentation)."""
    predictions = []
    sx, sy = size[0] / 512, size[1] / 512
    scaled = [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in BOXES]
    for class_id, ((x1, y1, x2, y2), name) in enumerate(zip(scaled, CLASSES, strict=True)):
        item = {
            "x": (x1 + x2) / 2,
            "y": (y1 + y2) / 2,
            "width": x2 - x1,
            "height": y2 - y1,
            "confidence": 0.9 - 0.1 * class_id,
            "class": name,
            "class_id": class_id,
            "detection_id": f"det-{class_id}",
        }
        if with_masks:
            item["points"] = _octagon(x1, y1, x2, y2)
        predictions.append(item)
    return {"image": {"width": size[0], "height": size[1]}, "predictions": predictions}


def _octagon(x1: float, y1: float, x2: float, y2: float) -> list[dict[str, float]]:
    dx, dy = (x2 - x1) / 3, (y2 - y1) / 3
    corners = [
        (x1 + dx, y1), (x2 - dx, y1), (x2, y1 + dy), (x2, y2 - dy),
        (x2 - dx, y2), (x1 + dx, y2), (x1, y2 - dy), (x1, y1 + dy),
    ]  # fmt: skip
    return [{"x": x, "y": y} for x, y in corners]


# --- the cases ---------------------------------------------------------------------------


@dataclass
class Case:
    """One block: its step (fields beside ``type``/``name``/``image``/``predictions``) and
    the direct call doing the same work on a BGR array and (maybe) detections."""

    label: str
    step: dict[str, Any]
    direct: Callable[[np.ndarray, sv.Detections | None], np.ndarray]
    predictions: str | None = None  # "boxes" or "masks": the step takes detections


def _kernel(size: int) -> np.ndarray:
    return np.ones((size, size), np.uint8)


CLOSING = _kernel(5)
PALETTE = {"color": sv.ColorPalette.DEFAULT, "color_lookup": sv.ColorLookup.CLASS}
BOX = sv.BoxAnnotator(thickness=2, **PALETTE)
LABEL = sv.LabelAnnotator(
    text_position=sv.Position.TOP_LEFT,
    text_color=sv.Color.WHITE,
    text_scale=1.0,
    text_thickness=1,
    text_padding=10,
    border_radius=0,
    **PALETTE,
)
MASK = sv.MaskAnnotator(opacity=0.5, **PALETTE)
BLUR = sv.BlurAnnotator(kernel_size=15)
ZONE = [[100, 60], [420, 60], [480, 250], [400, 460], [120, 460], [40, 250]]
ZONE_BGR = (0x73, 0xB5, 0x5B)  # Roboflow's zone green, #5bb573

CASES = [
    Case(
        "image_blur (gaussian, 5)",
        {"type": "roboflow_core/image_blur@v1", "blur_type": "gaussian", "kernel_size": 5},
        lambda a, d: cv2.GaussianBlur(a, (5, 5), 0),
    ),
    Case(
        "threshold (binary, 127)",
        {"type": "roboflow_core/threshold@v1", "threshold_type": "binary", "thresh_value": 127},
        lambda a, d: cv2.threshold(a, 127, 255, cv2.THRESH_BINARY)[1],
    ),
    Case(
        "convert_grayscale",
        {"type": "roboflow_core/convert_grayscale@v1"},
        lambda a, d: cv2.cvtColor(a, cv2.COLOR_BGR2GRAY),
    ),
    Case(
        "image_preprocessing (resize 256x256)",
        {
            "type": "roboflow_core/image_preprocessing@v1",
            "task_type": "resize",
            "width": 256,
            "height": 256,
        },
        lambda a, d: cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA),
    ),
    Case(
        "morphological_transformation v1 (Closing)",
        {"type": "roboflow_core/morphological_transformation@v1", "operation": "Closing"},
        lambda a, d: cv2.morphologyEx(
            cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.MORPH_CLOSE, CLOSING
        )[:, :, None],
    ),
    Case(
        "bilateral_filter (diameter 9, sigmas 75)",
        {"type": "roboflow_core/bilateral_filter@v1"},
        lambda a, d: cv2.bilateralFilter(a, 9, 75, 75),
    ),
    Case(
        "polygon_zone_visualization (a 6-point zone)",
        {"type": "roboflow_core/polygon_zone_visualization@v1", "zone": ZONE},
        lambda a, d: cv2.addWeighted(
            cv2.fillPoly(np.zeros_like(a), [np.array(ZONE, np.int32)], ZONE_BGR), 0.3, a, 1, 0
        ),
    ),
    Case(
        "bounding_box_visualization (5 boxes)",
        {"type": "roboflow_core/bounding_box_visualization@v1"},
        lambda a, d: BOX.annotate(scene=a.copy(), detections=d),
        "boxes",
    ),
    Case(
        "label_visualization (5 class labels)",
        {"type": "roboflow_core/label_visualization@v1"},
        lambda a, d: LABEL.annotate(scene=a.copy(), detections=d, labels=list(d["class_name"])),
        "boxes",
    ),
    Case(
        "mask_visualization (5 masks)",
        {"type": "roboflow_core/mask_visualization@v1"},
        lambda a, d: MASK.annotate(scene=a.copy(), detections=d),
        "masks",
    ),
    Case(
        "blur_visualization (5 boxes, kernel 15)",
        {"type": "roboflow_core/blur_visualization@v1"},
        lambda a, d: BLUR.annotate(scene=a.copy(), detections=d),
        "boxes",
    ),
]


def definition(case: Case) -> dict[str, Any]:
    """A one-step workflow in Roboflow's document format."""
    inputs: list[dict[str, Any]] = [{"type": "WorkflowImage", "name": "image"}]
    step = {"name": "step", "image": "$inputs.image", **case.step}
    if case.predictions:
        kind = (
            "instance_segmentation_prediction"
            if case.predictions == "masks"
            else "object_detection_prediction"
        )
        inputs.append({"type": "WorkflowBatchInput", "name": "predictions", "kind": [kind]})
        step["predictions"] = "$inputs.predictions"
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": [step],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.step.image"}],
    }


# --- figure 1 ----------------------------------------------------------------------------


def figure_small(settings: Settings) -> list[Row]:
    return figure_blocks(settings, 1, (512, 512))


def figure_full_hd(settings: Settings) -> list[Row]:
    return figure_blocks(settings, 2, (1920, 1080))


def figure_blocks(settings: Settings, number: int, size: tuple[int, int]) -> list[Row]:
    width, height = size
    print_header(
        f"[{number}] One-step workflow vs the direct OpenCV / supervision call "
        f"({width}x{height}, batch 1)"
    )
    # OpenCV's own threads (2 here) make its filters slower and erratic on a busy 2-core
    # machine (a 5x5 Gaussian: ~265 us with one thread, 400-470 us with two); one thread
    # gives both sides the same, steady cost.
    cv2.setNumThreads(1)
    pixels = astronaut(size)
    # Read once, as the engine reads Roboflow's JSON, and given to both sides as the same
    # supervision.Detections: the figure is about the block, not about parsing its input.
    detections = {
        kind: deserialize_detections(roboflow_predictions(kind == "masks", size), "predictions")
        for kind in ("boxes", "masks")
    }
    rows = []
    for case in CASES:
        workflow = Workflow.compile(definition(case), cache=False)
        found = detections[case.predictions] if case.predictions else None
        given = {"image": pixels} | ({"predictions": found} if found is not None else {})
        block, arguments = _block_call(workflow, given)
        _check_same_pixels(case, workflow, given, pixels, found)
        direct, alone, engine = interleaved_seconds(
            [
                lambda c=case, d=found: c.direct(pixels, d),
                lambda b=block, a=arguments: b.run(**a),
                lambda w=workflow, g=given: w.run(**g),
            ],
            settings,
        )
        # Best of N: on a shared machine noise only ever adds time, to each side.
        direct_rate, engine_rate = 1 / min(direct), 1 / min(engine)
        share = engine_rate / direct_rate
        rows.append(
            print_row(
                Row(
                    f"{case.label} [{number}]",
                    f"{engine_rate:.0f} images/s",
                    f">= {TARGET:.2f}x direct",
                    share >= TARGET,
                    f"{share:.3f}x of {direct_rate:.0f}/s; +{_us(min(engine) - min(direct))} us: "
                    f"block {_us(min(alone) - min(direct))}, "
                    f"engine {_us(min(engine) - min(alone))}",
                )
            )
        )
    if number == 1:
        rows.extend(_floor_rows(pixels, detections["boxes"], settings))
        rows.append(_image_objects_row(pixels, settings))
    return rows


def _image_objects_row(pixels: np.ndarray, settings: Settings) -> Row:
    """The threshold row done by hand with nothing but the two objects any image block
    makes (the input as a ``WorkflowImage``, the result an image derived from it, as
    Roboflow's ``copy_and_replace``): no engine, no block. Its share is the most a
    workflow of that block could reach; what it lacks of 1.00x is not the engine's."""

    def direct() -> np.ndarray:
        return cv2.threshold(pixels, 127, 255, cv2.THRESH_BINARY)[1]

    def by_hand() -> WorkflowImage:
        image = WorkflowImage(pixels)
        return image.region(cv2.threshold(pixels, 127, 255, cv2.THRESH_BINARY)[1], 0, 0)

    plain, objects = interleaved_seconds([direct, by_hand], settings)
    share = min(plain) / min(objects)
    return print_row(
        Row(
            "threshold by hand: image objects only",
            f"{share:.3f}x direct",
            compare=f"+{_us(min(objects) - min(plain))} us of {_us(min(plain))}; no engine",
        )
    )


def _floor_rows(pixels: np.ndarray, found: sv.Detections, settings: Settings) -> list[Row]:
    """What a run with no step costs: the engine's floor under every row above."""
    rows = []
    for label, given in (
        ("no step: image in, image out", {"image": pixels}),
        ("no step: image and detections in and out", {"image": pixels, "predictions": found}),
    ):
        workflow = Workflow.compile(_no_step(list(given)), cache=False)
        (samples,) = interleaved_seconds([lambda w=workflow, g=given: w.run(**g)], settings)
        rows.append(print_row(Row(label, f"{_us(min(samples))} us/run", compare="best of N")))
    return rows


def _no_step(names: list[str]) -> dict[str, Any]:
    kinds = {"predictions": ["object_detection_prediction"]}
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": name, "kind": kinds[name]}
            if name in kinds
            else {"type": "WorkflowImage", "name": name}
            for name in names
        ],
        "steps": [],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$inputs.{name}"} for name in names
        ],
    }


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def interleaved_seconds(
    functions: list[Callable[[], Any]], settings: Settings
) -> list[list[float]]:
    """Samples of each function's time per call, taken in turn (as engine_overhead's
    ``paired_seconds``, for more than two), so drift on a busy machine hits all alike."""
    loops = loops_for(functions[0], settings.min_seconds)
    for function in functions[1:]:
        function()  # warm
    samples: list[list[float]] = [[] for _ in functions]
    for _ in range(settings.repeats):
        for function, taken in zip(functions, samples, strict=True):
            taken.append(_timed(function, loops) / loops)
    return samples


def _block_call(workflow: Workflow, given: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The step's block and the arguments the engine calls its ``run`` with (caught once),
    to time the block's own code without the engine around it."""
    block = workflow.plan.steps["step"].block
    caught: dict[str, Any] = {}
    original = block.run

    def catching(**arguments: Any) -> Any:
        caught.update(arguments)
        return original(**arguments)

    block.run = catching  # an instance attribute, read by the engine for this one run
    try:
        workflow.run(**given)
    finally:
        del block.run
    return block, caught


def _check_same_pixels(
    case: Case,
    workflow: Workflow,
    given: dict[str, Any],
    pixels: np.ndarray,
    found: sv.Detections | None,
) -> None:
    ours = workflow.run(**given)[0]["image"].numpy
    theirs = case.direct(pixels, found)
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        print(f"  WARNING: {case.label}: the workflow and the direct call give other pixels")


# --- main --------------------------------------------------------------------------------

FIGURES = {1: figure_small, 2: figure_full_hd}


def main(argv: list[str] | None = None) -> None:
    run_figures(FIGURES, FULL, QUICK, __doc__, argv)


if __name__ == "__main__":
    main()
