"""Images in: Pillow images and RGB arrays in Python, and on the command line a folder or
glob as a batch, ``-`` for stdin and URLs only where allowed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import InputSourceNotAllowedError, RuntimeInputError

SIZES = {
    "version": "1.0",
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {"type": "PropertyDefinition", "name": "w", "data": "$inputs.image", "property": "width"},
    ],
    "outputs": [
        {"type": "JsonField", "name": "width", "selector": "$steps.w.output"},
        {"type": "JsonField", "name": "image", "selector": "$inputs.image"},
    ],
}
runner = CliRunner()


@pytest.fixture(scope="module")
def sizes() -> Workflow:
    return Workflow.compile(SIZES)


def pixels_of(results: list[dict]) -> list[np.ndarray]:
    return [result["image"].numpy for result in results]


# --- Python -------------------------------------------------------------------------------


def test_a_pil_image_is_read_as_its_colours(sizes, astronaut):
    rgb = Image.fromarray(astronaut[:, :, ::-1].copy())  # Pillow holds RGB
    [given] = pixels_of(sizes.run(image=rgb))
    assert np.array_equal(given, astronaut)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_pil_images_of_other_modes_become_bgr_pixels(sizes, astronaut, mode):
    picture = Image.fromarray(astronaut[:, :, ::-1].copy())
    converted = picture.convert("I;16") if mode == "I;16" else picture.convert(mode)
    [given] = pixels_of(sizes.run(image=converted))
    assert given.shape == astronaut.shape and given.dtype == np.uint8
    expected = np.asarray(converted.convert("RGB"))[:, :, ::-1]
    if mode == "I;16":  # 16-bit gray: its top 8 bits, as any uint16 image
        expected = np.repeat((np.asarray(converted) >> 8).astype(np.uint8)[:, :, None], 3, 2)
    assert np.array_equal(given, expected)


def test_an_rgb_array_with_its_channel_order_equals_the_bgr_one(sizes, astronaut):
    rgb = astronaut[:, :, ::-1]
    [from_rgb, from_batch] = pixels_of(sizes.run(image=[rgb, rgb], channel_order="rgb"))
    assert np.array_equal(from_rgb, astronaut) and np.array_equal(from_batch, astronaut)
    [taken_as_bgr] = pixels_of(sizes.run(image=rgb))  # the default is OpenCV's order
    assert np.array_equal(taken_as_bgr, rgb)


def test_the_channel_order_may_be_written_in_capitals(sizes, astronaut):
    rgb = astronaut[:, :, ::-1]
    [from_rgb] = pixels_of(sizes.run(image=rgb, channel_order="RGB"))
    assert np.array_equal(from_rgb, astronaut)
    [as_given] = pixels_of(sizes.run(image=astronaut, channel_order="BGR"))
    assert np.array_equal(as_given, astronaut)


def test_the_channel_order_leaves_files_and_other_inputs_alone(sizes, astronaut, tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), astronaut)
    [from_file] = pixels_of(sizes.run(image=str(path), channel_order="rgb"))
    assert np.array_equal(from_file, astronaut)  # a file says its own order


def test_an_unknown_channel_order_is_an_error(sizes, astronaut):
    with pytest.raises(RuntimeInputError) as raised:
        sizes.run(image=astronaut, channel_order="grb")
    assert (raised.value.place, raised.value.message) == (
        "channel_order",
        "unknown channel order 'grb'",
    )


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def sizes_yaml(tmp_path) -> str:
    path = tmp_path / "sizes.yaml"
    definition = {**SIZES, "outputs": SIZES["outputs"][:1]}
    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    return str(path)


@pytest.fixture
def pictures(tmp_path, astronaut, coffee) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    cv2.imwrite(str(folder / "frame10.png"), coffee)  # 600 wide
    cv2.imwrite(str(folder / "frame2.jpg"), astronaut)  # 512 wide
    cv2.imwrite(str(folder / "frame3.png"), coffee[:, :300])  # 300 wide
    (folder / "notes.txt").write_text("not an image")
    return folder


def widths(result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [item["width"] for item in json.loads(result.stdout)]


def test_a_folder_is_a_batch_of_its_images_in_natural_order(sizes_yaml, pictures):
    result = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={pictures}"])
    assert widths(result) == [512, 300, 600]  # frame2, frame3, frame10; notes.txt skipped


def test_a_glob_is_a_batch_of_the_images_it_matches(sizes_yaml, pictures):
    result = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={pictures}/*.png"])
    assert widths(result) == [300, 600]


def test_a_folder_takes_every_format_a_single_file_does(sizes_yaml, tmp_path, astronaut):
    """GIF, PNM and Sun raster files are read one by one: a folder of them was 'no images'."""
    folder = tmp_path / "formats"
    folder.mkdir()
    for width, suffix in [(100, ".gif"), (110, ".ppm"), (120, ".pgm"), (130, ".ras")]:
        picture = astronaut[:64, :width] if suffix != ".pgm" else astronaut[:64, :width, 0]
        if suffix == ".gif":  # OpenCV writes no GIF
            Image.fromarray(picture[:, :, ::-1]).save(folder / f"{width}{suffix}")
        else:
            assert cv2.imwrite(str(folder / f"{width}{suffix}"), picture)
    result = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={folder}"])
    assert widths(result) == [100, 110, 120, 130]


def test_a_folder_without_images_says_so(sizes_yaml, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={tmp_path / 'empty'}"])
    assert result.exit_code == 1
    assert f"no images in the folder '{tmp_path / 'empty'}' (given as image)" in result.output
    assert ".png" in result.output  # which files count as images


def test_stdin_gives_one_image(sizes_yaml, pictures):
    script = "import sys; sys.argv[0] = 'visionflow'; from visionflow.cli import main; main()"
    command = [sys.executable, "-c", script, "run", sizes_yaml, "-i", "image=-"]
    data = (pictures / "frame10.png").read_bytes()
    done = subprocess.run(command, input=data, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert [item["width"] for item in json.loads(done.stdout)] == [600]
    twice = subprocess.run(
        [*command, "-i", "image=-"], input=data, capture_output=True, timeout=120
    )
    assert twice.returncode == 1
    assert b"'image=-' reads standard input, which 'image=-' already read" in twice.stderr
    empty = subprocess.run(command, input=b"", capture_output=True, timeout=120)
    assert empty.returncode == 1
    assert b"'image=-' found nothing on standard input" in empty.stderr


def test_a_url_is_refused_unless_downloads_are_allowed(sizes):
    with pytest.raises(InputSourceNotAllowedError):
        sizes.run(image={"type": "url", "value": "http://127.0.0.1:9/a.png"})


def test_a_missing_input_is_named_in_the_command_lines_words(tmp_path):
    path = tmp_path / "two.yaml"
    two = {
        **SIZES,
        "inputs": [*SIZES["inputs"], {"type": "WorkflowParameter", "name": "zoom"}],
        "outputs": SIZES["outputs"][:1],
    }
    path.write_text(yaml.safe_dump(two), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "-i", "zoom=2"])
    assert result.exit_code == 1
    assert "missing input 'image'" in result.output
    assert "hint: give it: --input image=photo.jpg" in result.output
    assert "run()" not in result.output
    result = runner.invoke(app, ["run", str(path), "-i", "image=x.png"])
    assert "missing parameter 'zoom'" in result.output
    assert "hint: give it: --input zoom=VALUE" in result.output


def test_a_url_on_the_command_line_is_downloaded_only_with_allow_urls(sizes_yaml, pictures):
    """A real HTTP server on 127.0.0.1 serves the picture."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(pictures))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/frame10.png"
    try:
        refused = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={url}"])
        assert refused.exit_code == 1
        assert "this command does not download images from URLs" in refused.output
        assert "pass --allow-urls" in refused.output
        allowed = runner.invoke(app, ["run", sizes_yaml, "-i", f"image={url}", "--allow-urls"])
        assert widths(allowed) == [600]
    finally:
        server.shutdown()
        server.server_close()


