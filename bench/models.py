"""What visionflow costs around real models, and what dynamic batching gains. Prints figures,
asserts nothing.

    .venv/bin/python bench/models.py            # the full run (about 2 minutes on 2 cores)
    .venv/bin/python bench/models.py --quick    # a smoke run with fewer repeats and requests
    .venv/bin/python bench/models.py --only 2   # some figures only
    .venv/bin/python bench/models.py --providers cuda   # every model on CUDA (a GPU machine)

Figures (bench/README.md explains each one):
1. images/s of the four example workflows (examples/*.yaml, zoo models) through visionflow
   vs a plain script doing the same work with the same sessions, heads and blocks;
2. dynamic batching: 8 concurrent single-image clients on a one-model workflow, with
   batching off and on (throughput, latency, the pool's batch sizes).

``--providers P`` (comma-separated names, as a model's ``providers:``) runs every model on P;
a provider this machine lacks falls back to the CPU with one warning per model, and the
providers each session really got are printed first.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _report import Row, print_header, print_row, run_figures
from engine_overhead import loops_for
from visionflow import Batch, Workflow, WorkflowImage
from visionflow.data.detections import KEYPOINTS_XY, detection_ids
from visionflow.models.library import model_metrics
from visionflow.models.model import Model
from visionflow.models.providers import available_onnx_providers, set_default_providers

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENOUGH = 0.95  # visionflow's throughput as a share of the plain script's


@dataclass(frozen=True)
class Settings:
    repeats: int  # interleaved samples per pipeline in figure 1; the best is reported
    min_seconds: float  # each sample loops until it lasts at least this long
    request_scale: float  # figure 2: requests per client, as a share of each case's count
    rounds: int  # figure 2: timed rounds per serving setting; the fastest is reported


FULL = Settings(repeats=7, min_seconds=0.3, request_scale=1.0, rounds=2)
QUICK = Settings(repeats=2, min_seconds=0.05, request_scale=0.25, rounds=1)


def interleaved_best(functions: dict[str, Callable[[], Any]], settings: Settings) -> dict:
    """The best time of one call of each function; samples taken in turn, so drift on a busy
    machine hits them alike, and the best because noise only ever adds time."""
    loops = loops_for(next(iter(functions.values())), settings.min_seconds)
    for function in functions.values():
        function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(settings.repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(loops):
                function()
            best[name] = min(best[name], (time.perf_counter() - start) / loops)
    return best


# --- images ------------------------------------------------------------------------------


def page() -> np.ndarray:
    """skimage's scanned text page (384x191), BGR."""
    from skimage import data

    return cv2.cvtColor(data.page(), cv2.COLOR_GRAY2BGR)


def astronaut() -> np.ndarray:
    """skimage's astronaut (512x512: one face, one person), BGR."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


# --- the plain script's model calls ------------------------------------------------------


def predict(
    model: Model, images: list[WorkflowImage], options: dict | None = None, collate: bool = False
) -> list:
    """``model.predict`` without the pool: the same head code, the session called in this
    thread. Tensors of equal shapes are stacked into one call, others go one call each;
    ``collate=True`` batches as the head's ``collate`` says (as the pool does)."""
    prepared = [model.head.preprocess(image) for image in images]
    elements = [tensors for tensors, _ in prepared]
    calls = (model.head.collate(elements) if collate else None) or _stacked_by_shape(elements)
    outputs: list = [None] * len(images)
    for positions, feeds in calls:
        results = model.pool.first_session.run(feeds)
        for row, position in enumerate(positions):
            outputs[position] = [result[row] for result in results]
    return [
        model.head.postprocess(output, context, image, options or {})
        for output, (_, context), image in zip(outputs, prepared, images, strict=True)
    ]


def _stacked_by_shape(elements: list[list[np.ndarray]]) -> list[tuple[list[int], list]]:
    by_shape: dict[tuple, list[int]] = {}
    for position, tensors in enumerate(elements):
        by_shape.setdefault(tuple(t.shape for t in tensors), []).append(position)
    calls = []
    for positions in by_shape.values():
        inputs = zip(*(elements[p] for p in positions), strict=True)
        calls.append((positions, [np.stack(parts) for parts in inputs]))
    return calls


def crops_of(image: WorkflowImage, found: Any) -> list[WorkflowImage]:
    """One crop per detected box (DynamicCrop's code)."""
    boxes = found.xyxy.round().astype(int).tolist()
    return [
        image.crop(*box, crop_id=crop_id)
        for box, crop_id in zip(boxes, detection_ids(found), strict=True)
    ]


def nested(values: list) -> Batch:
    """Per-crop values of the one image of a run, as the engine hands them to a block."""
    return Batch(values, [(0, child) for child in range(len(values))])


