"""Inputs are checked where they enter, so no step ever sees them wrong: image dtypes and
ranges, the declared form of an image (never its length), typed parameters (None, NaN,
ranges) given or by default, empty images, and a pixel limit read from a file's header
before decoding (in-process runs and ``run-dataset``). Real pictures from scikit-image."""

from __future__ import annotations

import base64
import json
import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import ImagePolicy, Workflow
from visionflow.errors import (
    DefinitionError,
    ImageTooLargeError,
    RuntimeInputError,
)

DETECTOR = "mediapipe/face_detection_short_range"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def png_header(width: int, height: int) -> bytes:
    """A PNG file whose header says ``width`` x ``height`` (its pixel data is a stub): what a
    decompression bomb looks like before anything decodes it, in 67 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def sizes() -> dict[str, Any]:
    """Each image's width and height: one cheap step that reads the pixels."""
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "PropertyDefinition", "name": "w", "data": "$inputs.image",
             "property": "width"},
            {"type": "PropertyDefinition", "name": "h", "data": "$inputs.image",
             "property": "height"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "width", "selector": "$steps.w.output"},
            {"type": "JsonField", "name": "height", "selector": "$steps.h.output"},
        ],
    }  # fmt: skip


def faces() -> dict[str, Any]:
    """The faces MediaPipe's short-range detector finds in the image."""
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"faces": {"source": DETECTOR}},
        "steps": [
            {"type": "ObjectDetectionModel", "name": "detect", "images": "$inputs.image",
             "model": "faces"},
        ],
        "outputs": [{"type": "JsonField", "name": "faces",
                     "selector": "$steps.detect.predictions"}],
    }  # fmt: skip


def parameter(kind: str, **declared: Any) -> dict[str, Any]:
    return {
        "inputs": [{"type": "parameter", "name": "level", "kind": [kind], **declared}],
        "outputs": [{"type": "JsonField", "name": "level", "selector": "$inputs.level"}],
    }


@pytest.fixture(scope="module")
def detector() -> Workflow:
    return Workflow.compile(faces())


def boxes(results: list[dict[str, Any]]) -> list[list[float]]:
    return [detections.xyxy.round(3).tolist() for detections in (r["faces"] for r in results)]


# --- image dtypes and ranges -------------------------------------------------------------


def test_a_uint16_image_is_scaled_and_finds_the_same_face(detector, astronaut):
    deep = astronaut.astype(np.uint16) * 257  # what a 16-bit PNG of the picture holds
    found = detector.run(image=deep)
    assert len(found[0]["faces"]) == 1
    assert boxes(found) == boxes(detector.run(image=astronaut))


def test_a_float_image_in_0_1_is_scaled_with_a_note(detector, astronaut, caplog):
    with caplog.at_level(logging.INFO, logger="visionflow.inputs"):
        found = detector.run(image=astronaut.astype(np.float32) / 255)
    assert len(found[0]["faces"]) == 1  # clipped to 0-1 of 255 before: black, no face
    assert boxes(found) == boxes(detector.run(image=astronaut))
    assert caplog.messages == ["inputs 'image'[0]: float pixels in [0, 1] scaled to 0-255"]


def test_float_pixels_equal_the_uint8_pixels_they_came_from(astronaut):
    identity = Workflow.compile(
        {
            "inputs": [{"type": "image", "name": "image"}],
            "outputs": [{"type": "JsonField", "name": "image", "selector": "$inputs.image"}],
        }
    )
    [result] = identity.run(image=astronaut.astype(np.float64) / 255)
    assert np.array_equal(result["image"].numpy, astronaut)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 3), object), "an array of object values is not an image"),
        (np.zeros((4, 4, 3), complex), "an array of complex128 values is not an image"),
        (np.zeros((4, 4, 3), bool), "an array of bool values is not an image"),
        (
            np.full((4, 4, 3), 200.0),
            "float pixels must lie in [0, 1]; found values from 200.0 to 200.0",
        ),
        (np.full((4, 4, 3), np.nan), "float pixels must lie in [0, 1]; found values from nan to "
         "nan"),
        (np.full((4, 4, 3), 300), "int64 pixels must lie in 0-255; found values from 300 to 300"),
        (np.zeros((4, 4, 2), np.uint8), "expected an H x W x 3 (or gray H x W) image array, "
         "found shape (4, 4, 2)"),
    ],
    ids=["object", "complex", "bool", "float 0-255", "NaN", "int64 over 255", "two channels"],
)  # fmt: skip
def test_an_array_that_is_no_image_is_refused_naming_the_input(astronaut, pixels, message):
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes()).run(image=[astronaut, pixels])
    assert (raised.value.place, raised.value.message) == ("inputs 'image'[1]", message)


