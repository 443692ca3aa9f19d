"""``visionflow run-dataset --format coco|yolo|csv|jsonl``: the exports of a real workflow
over real pictures, checked value by value against the per-image predictions."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import pytest
import yaml
from skimage import data
from typer.testing import CliRunner

from visionflow.cli import app

pytest.importorskip("sqlalchemy")  # the lineage store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["astronaut", "chelsea", "coffee", "rocket"]  # run in this (sorted) order
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FACES = {
    "version": "1.0",
    "inputs": [{"type": "image", "name": "image"}],
    "models": {"faces": {"source": "mediapipe/face_detection_short_range"}},
    "steps": [
        {
            "type": "ObjectDetectionModel",
            "name": "detect",
            "images": "$inputs.image",
            "model": "faces",
        },
    ],
    "outputs": [{"type": "JsonField", "name": "faces", "selector": "$steps.detect.predictions"}],
}
runner = CliRunner()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in NAMES:
        cv2.imwrite(str(folder / f"{name}.png"), getattr(data, name)()[:, :, ::-1])
    return folder


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run_dataset(workflow, images: Path, output: Path, *options: str, code: int = 0) -> str:
    args = ["run-dataset", str(workflow), "--input", str(images), "--output", str(output)]
    result = runner.invoke(app, [*args, "--no-progress", *options])
    assert result.exit_code == code, result.output
    return result.output


def records(output: Path, names: list[str]) -> list[dict]:
    return [json.loads((output / "predictions" / f"{n}.json").read_text()) for n in names]


def yolo_values(p: dict, width: int, height: int) -> list[float]:
    """The box of a JSON prediction as YOLO writes it: centre and size, 0-1 of the image."""
    return [p["x"] / width, p["y"] / height, p["width"] / width, p["height"] / height]


def test_every_format_from_one_run(images, tmp_path):
    output = tmp_path / "out"
    run_dataset(
        EXAMPLES / "face_emotion.yaml",
        images,
        output,
        "--format",
        "coco,yolo",
        "-f",
        "csv",
        "-f",
        "jsonl,coco",
    )
    files = [f"{n}.png" for n in NAMES]
    astronaut, *others = records(output, files)
    [face] = astronaut["outputs"]["faces"]["predictions"]
    [emotion] = astronaut["outputs"]["emotions"]
    assert (face["class"], face["class_id"], emotion["top"]) == ("happy", 3, "happy")

    # JSONL: a line per image, its predictions record
    lines = (output / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [astronaut, *others]

    # YOLO: the face box normalised to the image, its class the emotion model's index
    label = (output / "yolo" / "labels" / "astronaut.txt").read_text()
    index, *values = label.split()
    assert label.count("\n") == 1 and index == "3"
    assert [float(v) for v in values] == pytest.approx(yolo_values(face, 512, 512), abs=5e-7)
    assert [(output / "yolo" / "labels" / f"{n}.txt").read_text() for n in NAMES[1:]] == [""] * 3
    assert (output / "yolo" / "classes.txt").read_text().splitlines() == EMOTIONS
    described = yaml.safe_load((output / "yolo" / "data.yaml").read_text())
    assert described == {"nc": 7, "names": dict(enumerate(EMOTIONS))}

    # CSV: the face as a detection, its emotion as a classification of that face
    with (output / "predictions.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    assert [(r["image"], r["output"], r["type"], r["class"], r["class_id"]) for r in rows] == [
        ("astronaut.png", "faces", "detection", "happy", "3"),
        ("astronaut.png", "emotions", "classification", "happy", "3"),
    ]
    detection, classification = rows
    corners = [float(detection[c]) for c in ("x1", "y1", "x2", "y2")]
    assert corners == [
        face["x"] - face["width"] / 2,
        face["y"] - face["height"] / 2,
        face["x"] + face["width"] / 2,
        face["y"] + face["height"] / 2,
    ]
    assert float(detection["confidence"]) == face["confidence"]
    assert detection["detection_id"] == face["detection_id"]
    assert classification["parent_id"] == face["detection_id"]  # the face it classifies
    assert float(classification["confidence"]) == emotion["confidence"]
    assert [classification[c] for c in ("x1", "y1", "x2", "y2", "detection_id")] == [""] * 5

    # COCO: every emotion a category, at the model's class id + 1
    coco = json.loads((output / "coco.json").read_text())
    assert coco["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(EMOTIONS)]
    [annotation] = coco["annotations"]
    assert annotation["category_id"] == 4 and annotation["image_id"] == 1


def test_classes_never_detected_are_listed(images, tmp_path):
    """No face in a cat, a coffee cup or a rocket: the face class is listed all the same."""
    folder = tmp_path / "no faces"
    folder.mkdir()
    for name in NAMES[1:]:
        (folder / f"{name}.png").write_bytes((images / f"{name}.png").read_bytes())
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(yaml.safe_dump(FACES, sort_keys=False))
    output = tmp_path / "out"
    run_dataset(workflow, folder, output, "--format", "coco,yolo,csv")

    coco = json.loads((output / "coco.json").read_text())
    assert coco["categories"] == [{"id": 1, "name": "face"}] and coco["annotations"] == []
    assert len(coco["images"]) == 3
    assert (output / "yolo" / "classes.txt").read_text() == "face\n"
    assert (output / "predictions.csv").read_text().splitlines() == [
        "image,output,type,class,class_id,confidence,x1,y1,x2,y2,detection_id,parent_id"
    ]


def test_a_failed_image_is_in_no_export(images, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "astronaut.png").write_bytes((images / "astronaut.png").read_bytes())
    (folder / "broken.png").write_bytes(b"not a picture")
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(yaml.safe_dump(FACES, sort_keys=False))
    output = tmp_path / "out"
    printed = run_dataset(workflow, folder, output, "-f", "coco,yolo,csv,jsonl", code=1)
    assert "failed: broken.png:" in printed and "cannot read image 'broken.png'" in printed

    [astronaut] = records(output, ["astronaut.png"])
    assert json.loads((output / "run.json").read_text())["failed"].keys() == {"broken.png"}
    coco = json.loads((output / "coco.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["astronaut.png"]
    assert sorted(p.name for p in (output / "yolo" / "labels").iterdir()) == ["astronaut.txt"]
    with (output / "predictions.csv").open(newline="") as table:
        assert {row["image"] for row in csv.DictReader(table)} == {"astronaut.png"}
    assert (output / "predictions.jsonl").read_text() == json.dumps(astronaut) + "\n"


def test_a_resume_exports_each_image_once(images, tmp_path):
    """A run stopped after two images (their predictions files written, atomically), then
    resumed: every export holds each image once, in order, as one uninterrupted run."""
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(yaml.safe_dump(FACES, sort_keys=False))
    output = tmp_path / "out"
    run_dataset(workflow, images, output, "-f", "coco,yolo")
    for name in NAMES[2:]:  # as a kill after the first two leaves it
        (output / "predictions" / f"{name}.png.json").unlink()
    (output / "coco.json").unlink()  # nor exports: they are written at the end
    shutil.rmtree(output / "yolo")

    # the resume asks for others: it writes the run's (COCO and YOLO) as well
    printed = run_dataset(workflow, images, output, "--resume", "-f", "csv,jsonl")
    assert printed.startswith("4 images: 2 run, 2 skipped (done before)")
    ran = json.loads((output / "run.json").read_text())
    assert ran["formats"] == ["coco", "yolo", "csv", "jsonl"]
    every = records(output, [f"{n}.png" for n in NAMES])
    lines = (output / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == every
    coco = json.loads((output / "coco.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == [f"{n}.png" for n in NAMES]
    [face] = every[0]["outputs"]["faces"]["predictions"]
    assert len(coco["annotations"]) == 1
    assert sorted(p.name for p in (output / "yolo" / "labels").iterdir()) == [
        f"{n}.txt" for n in NAMES
    ]
    index, *values = (output / "yolo" / "labels" / "astronaut.txt").read_text().split()
    assert index == "0"
    assert [float(v) for v in values] == pytest.approx(yolo_values(face, 512, 512), abs=5e-7)
    with (output / "predictions.csv").open(newline="") as table:
        assert [(r["image"], r["class"]) for r in csv.DictReader(table)] == [
            ("astronaut.png", "face")
        ]


def test_an_unknown_format_fails_before_anything_is_written(images, tmp_path):
    printed = run_dataset(
        EXAMPLES / "face_emotion.yaml", images, tmp_path / "out", "--format", "coco,xml", code=1
    )
    assert "unknown export format 'xml'" in printed and "coco, yolo, csv, jsonl" in printed
    assert not (tmp_path / "out").exists()


def test_a_mask_outline_is_the_coco_segmentation(images, tmp_path):
    workflow = tmp_path / "people.yaml"
    workflow.write_text(
        "inputs: [{type: image, name: image}]\n"
        "steps:\n  - {type: SegmentationModel, name: seg, images: $inputs.image,\n"
        "     model: mediapipe/selfie_segmentation}\n"
        "outputs: [{type: JsonField, name: people, selector: $steps.seg.predictions}]\n"
    )
    output = tmp_path / "out"
    run_dataset(workflow, images, output, "-f", "coco,yolo")
    astronaut = records(output, ["astronaut.png"])[0]["outputs"]["people"]["predictions"]
    [person] = astronaut
    coco = json.loads((output / "coco.json").read_text())
    assert coco["categories"] == [{"id": 1, "name": "person"}]
    first = next(a for a in coco["annotations"] if a["image_id"] == 1)
    outline = [round(c, 2) for point in person["points"] for c in (point["x"], point["y"])]
    assert first["segmentation"] == [outline] and len(outline) >= 6
    # YOLO keeps the box (the outline is COCO's)
    index, *values = (output / "yolo" / "labels" / "astronaut.txt").read_text().split()
    assert index == "0"
    assert [float(v) for v in values] == pytest.approx(yolo_values(person, 512, 512), abs=5e-7)


def test_yolo_warns_when_two_images_share_a_labels_file(images, tmp_path):
    from visionflow.datasets import run_dataset

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "photo.png").write_bytes((images / "astronaut.png").read_bytes())
    (folder / "photo.bmp").write_bytes(cv2.imencode(".bmp", data.coffee()[:, :, ::-1])[1])
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(yaml.safe_dump(FACES, sort_keys=False))
    with pytest.warns(UserWarning, match="'photo.png' and 'photo.bmp' share labels/photo.txt"):
        run_dataset(workflow, folder, tmp_path / "out", progress=False, formats=["yolo"])
    # the later image's in the run's order (photo.bmp, photo.png): the astronaut's face
    [face] = records(tmp_path / "out", ["photo.png"])[0]["outputs"]["faces"]["predictions"]
    index, *values = (tmp_path / "out" / "yolo" / "labels" / "photo.txt").read_text().split()
    assert index == "0"
    assert [float(v) for v in values] == pytest.approx(yolo_values(face, 512, 512), abs=5e-7)


def test_a_multi_label_classification_gives_each_class_with_its_id_and_confidence(tmp_path):
    # the multi-label head's own result: `predictions` is a list of {class, class_id,
    # confidence}, best first (Roboflow's is a dict by class name: read both)
    import numpy as np

    from test_classification_models import tiny_model
    from visionflow.data.image import WorkflowImage
    from visionflow.datasets.tables import write_csv

    model = tiny_model(
        tmp_path, softmax=False, format="multi_label", postprocessing={"threshold": 0.6}
    )
    cyan = WorkflowImage(np.full((4, 4, 3), (255, 255, 0), np.uint8))
    (prediction,) = model.predict([cyan])
    model.close()
    as_dict = {p["class"]: p for p in prediction["predictions"]}
    records = [
        {"image": "cyan.png", "outputs": {"labels": prediction}},
        {"image": "cyan2.png", "outputs": {"labels": {**prediction, "predictions": as_dict}}},
    ]
    write_csv(tmp_path / "predictions.csv", records)
    with open(tmp_path / "predictions.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    got = [(r["image"], r["class"], r["class_id"], r["confidence"][:6]) for r in rows]
    assert got == [
        ("cyan.png", "blue", "0", "0.9820"),
        ("cyan.png", "green", "2", "0.9820"),
        ("cyan2.png", "blue", "0", "0.9820"),
        ("cyan2.png", "green", "2", "0.9820"),
    ]


# faces found again inside a crop around each face: the output is a list (one per crop) of
# detections, given in the image's coordinates (coordinates_system: parent, the default)
FACES_IN_CROPS = {
    **FACES,
    "steps": [
        *FACES["steps"],
        {
            "type": "DetectionOffset",
            "name": "grow",
            "predictions": "$steps.detect.predictions",
            "offset_width": 200,
            "offset_height": 200,
        },
        {
            "type": "Crop",
            "name": "crops",
            "images": "$inputs.image",
            "predictions": "$steps.grow.predictions",
        },
        {
            "type": "ObjectDetectionModel",
            "name": "again",
            "images": "$steps.crops.crops",
            "model": "faces",
        },
    ],
    "outputs": [{"type": "JsonField", "name": "faces", "selector": "$steps.again.predictions"}],
}


@pytest.mark.parametrize("system", ["parent", "own"])
def test_detections_on_crops_are_exported_in_the_images_coordinates(images, tmp_path, system):
    document = {**FACES_IN_CROPS, "outputs": [{**FACES_IN_CROPS["outputs"][0]}]}
    document["outputs"][0]["coordinates_system"] = system
    workflow = tmp_path / "faces_in_crops.yaml"
    workflow.write_text(yaml.safe_dump(document), encoding="utf-8")
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(images / "astronaut.png", folder / "astronaut.png")
    output = tmp_path / "out"
    run_dataset(workflow, folder, output, "--format", "coco,yolo,csv")
    [record] = records(output, ["astronaut.png"])
    [crop] = record["outputs"]["faces"]  # one face, one crop around it
    [face] = crop["predictions"]
    coco = json.loads((output / "coco.json").read_text())
    labels = (output / "yolo" / "labels" / "astronaut.txt").read_text()
    if system == "own":  # in the crop's coordinates: no place in the image's own exports
        assert (coco["annotations"], labels) == ([], "")
        return
    [annotation] = coco["annotations"]
    x, y = face["x"] - face["width"] / 2, face["y"] - face["height"] / 2
    assert annotation["bbox"] == [round(v, 2) for v in (x, y, face["width"], face["height"])]
    assert labels == "0 " + " ".join(f"{v:.6f}" for v in yolo_values(face, 512, 512)) + "\n"