def draw(block: Any, image: WorkflowImage, predictions: Any, labels: bool = True) -> Any:
    return block.run(image, predictions, labels, True, 0.5, 2)["image"]


# --- the plain scripts: the example workflows by hand ------------------------------------


class PlainScript(ABC):
    """An example workflow written by hand over its compiled steps' models and blocks.

    ``through_pool``: models are called with ``model.predict`` (the pool's worker thread)
    instead of their session in this thread, to tell the pool's cost from the engine's.
    """

    def __init__(self, workflow: Workflow, through_pool: bool = False):
        self.steps = {name: step.block for name, step in workflow.plan.steps.items()}
        self.through_pool = through_pool

    def predict(self, step: str, images: list[WorkflowImage], options: dict | None = None):
        model = self.steps[step].model
        if self.through_pool:
            return model.predict(images, options)
        return predict(model, images, options)

    @abstractmethod
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        """The example's outputs for one image, computed by hand."""


class OcrScript(PlainScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        found = self.predict("find text", [image])[0]
        lines = [c["crops"] for c in self.steps["lines"].run(image, found)]
        turned = self.predict("orientation", lines)
        upright = self.steps["upright"]
        lines = [upright.run(c, o, 0.95)["images"] for c, o in zip(lines, turned, strict=True)]
        read = self.predict("read", lines)
        return {
            "lines": [r["text"] for r in read],
            "confidence": [r["confidence"] for r in read],
            "text_regions": found,
            "annotated": draw(self.steps["drawn"], image, found, labels=False),
        }


class FaceEmotionScript(PlainScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        faces = self.predict("detect faces", [image], {"confidence": 0.5})[0]
        emotions = self.predict("emotion", crops_of(image, faces))
        replaced = self.steps["faces with emotion"].run(faces, nested(emotions), None, -1)
        faces = replaced["predictions"]
        return {
            "faces": faces,
            "emotions": emotions,
            "annotated": draw(self.steps["drawn"], image, faces),
        }


class PersonPoseScript(PlainScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        people = self.predict("detect people", [image])[0]
        regions = self.steps["person regions"].run(image, people, 1.25, "pad")
        landmarks = self.predict("landmarks", [c["crops"] for c in regions])
        poses = self.steps["poses"].run(image, nested(landmarks))["predictions"]
        return {
            "people": people,
            "poses": poses,
            "annotated": draw(self.steps["drawn"], image, poses),
        }


class EmotionEnsembleScript(PlainScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        faces = self.predict("detect faces", [image])[0]
        crops = crops_of(image, faces)
        fer, facex = self.predict("fer", crops), self.predict("facex", crops)
        consensus = self.steps["consensus"]
        merged = [
            consensus.run([a, b], "average", None)["predictions"]
            for a, b in zip(fer, facex, strict=True)
        ]
        replaced = self.steps["faces with emotion"].run(faces, nested(merged), None, -1)
        faces = replaced["predictions"]
        return {
            "fer": fer,
            "facex": facex,
            "consensus": merged,
            "faces": faces,
            "annotated": draw(self.steps["drawn"], image, faces),
        }


def _tops(predictions: list[dict]) -> list[str]:
    return [p["top"] for p in predictions]


def _pose_points(result: dict) -> list:
    return np.round(result["poses"].data[KEYPOINTS_XY], 1).tolist()


@dataclass(frozen=True)
class Pipeline:
    name: str  # examples/<name>.yaml
    image: Callable[[], np.ndarray]
    script: type[PlainScript]
    answers: Callable[[dict], Any]  # what must agree between visionflow and the script
    what: str  # the answers, in words


PIPELINES = [
    Pipeline("ocr_page", page, OcrScript, lambda r: r["lines"], "text lines"),
    Pipeline(
        "face_emotion", astronaut, FaceEmotionScript, lambda r: _tops(r["emotions"]), "emotions"
    ),
    Pipeline("person_pose", astronaut, PersonPoseScript, _pose_points, "landmarks"),
    Pipeline(
        "emotion_ensemble",
        astronaut,
        EmotionEnsembleScript,
        lambda r: _tops(r["consensus"]),
        "consensus",
    ),
]


def compile_example(name: str) -> Workflow:
    return Workflow.compile(EXAMPLES / f"{name}.yaml")


# --- figure 1: the example workflows vs plain scripts ------------------------------------


def figure_pipelines(settings: Settings) -> list[Row]:
    print_header(
        "[1] Example workflows (zoo models, 1 image per run): visionflow vs a plain script"
    )
    return [row for pipeline in PIPELINES for row in _measure_pipeline(pipeline, settings)]


def _measure_pipeline(pipeline: Pipeline, settings: Settings) -> list[Row]:
    workflow, pixels = compile_example(pipeline.name), pipeline.image()
    if SHOW_PROVIDERS:
        _print_providers(workflow)
    scripts = {
        "plain script": pipeline.script(workflow),
        "plain via model.predict (pool)": pipeline.script(workflow, through_pool=True),
    }
    _check_same_answers(pipeline, workflow, scripts["plain script"], pixels)
    functions = {name: (lambda s=s: s.run(pixels)) for name, s in scripts.items()}
    functions["visionflow"] = lambda: workflow.run(image=pixels)
    return _pipeline_rows(pipeline.name, interleaved_best(functions, settings))


def _print_providers(workflow: Workflow) -> None:
    """Where each model of ``workflow`` really runs (after any fallback to the CPU)."""
    for name, step in workflow.plan.steps.items():
        model = getattr(step.block, "model", None)
        if isinstance(model, Model):
            session = model.pool.first_session
            ran = (
                session.providers()
                if hasattr(session, "providers")
                else [getattr(session, "delegate", "cpu")]
            )
            print(f"  {name} ({model.spec.id}): {', '.join(ran)}")


def _pipeline_rows(name: str, best: dict[str, float]) -> list[Row]:
    """The plain script (the baseline), its variants, then visionflow against the baseline."""
    engine, plain = best.pop("visionflow"), best["plain script"]
    rows = [
        print_row(
            Row(
                f"{name}: {label}",
                _rate(seconds),
                compare="" if seconds == plain else _against(seconds, plain),
            )
        )
        for label, seconds in best.items()
    ]
    verdict = Row(
        f"{name}: visionflow",
        _rate(engine),
        f">= {ENOUGH:.0%} plain",
        plain / engine >= ENOUGH,
        _against(engine, plain),
    )
    rows.append(print_row(verdict))
    return rows


def _against(seconds: float, plain: float) -> str:
    return f"{plain / seconds:.1%} of plain, {(seconds - plain) * 1e3:+.2f} ms/image"


def _rate(seconds: float) -> str:
    return f"{1 / seconds:.1f} images/s"


def _check_same_answers(
    pipeline: Pipeline, workflow: Workflow, script: PlainScript, pixels: np.ndarray
) -> None:
    ours = pipeline.answers(workflow.run(image=pixels)[0])
    theirs = pipeline.answers(script.run(pixels))
    if ours != theirs:
        print(
            f"  WARNING: {pipeline.name}: visionflow and the plain script disagree on "
            f"{pipeline.what}: {ours} vs {theirs}"
        )
    elif not ours:
        print(f"  WARNING: {pipeline.name}: no {pipeline.what} found, nothing compared")


# --- figure 2: dynamic batching ----------------------------------------------------------

CLIENTS = 8
SERVING = {  # label -> the model's settings under models:
    "off: batch 1": {"batch_size": 1},
    "off: batch 1, max_workers 2": {"batch_size": 1, "max_workers": 2},
    "on: batch 8, 5 ms": {"batch_size": 8, "max_batch_delay_ms": 5},
    "on: batch 8, 5 ms, max_workers 2": {
        "batch_size": 8,
        "max_batch_delay_ms": 5,
        "max_workers": 2,
    },
    "on: batch 4, 5 ms, 2 workers": {
        "batch_size": 4,
        "max_batch_delay_ms": 5,
        "min_workers": 2,
        "max_workers": 2,
    },
}


@dataclass(frozen=True)
class BatchingCase:
    title: str
    model: str  # zoo id
    block: str
    output: str
    requests: int  # per client in a full run
    images: Callable[[], list[np.ndarray]]


def face_crop() -> list[np.ndarray]:
    """The astronaut's face, as the face -> emotion example crops it."""
    pixels = astronaut()
    found = compile_example("face_emotion").run(image=pixels)[0]["faces"]
    x_min, y_min, x_max, y_max = found.xyxy[0].round().astype(int)
    return [np.ascontiguousarray(pixels[y_min:y_max, x_min:x_max])]


def text_lines() -> list[np.ndarray]:
    """page()'s text lines, cut out as the OCR example cuts them."""
    workflow = compile_example("ocr_page")
    image = WorkflowImage(page())
    found = workflow.run(image=image.numpy)[0]["text_regions"]
    crops = workflow.plan.steps["lines"].block.run(image, found)
    return [np.ascontiguousarray(c["crops"].numpy) for c in crops]


CASES = [
    BatchingCase(
        "fer/emotion (LiteRT, light)",
        "fer/emotion",
        "ClassificationModel",
        "predictions",
        60,
        face_crop,
    ),
    BatchingCase(
        "facex/emotion (LiteRT, heavy)",
        "facex/emotion",
        "ClassificationModel",
        "predictions",
        10,
        face_crop,
    ),
    BatchingCase(
        "rapidocr/text_recognition (ONNX), a line per request",
        "rapidocr/text_recognition",
        "TextRecognitionModel",
        "text",
        6,
        text_lines,
    ),
    BatchingCase(
        "rapidocr/text_orientation (ONNX), a line per request",
        "rapidocr/text_orientation",
        "ClassificationModel",
        "predictions",
        40,
        text_lines,
    ),
]


def one_model(case: BatchingCase, key: str, serving: dict[str, Any]) -> Workflow:
    return Workflow.compile(
        {
            "inputs": [{"type": "image", "name": "image"}],
            "models": {key: {"source": case.model, **serving}},
            "steps": [
                {"type": case.block, "name": "model", "images": "$inputs.image", "model": key}
            ],
            "outputs": [
                {"type": "JsonField", "name": "out", "selector": f"$steps.model.{case.output}"}
            ],
        }
    )


def figure_batching(settings: Settings) -> list[Row]:
    print_header(
        f"[2] Dynamic batching: {CLIENTS} concurrent single-image clients, one-model workflow"
    )
    rows = []
    for number, case in enumerate(CASES):
        images = case.images()
        requests = max(2, round(case.requests * settings.request_scale))
        print(f"  {case.title}: {CLIENTS} clients x {requests} requests")
        rows.extend(_direct_rows(case, images, settings))
        for position, (label, serving) in enumerate(SERVING.items()):
            workflow = one_model(case, f"bench-{number}-{position}", serving)
            rows.append(_serving_row(label, workflow, images, requests, settings))
    return rows


def _direct_rows(case: BatchingCase, images: list[np.ndarray], settings: Settings) -> list[Row]:
    """The reference: the model's own session in one thread, no engine, no pool."""
    model = one_model(case, f"bench-{case.model}-direct", {}).plan.steps["model"].block.model
    pictures = [WorkflowImage(pixels) for pixels in images]
    batch = [pictures[n % len(pictures)] for n in range(CLIENTS)]
    calls = {
        "direct session, 1 element per call": lambda: [predict(model, [p]) for p in batch],
        f"direct session, batches of {CLIENTS}": lambda: predict(model, batch, collate=True),
    }
    return [
        print_row(Row(f"  {label}", f"{CLIENTS / seconds:.0f} requests/s", compare="one thread"))
        for label, seconds in interleaved_best(calls, settings).items()
    ]


def _serving_row(
    label: str, workflow: Workflow, images: list[np.ndarray], requests: int, settings: Settings
) -> Row:
    model = workflow.plan.steps["model"].block.model
    _clients(workflow, images, 2)  # warm-up: sessions opened, workers started
    before = model_metrics()[model.spec.id]
    best = min(
        (_clients(workflow, images, requests) for _ in range(settings.rounds)), key=lambda r: r[0]
    )
    after = model_metrics()[model.spec.id]
    seconds, latencies = best
    batches = after["batches"] - before["batches"]
    mean_batch = (after["elements"] - before["elements"]) / max(1, batches)
    p50, p95 = (float(v) * 1e3 for v in np.percentile(latencies, [50, 95]))
    return print_row(
        Row(
            f"  {label}",
            f"{CLIENTS * requests / seconds:.0f} requests/s",
            compare=f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, mean batch {mean_batch:.1f}, "
            f"workers {model.pool.workers}",
        )
    )


def _clients(
    workflow: Workflow, images: list[np.ndarray], requests: int
) -> tuple[float, list[float]]:
    """Wall time of CLIENTS threads each running ``requests`` runs back to back, and the
    latency of every run."""
    latencies: list[float] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(number: int) -> None:
        start.wait()
        for n in range(requests):
            began = time.perf_counter()
            workflow.run(image=images[(number + n) % len(images)])
            latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies


# --- main --------------------------------------------------------------------------------

FIGURES = {1: figure_pipelines, 2: figure_batching}
SHOW_PROVIDERS = False  # set by --providers


def main(argv: list[str] | None = None) -> None:
    global SHOW_PROVIDERS
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--providers", default=None)
    known, rest = parser.parse_known_args(argv)
    if known.providers is not None:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        set_default_providers(known.providers)  # before any workflow compiles
        SHOW_PROVIDERS = True
        print(f"providers asked for: {known.providers}; this machine has: "
              f"{', '.join(available_onnx_providers())}")  # fmt: skip
    run_figures(FIGURES, FULL, QUICK, __doc__, rest)


if __name__ == "__main__":
    main()