def test_the_pixel_limit_of_the_command_line_names_its_switch(sizes_yaml, pictures):
    image = f"image={pictures / 'frame10.png'}"
    result = runner.invoke(app, ["run", sizes_yaml, "-i", image, "--max-image-pixels", "1000"])
    assert result.exit_code == 1
    assert "pass --max-image-pixels" in result.output


class _PluginPng(PngImagePlugin.PngImageFile):
    """An image class of a Pillow plugin living outside Pillow (as pillow-heif's images do)."""


def test_an_image_of_a_pillow_plugin_outside_pillow_is_a_pil_image(sizes, astronaut, tmp_path):
    cv2.imwrite(str(tmp_path / "astronaut.png"), astronaut)
    picture = _PluginPng(str(tmp_path / "astronaut.png"))
    assert type(picture).__module__ == __name__
    [given] = pixels_of(sizes.run(image=picture))
    assert np.array_equal(given, astronaut)


def test_a_file_name_with_a_digit_that_is_no_decimal_is_ordered_too(tmp_path):
    # '²' is a digit to str.isdigit but no decimal digit: int() refuses it
    from visionflow.data.sources import image_paths

    for name in ("scan10.png", "scan1²2.png", "scan2.png"):
        (tmp_path / name).write_bytes(b"")
    assert [Path(p).name for p in image_paths(str(tmp_path))] == [
        "scan1²2.png",
        "scan2.png",
        "scan10.png",
    ]


def test_a_batch_input_of_kind_image_is_read_as_images(astronaut):
    """Roboflow declares image batches so too: arrays, files and RGB arrays all read."""
    document = {
        **SIZES,
        "inputs": [{"type": "WorkflowBatchInput", "name": "image", "kind": ["image"]}],
    }
    batch = Workflow.compile(document)
    rgb = astronaut[:, :, ::-1]
    results = batch.run(image=[astronaut, rgb], channel_order="rgb")
    assert [result["width"] for result in results] == [512, 512]
    assert np.array_equal(results[1]["image"].numpy, astronaut)
    assert np.array_equal(results[0]["image"].numpy, rgb)  # given BGR, read as RGB
