"""``visionflow.Client`` and ``visionflow run/validate --server`` against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from test_server import API_KEY, CROP, EXAMPLES, FAILING, RunningServer, serving, without_ids
from visionflow import Client, Workflow, serialize
from visionflow.cli import app
from visionflow.client import ServerError
from visionflow.errors import WorkflowError


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    with serving(tmp_path_factory.mktemp("client"), "--api-key", API_KEY) as running:
        yield running


@pytest.fixture
def client(server) -> Iterator[Client]:
    with Client(server.url, api_key=API_KEY) as connected:
        yield connected


@pytest.fixture(scope="module")
def files(tmp_path_factory, astronaut, coffee) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    paths = {
        "astronaut": folder / "astronaut.png",
        "coffee": folder / "coffee.png",
        "crop": folder / "crop.yaml",
    }
    assert cv2.imwrite(str(paths["astronaut"]), astronaut)
    assert cv2.imwrite(str(paths["coffee"]), coffee)
    paths["crop"].write_text(yaml.safe_dump(CROP, sort_keys=False))
    return paths


def test_run_numpy_images_equals_the_run_in_process(client, astronaut):
    local = serialize(Workflow.compile(EXAMPLES / "face_emotion.yaml").run(image=astronaut))
    remote = client.run(EXAMPLES / "face_emotion.yaml", inputs={"image": astronaut})
    assert remote[0]["emotions"][0]["top"] == "happy"
    assert without_ids(remote) == without_ids(local)


def test_run_local_files_as_base64_or_uploaded(client, files):
    batch = [files["astronaut"], files["coffee"]]
    expected = [{"width": 256, "height": 128}, {"width": 300, "height": 100}]
    assert client.run(CROP, inputs={"image": batch}) == expected
    assert client.run(CROP, files={"image": batch}) == expected
    assert client.run(files["crop"], inputs={"ratio": 0.25}, files={"image": batch[0]}) == [
        {"width": 128, "height": 128}
    ]


def test_validate_and_describe(client):
    checked = client.validate(CROP)
    assert checked["valid"] is True
    assert checked["outputs"]["width"]["kinds"] == ["integer"]
    wrong = client.validate({**CROP, "outputs": [{"name": "w", "selector": "$steps.no.x"}]})
    assert wrong["valid"] is False and wrong["error"]["code"] == "invalid_selector"
    with pytest.raises(ServerError) as raised:
        client.validate({"inputs": "not a list"}, raise_errors=True)
    assert (raised.value.status, raised.value.code) == (422, "invalid_definition")
    described = client.describe()
    assert "visionflow/dynamic_crop@v1" in {block["type"] for block in described["blocks"]}


def test_register_run_by_name_version_and_delete(client, astronaut):
    assert client.register("crop", CROP)["version"] == 1
    narrower = {**CROP, "inputs": [CROP["inputs"][0], {**CROP["inputs"][1], "default_value": 0.25}]}
    assert client.add_version("crop", narrower)["versions"] == [1, 2]
    assert [w["name"] for w in client.workflows()] == ["crop"]
    assert client.get_workflow("crop", version=1)["document"] == CROP
    assert client.run(name="crop", inputs={"image": astronaut}) == [{"width": 128, "height": 128}]
    assert client.run(name="crop", version=1, inputs={"image": astronaut}) == [
        {"width": 256, "height": 128}
    ]
    assert client.graph(name="crop")["nodes"][0]["id"] == "$inputs.image"
    assert client.delete("crop") == {"deleted": "crop", "versions": [1, 2]}


def test_server_errors_are_raised_with_code_place_and_hint(client, server):
    with pytest.raises(ServerError) as raised:
        client.run(FAILING, inputs={"value": [1]})
    error = raised.value
    assert (error.status, error.code, error.place) == (
        422,
        "step_execution_error",
        "steps 'explode'",
    )
    with pytest.raises(ServerError) as raised, Client(server.url) as anonymous:
        anonymous.describe()
    assert (raised.value.status, raised.value.code) == (401, "invalid_api_key")


def test_an_unreachable_server_is_a_clear_error(server):
    with pytest.raises(ServerError) as raised, Client("http://127.0.0.1:9") as nowhere:
        nowhere.health()
    assert raised.value.code == "server_unreachable"
    assert "visionflow serve" in raised.value.hint


def test_registered_workflows_survive_a_restart(tmp_path, astronaut):
    workflows = tmp_path / "kept"
    with serving(tmp_path / "first", workflows=workflows) as first, Client(first.url) as client:
        client.register("kept", CROP)
    with serving(tmp_path / "second", workflows=workflows) as second, Client(second.url) as client:
        assert client.get_workflow("kept")["document"] == CROP
        assert client.run(name="kept", inputs={"image": astronaut}) == [
            {"width": 256, "height": 128}
        ]


# --- the CLI with --server ----------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200", "VISIONFLOW_API_KEY": API_KEY})


def test_cli_run_on_the_server_prints_what_a_local_run_prints(server, files):
    image = f"image={files['astronaut']}"
    local = runner.invoke(app, ["run", str(files["crop"]), "-i", image, "-i", "ratio=0.25"])
    remote = runner.invoke(
        app, ["run", str(files["crop"]), "--server", server.url, "-i", image, "-i", "ratio=0.25"]
    )
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout) == [{"width": 128, "height": 128}]


def test_cli_run_a_registered_name_and_validate_on_the_server(server, files, client):
    client.register("cli-crop", CROP)
    batch = ["-i", f"image={files['astronaut']}", "-i", f"image={files['coffee']}"]
    ran = runner.invoke(app, ["run", "cli-crop", "--server", server.url, *batch])
    assert json.loads(ran.stdout) == [{"width": 256, "height": 128}, {"width": 300, "height": 100}]
    checked = runner.invoke(app, ["validate", str(files["crop"]), "--server", server.url, "--json"])
    assert json.loads(checked.stdout)["outputs"]["height"]["kinds"] == ["integer"]
    client.delete("cli-crop")


def test_cli_reports_the_servers_error(server):
    result = runner.invoke(app, ["run", "no-such-workflow", "--server", server.url])
    assert result.exit_code == 1
    assert "error [not_found] at workflows 'no-such-workflow'" in result.stderr


@pytest.mark.parametrize("name", ["crop/../victim", "../victim", "victim\n", "a b"])
def test_names_are_checked_before_they_go_into_a_url(client, name):
    client.register("victim", CROP)
    try:
        for call in (client.get_workflow, client.delete):
            with pytest.raises(WorkflowError) as raised:
                call(name)
            assert (raised.value.code, raised.value.place) == ("workflow_error", "name")
            assert "not a valid workflow name" in raised.value.message
        assert client.get_workflow("victim")["name"] == "victim"  # nothing reached it
    finally:
        client.delete("victim")


def test_an_array_that_is_no_image_is_refused_before_sending(client, astronaut):
    with pytest.raises(WorkflowError) as raised:
        client.run(CROP, inputs={"image": [astronaut, np.full((4, 4, 3), np.nan)]})
    assert raised.value.place == "inputs 'image'[1]"
    assert raised.value.message == (
        "float pixels must be finite numbers; found values from nan to nan"
    )


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 2), np.uint8), "expected an H x W x 3 (or gray H x W) image array, "
         "found shape (4, 4, 2)"),
        (np.zeros((0, 5, 3), np.uint8), "the image is empty (5x0 pixels)"),
    ],
)  # fmt: skip
def test_uint8_pixels_opencv_cannot_encode_are_refused_as_the_engine_does(client, pixels, message):
    with pytest.raises(WorkflowError) as raised:  # an OpenCV assertion before
        client.run(CROP, inputs={"image": pixels})
    assert (raised.value.place, raised.value.message) == ("inputs 'image'", message)


def test_float_and_uint16_pixels_are_sent_as_the_engine_reads_them(client, astronaut):
    given = [astronaut, astronaut.astype(np.float32) / 255, astronaut.astype(np.uint16) * 257]
    results = client.run(CROP, inputs={"image": given})
    assert len(results) == 3
    assert results[1] == results[2] == results[0]


def test_cli_run_on_the_server_reports_a_missing_image_as_a_local_run_does(server, files, tmp_path):
    path = str(tmp_path / "missing.jpg")
    local = runner.invoke(app, ["run", str(files["crop"]), "-i", f"image={path}"])
    remote = runner.invoke(
        app, ["run", str(files["crop"]), "--server", server.url, "-i", f"image={path}"]
    )
    assert remote.exit_code == local.exit_code == 1
    assert remote.exception is None or isinstance(remote.exception, SystemExit)
    assert remote.stderr == local.stderr
    assert "error [invalid_runtime_input] at inputs 'image'[0]" in remote.stderr


def test_cli_run_on_the_server_sends_a_url_for_the_server_to_refuse_or_fetch(server, files):
    url = "http://127.0.0.1:9/a.jpg"
    remote = runner.invoke(
        app, ["run", str(files["crop"]), "--server", server.url, "-i", f"image={url}"]
    )
    assert remote.exit_code == 1
    assert remote.exception is None or isinstance(remote.exception, SystemExit)
    assert "this server does not download images from URLs" in remote.stderr  # its policy


DOMINANT = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"}],
    "steps": [
        {"type": "roboflow_core/dominant_color@v1", "name": "colour", "image": "$inputs.image"}
    ],
    "outputs": [{"type": "JsonField", "name": "rgb", "selector": "$steps.colour.rgb_color"}],
}


def test_rgb_arrays_are_sent_in_the_order_their_channel_order_says(client):
    red_in_rgb = np.zeros((16, 16, 3), np.uint8)
    red_in_rgb[:, :, 0] = 255  # red, as Pillow or matplotlib hold it
    local = Workflow.compile(DOMINANT).run(image=red_in_rgb, channel_order="rgb", serialize=True)
    remote = client.run(DOMINANT, inputs={"image": [red_in_rgb]}, channel_order="RGB")
    assert local[0]["rgb"] == remote[0]["rgb"]
    assert list(remote[0]["rgb"]) == [255, 0, 0]
    # taken as BGR (the default) the same array is blue
    assert list(client.run(DOMINANT, inputs={"image": red_in_rgb})[0]["rgb"]) == [0, 0, 255]
    with pytest.raises(WorkflowError) as raised:
        client.run(DOMINANT, inputs={"image": red_in_rgb}, channel_order="bgra")
    assert raised.value.place == "channel_order"


def test_every_wrong_step_comes_back_from_the_server(client):
    document = {
        **DOMINANT,
        "steps": [
            {**DOMINANT["steps"][0], "colour_space": "hsv"},
            {"type": "roboflow_core/threshold@v1", "name": "cut", "image": "$inputs.image"},
        ],
    }
    answer = client.validate(document)
    assert answer["valid"] is False and len(answer["error"]["also"]) == 1
    with pytest.raises(ServerError) as raised:
        client.validate(document, raise_errors=True)
    assert (raised.value.place, raised.value.message) == (
        "steps[0] 'colour'",
        "unknown field 'colour_space'",
    )
    [other] = raised.value.also
    assert (other.code, other.place, other.status) == (
        "invalid_step_field",
        "steps[1] 'cut'",
        raised.value.status,
    )
