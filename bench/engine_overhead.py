"""How much the engine costs on top of the work its blocks do. Prints figures, asserts nothing.

    .venv/bin/python bench/engine_overhead.py            # the full run (well under 2 minutes)
    .venv/bin/python bench/engine_overhead.py --quick    # a smoke run with fewer repeats
    .venv/bin/python bench/engine_overhead.py --only 2,3 # some figures only

Figures (targets from DESIGN.md section 8; bench/README.md explains each one):
1. compile time of chains of light steps, no plan cache;
2. run overhead per step per element of pass-through chains;
3. images/s of a detect -> crop -> classify -> replace workflow vs a plain Python loop
   calling the same block instances;
4. wall time of three independent 50 ms steps (they should overlap);
5. ``import visionflow`` time and which heavy libraries it pulls in.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from _report import Row, print_header, print_row, run_figures
from visionflow import Batch, Block, Output, Selector, Workflow, WorkflowImage
from visionflow.data.detections import attach_image_metadata, detection_ids

# --- light blocks ------------------------------------------------------------------------


class PassThrough(Block):
    """Returns its value: the cheapest possible step."""

    class Manifest(Block.Manifest):
        type: Literal["bench/pass@v1"]
        value: Selector()

    outputs = [Output("value")]

    def run(self, value: Any) -> dict[str, Any]:
        return {"value": value}


class BatchPassThrough(Block):
    """Returns its values, taking the whole batch in one call."""

    class Manifest(Block.Manifest):
        type: Literal["bench/pass_batch@v1"]
        value: Selector()

    outputs = [Output("value")]
    accepts_batches = True

    def run(self, value: Batch) -> list[dict[str, Any]]:
        return [{"value": item} for item in value]


class Sleep(Block):
    """Sleeps, like a model call that releases the GIL, then returns its value."""

    class Manifest(Block.Manifest):
        type: Literal["bench/sleep@v1"]
        value: Selector()
        seconds: float

    outputs = [Output("value")]

    def run(self, value: Any, seconds: float) -> dict[str, Any]:
        time.sleep(seconds)
        return {"value": value}


BOXES = [  # x_min, y_min, x_max, y_max in a 640x480 image: 130-200 px wide and high
    [40, 60, 200, 240],
    [250, 40, 400, 190],
    [420, 100, 600, 300],
    [100, 280, 260, 420],
    [330, 260, 460, 440],
]
BOX_CLASSES = ["person", "car", "dog", "cat", "bird"]


class FiveBoxesDetector(Block):
    """A stand-in detector: the same five boxes on every image."""

    class Manifest(Block.Manifest):
        type: Literal["bench/five_boxes@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]

    def run(self, image: WorkflowImage) -> dict[str, Any]:
        import supervision as sv

        detections = sv.Detections(
            xyxy=np.array(BOXES, dtype=float),
            confidence=np.linspace(0.9, 0.5, len(BOXES)),
            class_id=np.arange(len(BOXES)),
            data={"class_name": np.array(BOX_CLASSES, dtype=object)},
        )
        return {"predictions": attach_image_metadata(detections, image)}


class MeanPixelClassifier(Block):
    """A stand-in classifier: the class is the crop's brightest BGR channel."""

    class Manifest(Block.Manifest):
        type: Literal["bench/mean_pixel@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("predictions", kinds=["classification_prediction"])]
    accepts_batches = True

    def run(self, image: Batch) -> list[dict[str, Any]]:
        return [{"predictions": _classify(crop)} for crop in image]


def _classify(crop: WorkflowImage) -> dict[str, Any]:
    import cv2

    means = cv2.mean(crop.numpy)[:3]  # about 10x faster than numpy's mean on a crop view
    total = float(sum(means)) or 1.0
    predictions = [
        {"class": name, "class_id": class_id, "confidence": float(means[class_id]) / total}
        for class_id, name in enumerate(("blue", "green", "red"))
    ]
    top = max(predictions, key=lambda p: p["confidence"])
    return {
        "top": top["class"],
        "confidence": top["confidence"],
        "class_id": top["class_id"],
        "predictions": predictions,
        "parent_id": crop.image_id,
    }


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    repeats: int  # samples per figure; the median (or best) of them is reported
    min_seconds: float  # each sample loops until it lasts at least this long
    import_runs: int


FULL = Settings(repeats=7, min_seconds=0.05, import_runs=5)
QUICK = Settings(repeats=3, min_seconds=0.01, import_runs=3)


def loops_for(function: Callable[[], Any], min_seconds: float) -> int:
    """How many calls make one sample last ``min_seconds`` (after a warm-up call)."""
    function()
    loops = 1
    while True:
        elapsed = _timed(function, loops)
        if elapsed >= min_seconds:
            return loops
        loops = max(loops * 2, int(loops * min_seconds / max(elapsed, 1e-9) * 1.1))


def _timed(function: Callable[[], Any], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        function()
    return time.perf_counter() - start


def seconds_per_call(function: Callable[[], Any], settings: Settings) -> list[float]:
    """Samples of the time of one call (each sample averages over enough loops)."""
    loops = loops_for(function, settings.min_seconds)
    return [_timed(function, loops) / loops for _ in range(settings.repeats)]


def paired_seconds(
    baseline: Callable[[], Any], candidate: Callable[[], Any], settings: Settings
) -> tuple[list[float], list[float]]:
    """Samples of both, interleaved, so drift on a busy machine hits them alike."""
    loops = loops_for(baseline, settings.min_seconds)
    candidate()
    base, cand = [], []
    for _ in range(settings.repeats):
        base.append(_timed(baseline, loops) / loops)
        cand.append(_timed(candidate, loops) / loops)
    return base, cand


# --- the table ---------------------------------------------------------------------------


# --- workflows ---------------------------------------------------------------------------


def chain(steps: int, block_type: str = "bench/pass@v1") -> dict[str, Any]:
    """x -> s0 -> s1 -> ... -> s{steps-1} -> output."""
    previous = "$inputs.x"
    step_list = []
    for position in range(steps):
        step_list.append({"type": block_type, "name": f"s{position}", "value": previous})
        previous = f"$steps.s{position}.value"
    return {
        "inputs": [{"type": "batch", "name": "x"}],
        "steps": step_list,
        "outputs": [{"type": "JsonField", "name": "out", "selector": previous}],
    }


def detect_crop_classify() -> dict[str, Any]:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "bench/five_boxes@v1", "name": "detect", "image": "$inputs.image"},
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
            {"type": "bench/mean_pixel@v1", "name": "classify", "image": "$steps.crop.crops"},
            {
                "type": "DetectionsClassesReplacement",
                "name": "replace",
                "object_detection_predictions": "$steps.detect.predictions",
                "classification_predictions": "$steps.classify.predictions",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": "predictions", "selector": "$steps.replace.predictions"}
        ],
    }