def test_integers_in_0_255_and_gray_images_are_taken(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    results = Workflow.compile(sizes()).run(image=[astronaut.astype(np.int64), gray[:, :100]])
    assert results == [{"width": 512, "height": 512}, {"width": 100, "height": 512}]


# --- an image's form says what it is, never its length --------------------------------------


@pytest.fixture(scope="module")
def tiny_png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((3, 5, 3), 7, np.uint8))
    assert ok
    return encoded.tobytes()


def test_short_base64_in_a_base64_mapping_is_decoded(tiny_png):
    text = base64.b64encode(tiny_png).decode()
    assert len(text) < 260  # read as a path before, for being short
    results = Workflow.compile(sizes()).run(image={"type": "base64", "value": text})
    assert results == [{"width": 5, "height": 3}]


def test_a_data_url_and_encoded_bytes_are_images(tiny_png):
    data_url = "data:image/png;base64," + base64.b64encode(tiny_png).decode()
    results = Workflow.compile(sizes()).run(image=[data_url, tiny_png])
    assert results == [{"width": 5, "height": 3}] * 2


def test_any_other_text_is_a_path_however_long(tiny_png):
    text = base64.b64encode(tiny_png * 10).decode()
    assert len(text) > 260  # read as base64 before, for being long
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes()).run(image=text)
    assert raised.value.message == f"no image file at '{text}'"


def test_a_path_reads_the_file(tmp_path, tiny_png):
    (tmp_path / "tiny.png").write_bytes(tiny_png)
    results = Workflow.compile(sizes()).run(
        image=[str(tmp_path / "tiny.png"), tmp_path / "tiny.png"]
    )
    assert results == [{"width": 5, "height": 3}] * 2


@pytest.mark.parametrize("extension", [".ppm", ".pgm", ".jp2", ".ras", ".tif", ".bmp"])
def test_files_in_formats_whose_header_gives_the_size_are_read(tmp_path, astronaut, extension):
    pixels = cv2.resize(astronaut, (64, 48))
    if extension == ".pgm":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    assert cv2.imwrite(str(tmp_path / f"picture{extension}"), pixels)
    results = Workflow.compile(sizes()).run(image=str(tmp_path / f"picture{extension}"))
    assert results == [{"width": 64, "height": 48}]


def test_a_float_format_whose_size_nobody_checks_first_is_refused(tmp_path, astronaut):
    assert cv2.imwrite(str(tmp_path / "picture.hdr"), astronaut.astype(np.float32) / 255)
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes()).run(image=str(tmp_path / "picture.hdr"))
    assert raised.value.message.endswith("are not an image in a format this workflow reads")


# --- typed parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("float", None, "None"),
        ("float", float("nan"), "nan"),
        ("float", float("inf"), "inf"),
        ("float", "0.5", "'0.5'"),
        ("integer", 2.5, "2.5"),
        ("integer", True, "True"),
        ("boolean", 1, "1"),
        ("float_zero_to_one", 1.5, "1.5"),
        ("float_zero_to_one", -0.1, "-0.1"),
        ("string", None, "None"),
    ],
)
def test_a_parameter_value_of_the_wrong_kind_is_refused_naming_it(kind, value, shown):
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(parameter(kind)).run(level=value)
    assert raised.value.place == "inputs 'level'"
    assert raised.value.message == f"parameter 'level' expects {kind}, found {shown}"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("float", 0.25), ("float", 3), ("float", np.float32(0.5)), ("integer", np.int64(7)),
     ("float_zero_to_one", 1), ("boolean", False)],
)  # fmt: skip
def test_a_parameter_value_of_its_kind_passes(kind, value):
    assert Workflow.compile(parameter(kind)).run(level=value) == [{"level": value}]


