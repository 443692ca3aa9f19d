"""`make demo`: run the example workflows on real images and real models, print the results
and write annotated images (and an annotated video) to demo-output/.

Images come from scikit-image's sample data and models from the zoo (model files shipped
inside PyPI packages): nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

EXAMPLES = Path(__file__).resolve().parent
OUTPUT = EXAMPLES.parent / "demo-output"


def bgr(name: str) -> np.ndarray:
    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(pixels[:, :, ::-1])


def save(image, name: str) -> str:
    path = OUTPUT / name
    cv2.imwrite(str(path), image.numpy)
    return str(path.relative_to(EXAMPLES.parent))


def first_workflow(workflow_class) -> None:
    images = {name: OUTPUT / f"{name}.png" for name in ("astronaut", "coffee", "chelsea")}
    for name, path in images.items():
        if not path.exists():
            cv2.imwrite(str(path), bgr(name))
    workflow = workflow_class.compile(EXAMPLES / "first_workflow.yaml")
    results = workflow.run(image=[str(p) for p in images.values()], min_brightness=120.0)
    print("== first_workflow.yaml (core blocks + the Brightness plugin)")
    for name, result in zip(images, results, strict=True):
        print(f"  {name}: {json.dumps(result)}")


def ocr(workflow_class) -> None:
    result = workflow_class.compile(EXAMPLES / "ocr_page.yaml").run(image=bgr("page"))[0]
    print("== ocr_page.yaml on skimage.data.page(): detect -> crop -> orient -> recognise")
    for line, confidence in zip(result["lines"], result["confidence"], strict=True):
        print(f"  {confidence:.2f}  {line}")
    print(f"  annotated: {save(result['annotated'], 'ocr_page.png')}")


def faces(workflow_class) -> None:
    result = workflow_class.compile(EXAMPLES / "face_emotion.yaml").run(image=bgr("astronaut"))[0]
    print("== face_emotion.yaml on astronaut(): faces -> crops -> emotion (fer)")
    found = result["faces"]
    for box, name, confidence in zip(found.xyxy.round().astype(int).tolist(),
                                     found.data["class_name"], found.confidence, strict=True):
        print(f"  face at {box}: {name} ({confidence:.2f})")
    print(f"  annotated: {save(result['annotated'], 'face_emotion.png')}")


def pose(workflow_class) -> None:
    result = workflow_class.compile(EXAMPLES / "person_pose.yaml").run(image=bgr("astronaut"))[0]
    print("== person_pose.yaml on astronaut(): people -> region -> 33 pose landmarks")
    poses = result["poses"]
    for position in range(len(poses)):
        names = list(poses.data["keypoints_class_name"][position])
        points = poses.data["keypoints_xy"][position]
        shown = {n: points[names.index(n)].round().astype(int).tolist()
                 for n in ("nose", "left_shoulder", "right_shoulder")}
        print(f"  person {position}: {shown}")
    print(f"  annotated: {save(result['annotated'], 'person_pose.png')}")


def ensemble(workflow_class) -> None:
    result = workflow_class.compile(EXAMPLES / "emotion_ensemble.yaml").run(
        image=bgr("astronaut"))[0]
    print("== emotion_ensemble.yaml on astronaut(): fer + facex -> consensus by class name")
    for fer, facex, both in zip(result["fer"], result["facex"], result["consensus"], strict=True):
        print(f"  fer: {fer['top']} ({fer['confidence']:.2f}), facex: {facex['top']} "
              f"({facex['confidence']:.2f}) -> consensus: {both['top']} ({both['confidence']:.2f})")
    print(f"  annotated: {save(result['annotated'], 'emotion_ensemble.png')}")


def functional(workflow_class) -> None:
    poses = workflow_class.compile(EXAMPLES / "functional_pose.yaml")
    found = poses.run({"in": [bgr("astronaut"), bgr("chelsea")]})
    print("== functional_pose.yaml (functional dialect): people -> regions -> map(landmarks)")
    for name, result in zip(("astronaut", "chelsea"), found, strict=True):
        print(f"  {name}: {len(result['out'])} pose(s) of 33 landmarks")
    emotions = workflow_class.compile(EXAMPLES / "functional_emotions.yaml")
    print("== functional_emotions.yaml: faces -> crops -> map(ensemble(fer, facex)) -> consensus")
    print(f"  astronaut: {emotions.run({'in': bgr('astronaut')})[0]['out']}")


def deepomatic(workflow_class) -> None:
    workflow = workflow_class.compile(EXAMPLES / "deepomatic_faces.yaml")
    print("== deepomatic_faces.yaml (Deepomatic-style dialect): faces -> emotion -> router")
    for name in ("astronaut", "chelsea"):
        result = workflow.run(image=bgr(name))[0]
        regions = result["FlowContainer"]["entries"][0]["regions"]
        print(f"  {name}: happy customer = {result['happy customer']['value']}, "
              f"faces = {result['face count']['value']}, {len(regions)} region(s) in the "
              "FlowContainer")


def dataset(workflow_class) -> None:
    """A folder of images through run-dataset, recorded in a lineage store, drawn as a page."""
    import shutil

    from visionflow.datasets import run_dataset
    from visionflow.lineage.page import render_page
    from visionflow.lineage.queries import lineage_graph
    from visionflow.lineage.store import Store

    photos, run = OUTPUT / "dataset", OUTPUT / "dataset-run"
    photos.mkdir(exist_ok=True)
    for name in ("astronaut", "coffee", "chelsea"):
        shutil.copy(OUTPUT / f"{name}.png", photos / f"{name}.png")
    shutil.rmtree(run, ignore_errors=True)  # a demo starts afresh each time
    home = OUTPUT / "visionflow-home"
    os.environ["VISIONFLOW_HOME"] = str(home)
    summary = run_dataset(EXAMPLES / "face_emotion.yaml", photos, run, progress=False)
    coco = json.loads((run / "coco.json").read_text())
    print("== run-dataset face_emotion.yaml over 3 photos, recorded in the lineage store")
    coco_path = (run / "coco.json").relative_to(EXAMPLES.parent)
    print(f"  {summary.ran} images run, {len(coco['annotations'])} face(s) in {coco_path}"
          f" (lineage task {summary.task_id})")
    store = Store()
    page = OUTPUT / "lineage.html"
    page.write_text(render_page(lineage_graph(store, summary.task_id)), encoding="utf-8")
    store.close()
    print(f"  lineage page: {page.relative_to(EXAMPLES.parent)}")


def video(workflow_class) -> None:
    """A video made here (shapes drawn with OpenCV) through the stream pipeline: shapes
    crossing a line counted, the annotated video written (examples/line_crossings.py)."""
    import line_crossings

    shapes = line_crossings.make_video(OUTPUT / "shapes.mp4")
    annotated = OUTPUT / "line_crossings.mp4"
    count_in, count_out = line_crossings.count_crossings(shapes, annotated)
    print("== line_crossings.yaml on a video of moving shapes: motion -> ByteTrack -> line counter")
    print(f"  {line_crossings.FRAMES} frames: {count_in} crossed in, {count_out} crossed out")
    print(f"  annotated video: {annotated.relative_to(EXAMPLES.parent)}")


def main() -> int:
    sys.path.insert(0, str(EXAMPLES))
    os.environ.setdefault("VISIONFLOW_PLUGINS", "brightness_plugin")
    from visionflow import Workflow

    OUTPUT.mkdir(exist_ok=True)
    for example in (first_workflow, ocr, faces, pose, ensemble, functional, deepomatic, dataset,
                    video):
        example(Workflow)
        print()
    print("From the command line, e.g.:")
    print("  visionflow run examples/face_emotion.yaml --input image=demo-output/astronaut.png "
          "--no-images")
    print("  visionflow run-video examples/line_crossings.yaml demo-output/shapes.mp4 "
          "--output-video demo-output/line_crossings.mp4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
