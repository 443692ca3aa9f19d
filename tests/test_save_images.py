"""``visionflow run --save-images DIR``: each image output as a file named by input element
and output, its path in the JSON instead of base64 — on real pictures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data
from typer.testing import CliRunner

from test_server import API_KEY, serving
from visionflow import Client, Workflow
from visionflow.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()

# the picture cut into four 256 x 256 tiles: an output holding a list of images per element
TILES = {
    "version": "1.0",
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {
            "type": "roboflow_core/image_slicer@v2",
            "name": "tiles",
            "image": "$inputs.image",
            "slice_width": 256,
            "slice_height": 256,
            "overlap_ratio_width": 0.0,
            "overlap_ratio_height": 0.0,
        }
    ],
    "outputs": [{"type": "JsonField", "name": "tiles", "selector": "$steps.tiles.slices"}],
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), getattr(data, name)()[:, :, ::-1])
    return folder


def run(*args: str) -> list:
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def pixels(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_each_image_output_is_a_file_named_by_input_and_output(photos, tmp_path):
    saved = tmp_path / "saved"
    workflow = str(EXAMPLES / "face_emotion.yaml")
    images = [f"image={photos / 'astronaut.png'}", f"image={photos / 'chelsea.png'}"]
    results = run(workflow, "-i", images[0], "-i", images[1], "--save-images", str(saved))

    assert sorted(p.name for p in saved.iterdir()) == [
        "astronaut_annotated.jpg",
        "chelsea_annotated.jpg",
    ]
    # the same run in Python, serialised as the JSON would carry it without the option
    expected = Workflow.compile(workflow).run(
        {"image": [str(photos / "astronaut.png"), str(photos / "chelsea.png")]}, serialize=True
    )
    for name, result, wanted in zip(("astronaut", "chelsea"), results, expected, strict=True):
        shown = result["annotated"]
        assert shown["type"] == "file" and shown["path"] == str(saved / f"{name}_annotated.jpg")
        assert "value" not in shown
        # its size and the rest kept beside the path (ids are numbered per process)
        assert set(shown) == {*wanted["annotated"], "path"} - {"value"}
        assert (shown["width"], shown["height"]) == (
            wanted["annotated"]["width"],
            wanted["annotated"]["height"],
        )
        written = Path(shown["path"]).read_bytes()
        sent = base64.b64decode(wanted["annotated"]["value"])
        assert np.array_equal(pixels(written), pixels(sent))  # the picture the base64 holds
        assert pixels(written).shape == (
            wanted["annotated"]["height"],
            wanted["annotated"]["width"],
            3,
        )
        # the other outputs are as they were
        assert [e["top"] for e in result["emotions"]] == [e["top"] for e in wanted["emotions"]]
        assert [p["class"] for p in result["faces"]["predictions"]] == [
            p["class"] for p in wanted["faces"]["predictions"]
        ]


def test_a_list_of_images_gets_each_position(photos, tmp_path):
    workflow = tmp_path / "tiles.yaml"
    workflow.write_text(yaml.safe_dump(TILES), encoding="utf-8")
    saved = tmp_path / "tiles"
    [result] = run(
        str(workflow), "-i", f"image={photos / 'astronaut.png'}", "--save-images", str(saved)
    )

    names = [f"astronaut_tiles_{i}.jpg" for i in range(4)]
    assert [tile["path"] for tile in result["tiles"]] == [str(saved / n) for n in names]
    assert sorted(p.name for p in saved.iterdir()) == names
    astronaut = data.astronaut()[:, :, ::-1]
    for tile in result["tiles"]:  # each file the tile at its place in the picture
        x, y = tile["origin"]["offset_x"], tile["origin"]["offset_y"]
        region = np.ascontiguousarray(astronaut[y : y + 256, x : x + 256])
        ok, jpeg = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, 90])  # as the JSON
        assert ok and np.array_equal(pixels(Path(tile["path"]).read_bytes()), pixels(jpeg))


def test_two_images_of_the_same_name_are_told_apart_by_position(photos, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "photo.png").write_bytes((photos / "chelsea.png").read_bytes())
    workflow = tmp_path / "tiles.yaml"
    workflow.write_text(yaml.safe_dump(TILES), encoding="utf-8")
    saved = tmp_path / "saved"
    run(
        str(workflow),
        "-i",
        f"image={tmp_path / 'a' / 'photo.png'}",
        "-i",
        f"image={tmp_path / 'b' / 'photo.png'}",
        "--save-images",
        str(saved),
    )
    # chelsea is 451 x 300: two tiles a row, two rows
    assert sorted(p.name for p in saved.iterdir()) == [
        f"photo-{element}_tiles_{tile}.jpg" for element in (0, 1) for tile in range(4)
    ]


def test_a_folder_given_as_input_names_each_of_its_images(photos, tmp_path):
    saved = tmp_path / "saved"
    results = run(
        str(EXAMPLES / "face_emotion.yaml"), "-i", f"image={photos}", "--save-images", str(saved)
    )
    assert [r["annotated"]["path"] for r in results] == [
        str(saved / "astronaut_annotated.jpg"),
        str(saved / "chelsea_annotated.jpg"),
    ]


def test_the_results_file_holds_the_paths(photos, tmp_path):
    saved, output = tmp_path / "saved", tmp_path / "results.json"
    result = runner.invoke(
        app,
        [
            "run",
            str(EXAMPLES / "face_emotion.yaml"),
            "-i",
            f"image={photos / 'astronaut.png'}",
            "--save-images",
            str(saved),
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    [written] = json.loads(output.read_text())
    assert written["annotated"]["path"] == str(saved / "astronaut_annotated.jpg")
    assert (saved / "astronaut_annotated.jpg").is_file()


def test_a_workflow_registered_on_a_server_saves_what_the_server_sent(photos, tmp_path):
    """With --server the JSON's JPEG comes from the server: the file holds those bytes; a
    registered workflow (a name, no file here) names elements by the image files given."""
    document = yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())
    images = ["-i", f"image={photos / 'astronaut.png'}", "-i", f"image={photos / 'chelsea.png'}"]
    saved = tmp_path / "saved"
    with serving(tmp_path / "server", "--api-key", API_KEY) as server:
        with Client(server.url, api_key=API_KEY) as client:
            client.register("faces", document)
        remote = ["faces", "--server", server.url, "--api-key", API_KEY, *images]
        sent = run(*remote)
        results = run(*remote, "--save-images", str(saved))
    for name, result, plain in zip(("astronaut", "chelsea"), results, sent, strict=True):
        path = saved / f"{name}_annotated.jpg"
        assert result["annotated"]["path"] == str(path)
        assert np.array_equal(
            pixels(path.read_bytes()), pixels(base64.b64decode(plain["annotated"]["value"]))
        )


def test_a_name_made_unique_does_not_take_another_images_name(photos, tmp_path):
    # photo-1.png sorts first; photo.jpg and photo.png share "photo", told apart by
    # position (1 and 2): the first of them must not become "photo-1", photo-1.png's name
    folder = tmp_path / "photos"
    folder.mkdir()
    pictures = (("photo-1.png", "astronaut"), ("photo.jpg", "chelsea"), ("photo.png", "chelsea"))
    for name, source in pictures:
        (folder / name).write_bytes((photos / f"{source}.png").read_bytes())
    workflow = tmp_path / "tiles.yaml"
    workflow.write_text(yaml.safe_dump(TILES), encoding="utf-8")
    saved = tmp_path / "saved"
    results = run(str(workflow), "-i", f"image={folder}", "--save-images", str(saved))
    firsts = [r["tiles"][0]["path"] for r in results]
    assert len(set(firsts)) == 3, firsts
    assert pixels((saved / Path(firsts[0]).name).read_bytes()).shape == (256, 256, 3)
    assert len(list(saved.iterdir())) == 4 + 4 + 4  # astronaut 512 x 512, chelsea 451 x 300


def test_elements_are_named_by_the_first_image_input_the_workflow_declares(photos, tmp_path):
    two = {
        **TILES,
        "inputs": [{"type": "image", "name": "image"}, {"type": "image", "name": "other"}],
        "outputs": [
            *TILES["outputs"],
            {"type": "JsonField", "name": "other", "selector": "$inputs.other"},
        ],
    }
    workflow = tmp_path / "two.yaml"
    workflow.write_text(yaml.safe_dump(two), encoding="utf-8")
    saved = tmp_path / "saved"
    results = run(
        str(workflow),
        "-i",
        f"other={photos / 'chelsea.png'}",  # given first, declared second
        "-i",
        f"image={photos / 'astronaut.png'}",
        "--save-images",
        str(saved),
    )
    assert results[0]["other"]["path"] == str(saved / "astronaut_other.jpg")


def test_an_image_file_that_cannot_be_written_is_an_error_not_a_traceback(tmp_path, photos):
    long_name = "x" * 250  # with the element's name, more than a file system's 255 bytes
    document = {**TILES, "outputs": [{**TILES["outputs"][0], "name": long_name}]}
    workflow = tmp_path / "tiles.yaml"
    workflow.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = runner.invoke(
        app,
        ["run", str(workflow), "-i", f"image={photos / 'astronaut.png'}",
         "--save-images", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "error [workflow_error] at --save-images" in result.output
    assert "could not write an image into" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