def three_sleeps(seconds: float) -> dict[str, Any]:
    return {
        "inputs": [{"type": "batch", "name": "x"}],
        "steps": [
            {
                "type": "bench/sleep@v1",
                "name": f"sleep{n}",
                "value": "$inputs.x",
                "seconds": seconds,
            }
            for n in range(3)
        ],
        "outputs": [
            {"type": "JsonField", "name": f"v{n}", "selector": f"$steps.sleep{n}.value"}
            for n in range(3)
        ],
    }


BLOCKS = [PassThrough, BatchPassThrough, Sleep, FiveBoxesDetector, MeanPixelClassifier]


def compile_fresh(definition: dict[str, Any], **options: Any) -> Workflow:
    return Workflow.compile(definition, blocks=BLOCKS, cache=False, **options)


# --- figure 1: compile time --------------------------------------------------------------


def figure_compile(settings: Settings) -> list[Row]:
    print_header("[1] Compile time, no plan cache (Workflow.compile(..., cache=False))")
    rows = []
    for steps in (10, 50, 200):
        definition = chain(steps)
        samples = seconds_per_call(lambda d=definition: compile_fresh(d), settings)
        ms = statistics.median(samples) * 1e3
        target = (ms < 3.0) if steps == 50 else None
        rows.append(
            print_row(
                Row(
                    f"chain of {steps} pass-through steps",
                    f"{ms:.2f} ms",
                    "< 3 ms" if steps == 50 else "",
                    target,
                    f"{ms * 1e3 / steps:.0f} us/step",
                )
            )
        )
    return rows


# --- figure 2: run overhead --------------------------------------------------------------