@pytest.mark.parametrize(("kind", "default"), [("float", None), ("float_zero_to_one", 2.0)])
def test_a_default_value_of_the_wrong_kind_is_a_compile_error(kind, default):
    with pytest.raises(DefinitionError) as raised:
        Workflow.compile(parameter(kind, default_value=default))
    assert raised.value.place == "inputs 'level' field 'default_value'"
    assert raised.value.message == (
        f"the default_value of parameter 'level' is {default!r}, which is not {kind}"
    )


def test_a_zero_to_one_parameter_feeds_a_float_field(astronaut):
    document = {
        "inputs": [
            {"type": "image", "name": "image"},
            {"type": "parameter", "name": "ratio", "kind": ["float_zero_to_one"]},
        ],
        "steps": [
            {"type": "RelativeStaticCrop", "name": "crop", "images": "$inputs.image",
             "x_center": 0.5, "y_center": 0.5, "width": "$inputs.ratio", "height": 0.5},
            {"type": "PropertyDefinition", "name": "w", "data": "$steps.crop.crops",
             "property": "width"},
        ],
        "outputs": [{"type": "JsonField", "name": "width", "selector": "$steps.w.output"}],
    }  # fmt: skip
    assert Workflow.compile(document).run(image=astronaut, ratio=0.25) == [{"width": 128}]


# --- empty images and the pixel limit --------------------------------------------------------


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 12, 3), (12, 0)])
def test_an_empty_image_is_refused_before_any_step(detector, astronaut, shape):
    with pytest.raises(RuntimeInputError) as raised:  # a ZeroDivisionError in the model before
        detector.run(image=[astronaut, np.zeros(shape, np.uint8)])
    assert raised.value.place == "inputs 'image'[1]"
    assert raised.value.message == f"the image is empty ({shape[1]}x{shape[0]} pixels)"


def test_a_huge_png_is_refused_from_its_header_before_decoding(tmp_path):
    for position in range(4):  # 5.8 GB of decoded pixels before
        (tmp_path / f"huge-{position}.png").write_bytes(png_header(20000, 20000))
    with pytest.raises(ImageTooLargeError) as raised:
        Workflow.compile(sizes()).run(image=sorted(str(p) for p in tmp_path.iterdir()))
    assert raised.value.place == "inputs 'image'[0]"
    # its data is a stub: decoding first would have said "not a decodable image"
    assert raised.value.message == (
        "the image is far larger than this workflow takes (at most 100,000,000 pixels per image)"
    )


def test_the_pixel_limit_is_the_policys(tmp_path, astronaut):
    policy = ImagePolicy(max_pixels=200_000)
    (tmp_path / "header.png").write_bytes(png_header(1000, 500))
    small = Workflow.compile(sizes(), image_policy=policy)
    for image in (str(tmp_path / "header.png"), png_header(1000, 500)):
        with pytest.raises(ImageTooLargeError) as raised:
            small.run(image=image)
        assert raised.value.message == (
            "the image is 1000x500 (500,000 pixels); this workflow takes at most 200,000 pixels "
            "per image"
        )
    with pytest.raises(ImageTooLargeError, match=r"512x512 \(262,144 pixels\)"):
        small.run(image=astronaut)
    assert small.run(image=astronaut[:300]) == [{"width": 512, "height": 300}]


def test_run_dataset_refuses_a_huge_image_alone(tmp_path, monkeypatch, astronaut):
    pytest.importorskip("sqlalchemy")
    from visionflow.cli import app

    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "astronaut.png"), astronaut)
    cv2.imwrite(str(folder / "small.png"), astronaut[:100, :100])
    (folder / "huge.png").write_bytes(png_header(20000, 20000))
    workflow = tmp_path / "sizes.json"
    workflow.write_text(json.dumps(sizes()))
    args = ["run-dataset", str(workflow), "--input", str(folder), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "3 images: 2 run, 0 skipped (done before), 1 failed" in result.output
    assert "failed: huge.png: " in result.output and "far larger" in result.output

    limited = [*args, "--output", str(tmp_path / "limited"), "--max-image-pixels", "20000"]
    result = CliRunner().invoke(app, limited)
    assert result.exit_code == 1
    failed = json.loads((tmp_path / "limited" / "run.json").read_text())["failed"]
    assert sorted(failed) == ["astronaut.png", "huge.png"]
    assert (
        "cannot read image 'astronaut.png': the image is 512x512 (262,144 pixels); this "
        "workflow takes at most 20,000 pixels per image" in failed["astronaut.png"]
    )
