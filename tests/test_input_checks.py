"""Inputs are checked where they enter, so no step ever sees them wrong: image dtypes and
ranges, the declared form of an image (never its length), typed parameters (None, NaN,
ranges) given or by default, empty images, and a pixel limit read from a file's header
before decoding (in-process runs and ``run-dataset``). Real pictures from scikit-image."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import ImagePolicy, Workflow
from visionflow.data.image import WorkflowImage
from visionflow.data.sources import LOCAL, header_size
from visionflow.errors import (
    DefinitionError,
    ImageTooLargeError,
    InputSourceNotAllowedError,
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


def test_a_workflow_image_of_other_pixels_meets_the_array_rules(detector, astronaut):
    """A WorkflowImage made from floats found nothing, from gray pixels failed in a step."""
    made = WorkflowImage(astronaut.astype(np.float32) / 255, image_id="mine")
    found = detector.run(image=[made, WorkflowImage(astronaut[:, :, 1])])
    assert [len(result["faces"]) for result in found] == [1, 1]
    assert boxes(found[:1]) == boxes(detector.run(image=astronaut))
    assert found[0]["faces"].data["parent_id"][0] == "mine"  # still the image given
    with pytest.raises(RuntimeInputError) as raised:
        detector.run(image=[astronaut, WorkflowImage(np.full((4, 4, 3), np.inf))])
    assert raised.value.place == "inputs 'image'[1]"
    assert raised.value.message == (
        "float pixels must be finite numbers; found values from inf to inf"
    )


def test_float_pixels_in_0_255_are_taken_as_they_are(detector, astronaut, caplog):
    with caplog.at_level(logging.INFO, logger="visionflow.inputs"):
        found = detector.run(image=astronaut.astype(np.float32))
    assert boxes(found) == boxes(detector.run(image=astronaut))
    assert caplog.messages == []  # nothing to say: they are 0-255 pixels


def test_float_pixels_beyond_0_255_are_clipped_with_a_warning(caplog):
    identity = Workflow.compile(
        {
            "inputs": [{"type": "image", "name": "image"}],
            "outputs": [{"type": "JsonField", "name": "image", "selector": "$inputs.image"}],
        }
    )
    overshoot = np.array([[[-20.0, 10.4, 300.0], [0.0, 254.6, 255.0]]])  # a sharpening's
    with caplog.at_level(logging.INFO, logger="visionflow.inputs"):
        [result] = identity.run(image=overshoot)
    assert result["image"].numpy.tolist() == [[[0, 10, 255], [0, 255, 255]]]
    # the inputs' own records (a Ray session left by another test logs on its own thread)
    records = [record for record in caplog.records if record.name == "visionflow.inputs"]
    assert [record.getMessage() for record in records] == [
        "inputs 'image'[0]: float pixels from -20 to 300 lie outside 0-255; clipped to 0-255"
    ]
    assert records[0].levelno == logging.WARNING


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
        (np.full((4, 4, 3), np.nan), "float pixels must be finite numbers; found values from "
         "nan to nan"),
        (np.full((4, 4, 3), 300), "int64 pixels must lie in 0-255; found values from 300 to 300"),
        (np.zeros((4, 4, 2), np.uint8), "expected an H x W x 3 (or gray H x W) image array, "
         "found shape (4, 4, 2)"),
    ],
    ids=["object", "complex", "bool", "NaN", "int64 over 255", "two channels"],
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
    text = base64.b64encode(tiny_png * 200).decode()
    assert len(text) > 20_000  # read as base64 before, for being long
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes()).run(image=text)
    # the text shown short: it filled the message before (megabytes for a large image)
    assert raised.value.message == f"cannot read the file '{text[:197]}...': File name too long"


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
        pytest.param("float", 10**400, f"{10**400!r:.77}...", id="float-beyond-any-float"),
        pytest.param(
            "float_zero_to_one", -(10**400), f"{-(10**400)!r:.77}...", id="ratio-beyond-any-float"
        ),
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


@pytest.mark.parametrize(
    ("kind", "default"),
    [
        ("float", None),
        ("float_zero_to_one", 2.0),
        pytest.param("float", 10**400, id="float-beyond-any-float"),
    ],
)
def test_a_default_value_of_the_wrong_kind_is_a_compile_error(kind, default):
    with pytest.raises(DefinitionError) as raised:
        Workflow.compile(parameter(kind, default_value=default))
    assert raised.value.place == "inputs 'level' field 'default_value'"
    shown = repr(default) if len(repr(default)) <= 80 else f"{default!r:.77}..."
    assert raised.value.message == (
        f"the default_value of parameter 'level' is {shown}, which is not {kind}"
    )


def test_an_unknown_input_kind_is_a_compile_error_with_a_suggestion():
    with pytest.raises(DefinitionError) as raised:
        Workflow.compile(parameter("flaot"))
    assert raised.value.place == "inputs 'level' field 'kind'"
    assert raised.value.message == "input 'level' names the unknown kind 'flaot'"
    assert raised.value.hint == "did you mean 'float'? `visionflow kinds` lists the kinds"


@pytest.mark.parametrize("kind", ["dictionary", "Batch[float]", "*"])
def test_roboflows_kind_names_and_the_wildcard_are_known(kind):
    Workflow.compile(parameter(kind))


def test_a_wrong_default_is_refused_before_any_model_is_set_up():
    document = faces()
    document["models"]["faces"] = {"source": "no-such-model-in-the-zoo"}  # set up last
    document["inputs"].append({"type": "parameter", "name": "level", "kind": ["integer"],
                               "default_value": "high"})  # fmt: skip
    with pytest.raises(DefinitionError) as raised:
        Workflow.compile(document)
    assert raised.value.place == "inputs 'level' field 'default_value'"


def batch(kind: str, **declared: Any) -> dict[str, Any]:
    return {
        "inputs": [{"type": "batch", "name": "levels", "kind": [kind], **declared}],
        "outputs": [{"type": "JsonField", "name": "level", "selector": "$inputs.levels"}],
    }


@pytest.mark.parametrize(
    ("kind", "given", "place", "shown"),
    [
        ("float", [0.5, "high"], "[1]", "'high'"),
        ("float_zero_to_one", [0.5, 0.25, float("nan")], "[2]", "nan"),
        ("integer", 2.5, "[0]", "2.5"),  # one value is a batch of one
    ],
)
def test_each_element_of_a_typed_batch_is_checked_naming_it(kind, given, place, shown):
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(batch(kind)).run(levels=given)
    assert raised.value.place == f"inputs 'levels'{place}"
    assert raised.value.message == f"input 'levels' expects {kind} elements, found {shown}"


def test_a_typed_batch_default_and_nested_elements_are_checked_too():
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(batch("float", default_value="high")).run()
    assert (raised.value.place, raised.value.message) == (
        "inputs 'levels'[0]",
        "input 'levels' expects float elements, found 'high'",
    )
    nested = batch("integer", dimensionality=2)
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(nested).run(levels=[[1, 2], [3, "4"]])
    assert raised.value.place == "inputs 'levels'[1][1]"
    assert Workflow.compile(batch("float")).run(levels=[0.5, 2]) == [{"level": 0.5}, {"level": 2}]


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
        "the image is 20000x20000 (400,000,000 pixels); this workflow takes at most "
        "100,000,000 pixels per image"
    )


def test_a_pixel_limit_above_pillows_own_bound_is_the_one_that_counts(tmp_path, recwarn):
    """Pillow refuses images over ~179 megapixels (and warns over 89) whatever the policy:
    an operator's larger limit is the one met, and a refusal names the real size."""
    policy = ImagePolicy(max_pixels=300_000_000)
    # read from the header only: the data is a stub, and decoding would take 550 MB
    assert header_size(png_header(13500, 13500), "image", policy) == (13500, 13500)
    assert header_size(png_header(10000, 9500), "image", LOCAL) == (10000, 9500)
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]
    (tmp_path / "larger.png").write_bytes(png_header(20000, 20000))
    with pytest.raises(ImageTooLargeError) as raised:
        Workflow.compile(sizes(), image_policy=policy).run(image=str(tmp_path / "larger.png"))
    assert raised.value.message == (
        "the image is 20000x20000 (400,000,000 pixels); this workflow takes at most "
        "300,000,000 pixels per image"
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


def test_the_policys_folders_may_be_relative(tmp_path, monkeypatch, astronaut):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    cv2.imwrite("photos/astronaut.png", astronaut[:100, :200])
    cv2.imwrite("elsewhere.png", astronaut[:100, :200])
    policy = ImagePolicy(folders=(Path("photos"),))  # resolved now, as paths are when read
    assert policy.folders == (tmp_path.resolve() / "photos",)
    assert policy == ImagePolicy(folders=(tmp_path / "photos",))  # one plan for both
    photos = Workflow.compile(sizes(), image_policy=policy)
    assert photos.run(image="photos/astronaut.png") == [{"width": 200, "height": 100}]
    with pytest.raises(InputSourceNotAllowedError):
        photos.run(image="elsewhere.png")


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
    assert "failed: huge.png: " in result.output
    assert "the image is 20000x20000 (400,000,000 pixels)" in result.output

    limited = [*args, "--output", str(tmp_path / "limited"), "--max-image-pixels", "20000"]
    result = CliRunner().invoke(app, limited)
    assert result.exit_code == 1
    failed = json.loads((tmp_path / "limited" / "run.json").read_text())["failed"]
    assert sorted(failed) == ["astronaut.png", "huge.png"]
    assert (
        "cannot read image 'astronaut.png': the image is 512x512 (262,144 pixels); this "
        "workflow takes at most 20,000 pixels per image" in failed["astronaut.png"]
    )


# --- downloads (where the policy allows them) ---------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers with a PNG sent a few bytes at a time, each well within a read timeout."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            for start in range(0, len(self.body), 8):
                self.wfile.write(self.body[start : start + 8])
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what the test expects

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def trickling(tiny_png) -> Any:
    _Trickle.body = tiny_png * 4
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/slow.png", len(_Trickle.body)
    server.shutdown()
    server.server_close()


def test_a_download_is_bounded_in_total_not_only_per_read(trickling):
    url, size = trickling
    assert size // 8 * 0.05 > 0.5  # the whole answer takes longer than the bound below
    policy = ImagePolicy(allow_urls=True, url_timeout_seconds=0.3)
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes(), image_policy=policy).run(image={"type": "url", "value": url})
    assert raised.value.message == f"could not download {url} within 0.3 s"