def figure_run_overhead(settings: Settings) -> list[Row]:
    print_header("[2] Run overhead of pass-through chains: run time / (steps x batch)")
    empty = compile_fresh(chain(0))
    fixed = statistics.median(seconds_per_call(lambda: empty.run(x=[0]), settings))
    rows = [print_row(Row("fixed cost of a run with no steps, batch 1", f"{fixed * 1e6:.1f} us"))]
    targets = {1: 15.0, 64: 2.0}
    for block_type, label in (("bench/pass@v1", "pass"), ("bench/pass_batch@v1", "batch pass")):
        for steps in (10, 50):
            workflow = compile_fresh(chain(steps, block_type))
            for batch in (1, 8, 64):
                values = list(range(batch))
                samples = seconds_per_call(lambda w=workflow, v=values: w.run(x=v), settings)
                per = statistics.median(samples) / (steps * batch) * 1e6
                limit = targets.get(batch)
                judged = limit is not None and label == "pass"
                rows.append(
                    print_row(
                        Row(
                            f"{label} x{steps}, batch {batch}",
                            f"{per:.2f} us/step/el",
                            f"< {limit:g} us" if judged else "",
                            (per < limit) if judged else None,
                            f"run {statistics.median(samples) * 1e3:.2f} ms",
                        )
                    )
                )
    return rows


# --- figure 3: detect -> crop -> classify ------------------------------------------------