def test_unknown_inputs_are_named_a_few_at_a_time():
    given = {f"extra{n:05}": 1 for n in range(10_000)}
    with pytest.raises(RuntimeInputError) as raised:
        Workflow.compile(sizes()).run(image=np.zeros((2, 2, 3), np.uint8), **given)
    assert raised.value.place == "inputs"
    assert raised.value.message.endswith("'extra00019' and 9980 more")
    assert raised.value.hint == "this workflow's inputs are: image"


def crop_by_parameters() -> dict:
    """A static crop whose size is given by parameters (fields taking a float or a selector)."""
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "size"},
        ],
        "steps": [
            {
                "type": "roboflow_core/relative_statoic_crop@v1",
                "name": "crop",
                "images": "$inputs.image",
                "x_center": 0.5,
                "y_center": 0.5,
                "width": "$inputs.size",
                "height": "$inputs.size",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "crop", "selector": "$steps.crop.crops"}],
    }


def test_a_parameter_must_be_a_value_its_field_takes_written_in_the_document(astronaut):
    workflow = Workflow.compile(crop_by_parameters())
    [result] = workflow.run(image=astronaut, size=0.5)
    assert result["crop"].numpy.shape == (256, 256, 3)
    with pytest.raises(RuntimeInputError) as caught:
        workflow.run(image=astronaut, size="half")
    assert caught.value.place == "inputs 'size'"
    assert caught.value.message == (
        "parameter 'size' is 'half', which field 'width' of step 'crop' does not accept: "
        "Input should be a valid number, unable to parse string as a number"
    )


def test_a_none_element_of_a_typed_batch_is_an_empty_element():
    """As in Roboflow's engine: None is an empty value whatever the declared kind."""
    assert Workflow.compile(batch("float")).run(levels=[0.5, None]) == [
        {"level": 0.5},
        {"level": None},
    ]