def photos(count: int) -> list[np.ndarray]:
    """Real photos, 640x480, BGR (as OpenCV reads them)."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    resized = [np.ascontiguousarray(cv2.resize(p, (640, 480))[:, :, ::-1]) for p in photos]
    return [resized[n % len(resized)] for n in range(count)]


class PlainLoop:
    """The same work as the workflow, written as a plain Python loop over the same blocks."""

    def __init__(self, workflow: Workflow):
        steps = workflow.plan.steps
        self.detector = steps["detect"].block
        self.classifier = steps["classify"].block
        self.replacement = steps["replace"].block

    def run(self, arrays: list[np.ndarray]) -> list[Any]:
        images = [WorkflowImage(array) for array in arrays]
        detections = [self.detector.run(image=image)["predictions"] for image in images]
        crops, indices = [], []
        for position, (image, found) in enumerate(zip(images, detections, strict=True)):
            boxes = found.xyxy.round().astype(int).tolist()
            for child, (box, crop_id) in enumerate(zip(boxes, detection_ids(found), strict=True)):
                crops.append(image.crop(*box, crop_id=crop_id))
                indices.append((position, child))
        classified = self.classifier.run(image=Batch(crops, indices))
        per_image: list[list] = [[] for _ in images]
        for index, outcome in zip(indices, classified, strict=True):
            per_image[index[0]].append((index, outcome["predictions"]))
        results = []
        for found, children in zip(detections, per_image, strict=True):
            batch = Batch([c for _, c in children], [i for i, _ in children])
            replaced = self.replacement.run(
                object_detection_predictions=found,
                classification_predictions=batch,
                fallback_class_name=None,
                fallback_class_id=-1,
            )
            results.append(replaced["predictions"])
        return results


def figure_pipeline(settings: Settings) -> list[Row]:
    print_header("[3] detect -> crop -> classify -> replace (5 boxes per 640x480 image)")
    workflow = compile_fresh(detect_crop_classify())
    baseline = PlainLoop(workflow)
    # The headline comparison: more and longer samples, to keep the ratio steady.
    settings = Settings(settings.repeats * 2 - 1, settings.min_seconds * 2, settings.import_runs)
    rows = []
    for batch, allowed in ((1, 1.20), (16, 1.10)):
        arrays = photos(batch)
        _check_same_classes(workflow, baseline, arrays)
        base, engine = paired_seconds(
            lambda a=arrays: baseline.run(a), lambda a=arrays: workflow.run(image=a), settings
        )
        # Best of N: on a shared machine noise only ever adds time, to either side.
        base_rate, engine_rate = batch / min(base), batch / min(engine)
        ratio = min(engine) / min(base)
        rows.append(
            print_row(Row(f"plain loop (baseline), batch {batch}", f"{base_rate:.0f} images/s"))
        )
        rows.append(
            print_row(
                Row(
                    f"visionflow, batch {batch}",
                    f"{engine_rate:.0f} images/s",
                    f"<= {allowed:.2f}x base",
                    ratio <= allowed,
                    f"{ratio:.3f}x baseline time, {(ratio - 1) * 1e6 / base_rate:+.0f} us/image",
                )
            )
        )
    return rows


def _check_same_classes(workflow: Workflow, baseline: PlainLoop, arrays: list[np.ndarray]) -> None:
    ours = [r["predictions"].data["class_name"].tolist() for r in workflow.run(image=arrays)]
    theirs = [d.data["class_name"].tolist() for d in baseline.run(arrays)]
    if ours != theirs:
        print(f"  WARNING: workflow and plain loop disagree: {ours[:1]} vs {theirs[:1]}")


# --- figure 4: independent steps overlap -------------------------------------------------


def figure_concurrency(settings: Settings) -> list[Row]:
    print_header("[4] Three independent 50 ms steps (sleeping, like a model that frees the GIL)")
    seconds = 0.05
    runs = max(3, settings.repeats - 2)
    concurrent = compile_fresh(three_sleeps(seconds))
    sequential = compile_fresh(three_sleeps(seconds), max_concurrent_steps=1)
    timings = {}
    for label, workflow in (("concurrent", concurrent), ("one at a time", sequential)):
        workflow.run(x=[0])
        timings[label] = statistics.median(
            _timed(lambda w=workflow: w.run(x=[0]), 1) for _ in range(runs)
        )
    ms = timings["concurrent"] * 1e3
    return [
        print_row(
            Row(
                "one run, default concurrency",
                f"{ms:.1f} ms",
                "< 60 ms",
                ms < 60,
                f"{timings['one at a time'] / timings['concurrent']:.2f}x faster "
                "than one at a time",
            )
        ),
        print_row(
            Row(
                "one run, max_concurrent_steps=1",
                f"{timings['one at a time'] * 1e3:.1f} ms",
                "",
                None,
                f"sequential sleeps alone: {3 * seconds * 1e3:.0f} ms",
            )
        ),
    ]


# --- figure 5: import time ---------------------------------------------------------------

WATCHED = ("supervision", "cv2", "fastapi", "ray", "onnxruntime")
FORBIDDEN = ("fastapi", "ray", "onnxruntime")

_IMPORT_PROBE = f"""
import json, sys, time
start = time.perf_counter()
import visionflow
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "loaded": [m for m in {WATCHED!r} if m in sys.modules]}}))
"""


def figure_import(settings: Settings) -> list[Row]:
    print_header("[5] import visionflow in a fresh interpreter")
    _probe_import()  # the first run may write bytecode caches
    probes = [_probe_import() for _ in range(settings.import_runs)]
    seconds = statistics.median(p["seconds"] for p in probes)
    loaded = sorted({m for p in probes for m in p["loaded"]})
    forbidden = [m for m in loaded if m in FORBIDDEN]
    rows = [
        print_row(
            Row(
                "import time (median)",
                f"{seconds:.3f} s",
                "< 0.3 s",
                seconds < 0.3,
                f"of {len(probes)} fresh interpreters",
            )
        ),
        print_row(
            Row(
                "fastapi / ray / onnxruntime imported",
                ", ".join(forbidden) or "none",
                "none",
                not forbidden,
            )
        ),
        print_row(
            Row(
                "supervision / cv2 imported",
                ", ".join(m for m in loaded if m not in FORBIDDEN) or "none",
            )
        ),
    ]
    for name, ms in _heaviest_parts(count=4):
        rows.append(print_row(Row(f"  of which {name}", f"{ms:.0f} ms", compare="-X importtime")))
    return rows


def _probe_import() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def _heaviest_parts(count: int) -> list[tuple[str, float]]:
    """The modules ``import visionflow`` imports directly, costliest first (cumulative ms).

    Each includes the third-party packages it was first to import (numpy, pydantic, ...).
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import visionflow"],
        capture_output=True,
        text=True,
        check=True,
    )
    parts: list[tuple[str, float]] = []
    # The report lists children before their parent, indented two spaces per level.
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        name, depth = fields[2].strip(), (len(fields[2]) - len(fields[2].lstrip()) - 1) // 2
        if depth == 0:
            if name == "visionflow":
                break
            parts = []
        elif depth == 1:
            parts.append((name, int(fields[1]) / 1e3))
    return sorted(parts, key=lambda part: -part[1])[:count]


# --- main --------------------------------------------------------------------------------

FIGURES = {
    1: figure_compile,
    2: figure_run_overhead,
    3: figure_pipeline,
    4: figure_concurrency,
    5: figure_import,
}


def main(argv: list[str] | None = None) -> None:
    run_figures(FIGURES, FULL, QUICK, __doc__, argv)


if __name__ == "__main__":
    main()
