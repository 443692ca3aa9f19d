"""Video pipelines over HTTP, on a real ``python -m visionflow.server`` on 127.0.0.1.

Sources: a video file the tests write, and a live MJPEG camera served by the test
(``mjpeg_server.py``). Start, list, status, follow the JSON lines, watch the MJPEG preview,
stop, forget; the limits, the API key, the source policy and the errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from mjpeg_server import MjpegServer, frame_index_of
from test_server import API_KEY, RunningServer, serving
from visionflow import Client
from visionflow.client import ServerError
from visionflow.errors import WorkflowError

WIDTH, HEIGHT, FRAMES = 160, 96, 12

# the frame's centre crop, its width, and the frame itself: two image outputs
CROP = {
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {
            "type": "RelativeStaticCrop",
            "name": "crop",
            "images": "$inputs.image",
            "x_center": 0.5,
            "y_center": 0.5,
            "width": 0.5,
            "height": 0.5,
        },
        {
            "type": "PropertyDefinition",
            "name": "width",
            "data": "$steps.crop.crops",
            "property": "width",
        },
    ],
    "outputs": [
        {"type": "JsonField", "name": "width", "selector": "$steps.width.output"},
        {"type": "JsonField", "name": "frame", "selector": "$inputs.image"},
        {"type": "JsonField", "name": "crop", "selector": "$steps.crop.crops"},
    ],
}
WIDTH_ONLY = {
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {"type": "PropertyDefinition", "name": "w", "data": "$inputs.image", "property": "width"}
    ],
    "outputs": [{"type": "JsonField", "name": "width", "selector": "$steps.w.output"}],
}


def write_video(path: Path, frames: int = FRAMES, fps: float = 12.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    for number in range(frames):
        frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        x = (6 * number) % (WIDTH - 24)
        frame[30:54, x : x + 24] = (0, 200, 255)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipelines")


@pytest.fixture(scope="module")
def video(folder) -> Path:
    return write_video(folder / "videos" / "clip.mp4")


@pytest.fixture(scope="module")
def server(folder, video) -> Iterator[RunningServer]:
    flags = ["--api-key", API_KEY, "--allow-files", str(video.parent), "--allow-urls"]
    flags += ["--max-pipelines", "2", "--max-batch-size", "2"]
    with serving(folder / "server", *flags) as running:
        yield running


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


@pytest.fixture(scope="module")
def camera() -> Iterator[MjpegServer]:
    with MjpegServer(fps=30) as serving_camera:
        yield serving_camera


def start(http: httpx.Client, sources: list[Any], workflow: Any = CROP, **options: Any):
    return http.post("/pipelines", json={"workflow": workflow, "sources": sources, **options})


def started(http: httpx.Client, sources: list[Any], **options: Any) -> dict[str, Any]:
    answer = start(http, sources, **options)
    assert answer.status_code == 201, answer.text
    return answer.json()


def follow(http: httpx.Client, pipeline: str, count: int | None = None, **params: Any) -> list:
    """The JSON lines of the pipeline's results: ``count`` of them, or all until it ends."""
    lines = []
    with http.stream("GET", f"/pipelines/{pipeline}/results", params=params) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/x-ndjson"
        for text in answer.iter_lines():
            lines.append(json.loads(text))
            if count is not None and len(lines) == count:
                break
    return lines


def preview_frames(http: httpx.Client, pipeline: str, count: int, **params: Any) -> list:
    """``count`` JPEG parts of the pipeline's MJPEG preview, decoded (fewer if it ends)."""
    frames, buffer = [], b""
    with http.stream("GET", f"/pipelines/{pipeline}/preview", params=params) as answer:
        assert answer.status_code == 200, answer.read()
        boundary = answer.headers["content-type"].split("boundary=")[1]
        assert answer.headers["content-type"].startswith("multipart/x-mixed-replace")
        for chunk in answer.iter_bytes():
            buffer += chunk
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = buffer[:end].decode()
                assert head.startswith(f"--{boundary}\r\nContent-Type: image/jpeg")
                size = int(head.rsplit("Content-Length: ", 1)[1])
                if len(buffer) < end + 4 + size + 2:
                    break
                jpeg = buffer[end + 4 : end + 4 + size]
                buffer = buffer[end + 4 + size + 2 :]
                frames.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
            if len(frames) >= count:
                break
    return frames[:count]


def status_of(http: httpx.Client, pipeline: str) -> dict[str, Any]:
    answer = http.get(f"/pipelines/{pipeline}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    assert set(error) >= {"code", "place", "message", "hint"}
    return answer.status_code, error["code"], error["place"]


# --- a video file --------------------------------------------------------------------------


def test_a_video_file_runs_to_its_end_and_every_frame_is_a_json_line(http, video):
    pipeline = started(http, [str(video)], preview_output="crop")
    assert pipeline["workflow"] is None
    assert pipeline["image_input"] == "image"
    assert pipeline["preview_output"] == "crop"
    lines = follow(http, pipeline["id"])  # from the first frame (kept), until the end
    assert [line["frame_number"] for line in lines] == list(range(1, FRAMES + 1))
    assert all(set(line) == {"source", "frame_number", "frame_timestamp", "outputs", "error"}
               for line in lines)  # fmt: skip
    assert lines[0]["source"] == str(video)
    assert lines[0]["error"] is None
    assert lines[0]["outputs"] == {
        "width": 80,
        "frame": {"type": "image", "width": 160, "height": 96},
        "crop": {"type": "image", "width": 80, "height": 48},
    }
    status = status_of(http, pipeline["id"])
    assert status["status"]["state"] == "ended"
    assert status["ended"] is not None
    (source,) = status["status"]["sources"]
    assert (source["source"], source["state"]) == (str(video), "ended")
    assert (source["frames_read"], source["processed"], source["failed"]) == (FRAMES, FRAMES, 0)
    listed = http.get("/pipelines").json()["pipelines"]
    assert pipeline["id"] in [item["id"] for item in listed]  # an ended pipeline stays listed
    # the preview of an ended pipeline: its last image, then the stream ends
    frames = preview_frames(http, pipeline["id"], 5)
    assert [frame.shape for frame in frames] == [(48, 80, 3)]


def test_a_file_decoded_by_pyav_gives_the_same_lines(http, video):
    pytest.importorskip("av", reason="PyAV (the video extra) decodes this one")
    by_default = follow(http, started(http, [str(video)], every_nth=4)["id"])
    pipeline = started(http, [str(video)], every_nth=4, decoder="pyav")
    assert pipeline["options"]["decoder"] == "pyav"
    by_pyav = follow(http, pipeline["id"])
    assert [line["frame_number"] for line in by_pyav] == [1, 5, 9]
    assert [line["outputs"] for line in by_pyav] == [line["outputs"] for line in by_default]
    assert error_of(start(http, [str(video)], decoder="ffmpeg"))[:2] == (422, "invalid_request")


def test_every_nth_frame_and_a_late_slow_client_told_what_it_lost(http, video):
    pipeline = started(http, [str(video)], every_nth=3)
    assert [line["frame_number"] for line in follow(http, pipeline["id"])] == [1, 4, 7, 10]
    # a client whose queue holds 2 lines: the 2 oldest kept lines go, and it reads so first
    lines = follow(http, pipeline["id"], queue=2)
    assert lines[0] == {
        "dropped": 2,
        "message": "this client fell behind: its 2 oldest results were dropped",
    }
    assert [line["frame_number"] for line in lines[1:]] == [7, 10]


def test_a_registered_workflow_by_name(http, video):
    assert http.post("/workflows", json={"name": "widths", "workflow": WIDTH_ONLY}).status_code
    answer = http.post("/pipelines", json={"name": "widths", "sources": [str(video)]})
    assert answer.status_code == 201, answer.text
    pipeline = answer.json()
    assert pipeline["workflow"] == {"name": "widths", "version": 1}
    assert pipeline["preview_output"] is None  # no image output
    lines = follow(http, pipeline["id"])
    assert [line["outputs"] for line in lines] == [{"width": 160}] * FRAMES
    answer = http.get(f"/pipelines/{pipeline['id']}/preview")
    assert error_of(answer) == (404, "not_found", f"pipelines '{pipeline['id']}'")


def test_a_frame_that_fails_is_a_line_with_its_error(http, video):
    failing = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [{"type": "servertest/fail@v1", "name": "explode", "value": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "value", "selector": "$steps.explode.value"}],
    }
    pipeline = started(http, [str(video)], workflow=failing, every_nth=4)
    lines = follow(http, pipeline["id"])
    assert [line["frame_number"] for line in lines] == [1, 5, 9]
    assert {line["outputs"] for line in lines} == {None}
    assert {(line["error"]["code"], line["error"]["place"]) for line in lines} == {
        ("step_execution_error", "steps 'explode'")
    }
    (source,) = status_of(http, pipeline["id"])["status"]["sources"]
    assert (source["processed"], source["failed"]) == (0, 3)


# --- a live camera ---------------------------------------------------------------------------


def test_a_live_camera_followed_by_two_clients_previewed_and_stopped(http, camera):
    pipeline = started(http, [camera.url], preview_output="frame", max_fps=20)
    assert pipeline["options"] == {
        "max_fps": 20.0, "every_nth": 1, "decoder": "auto", "latest_only": None
    }
    first, second = follow(http, pipeline["id"], 3), follow(http, pipeline["id"], 3)
    for lines in (first, second):
        assert {line["source"] for line in lines} == {camera.url}
        numbers = [line["frame_number"] for line in lines]
        assert numbers == sorted(set(numbers))  # newer frames each time
        assert lines[0]["outputs"]["frame"] == {"type": "image", "width": 160, "height": 120}
    frames = preview_frames(http, pipeline["id"], 2, source=camera.url)
    assert [frame.shape for frame in frames] == [(120, 160, 3)] * 2
    indexes = [frame_index_of(frame) for frame in frames]
    assert indexes[0] < indexes[1]  # the camera's frames, the newer one second
    assert status_of(http, pipeline["id"])["status"]["state"] == "running"

    with http.stream("GET", f"/pipelines/{pipeline['id']}/results") as following:
        stopped = http.post(f"/pipelines/{pipeline['id']}/stop")
        assert stopped.status_code == 200
        assert stopped.json()["status"]["state"] == "stopped"
        assert stopped.json()["status"]["sources"][0]["state"] == "stopped"
        remaining = [json.loads(text) for text in following.iter_lines()]  # the stream ends
    assert all(line["source"] == camera.url for line in remaining)
    assert status_of(http, pipeline["id"])["status"]["state"] == "stopped"


def test_at_most_max_pipelines_run_and_a_deleted_one_is_forgotten(http, camera):
    first = started(http, [camera.url])
    second = started(http, [camera.url])
    try:
        answer = start(http, [camera.url])
        assert error_of(answer) == (429, "too_many_pipelines", "pipelines")
        assert "--max-pipelines" in answer.json()["error"]["hint"]
        deleted = http.delete(f"/pipelines/{first['id']}")
        assert deleted.status_code == 200
        assert deleted.json()["deleted"] == first["id"]
        assert deleted.json()["status"]["state"] == "stopped"
        assert error_of(http.get(f"/pipelines/{first['id']}")) == (
            404, "not_found", f"pipelines '{first['id']}'",
        )  # fmt: skip
        third = started(http, [camera.url])  # a slot is free again
        http.delete(f"/pipelines/{third['id']}")
    finally:
        http.delete(f"/pipelines/{second['id']}")
    running = [p for p in http.get("/pipelines").json()["pipelines"]
               if p["status"]["state"] == "running"]  # fmt: skip
    assert running == []


def test_more_sources_than_the_batch_limit_are_refused(http, video):
    answer = start(http, [str(video)] * 3)
    assert error_of(answer) == (413, "batch_too_large", "sources")


# --- the key, the policy, errors --------------------------------------------------------------


def test_every_pipeline_endpoint_needs_the_key(server, video):
    with server.http(api_key=None) as anonymous:
        assert error_of(start(anonymous, [str(video)]))[:2] == (401, "invalid_api_key")
        assert anonymous.get("/pipelines").status_code == 401
        assert anonymous.get("/pipelines/abc/results").status_code == 401
        assert anonymous.get("/pipelines/abc/preview").status_code == 401
    with server.http(api_key="wrong") as wrong:
        assert wrong.post("/pipelines/abc/stop").status_code == 401


def test_files_outside_the_allowed_folder_are_refused_alike(http, folder, video):
    outside = write_video(folder / "elsewhere" / "clip.mp4")
    refusals = [
        start(http, [str(outside)]),
        start(http, [str(folder / "elsewhere" / "missing.mp4")]),
        start(http, [str(video.parent / ".." / "elsewhere" / "clip.mp4")]),
        start(http, [str(video.parent / ".." / "elsewhere" / "*.png")]),
    ]
    for answer in refusals:
        assert error_of(answer) == (403, "input_source_not_allowed", "sources[0]")
        assert answer.json()["error"]["hint"] == (
            "the operator can allow a folder with --allow-files DIR"
        )
    message = refusals[0].json()["error"]["message"]
    assert message == f"this server does not read the file '{outside}'"


def test_a_link_inside_the_allowed_folder_cannot_lead_out(http, folder, video):
    (folder / "frames").mkdir()
    cv2.imwrite(str(folder / "frames" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (video.parent / "frames").symlink_to(folder / "frames")
    answer = start(http, [str(video.parent / "frames" / "*.png")])
    assert error_of(answer) == (403, "input_source_not_allowed", "sources[0]")


def test_parameters_meet_the_rules_of_run_inputs(http, video, folder):
    two_images = {**WIDTH_ONLY, "inputs": [*WIDTH_ONLY["inputs"], {"type": "image", "name": "b"}]}
    secret = {"type": "file", "value": str(folder / "elsewhere" / "clip.mp4")}
    answer = start(
        http, [str(video)], workflow=two_images, image_input="image", parameters={"b": secret}
    )
    assert error_of(answer) == (403, "input_source_not_allowed", "inputs 'b'")


def test_cameras_need_the_operators_switch(http):
    for camera_index in (0, "0"):
        answer = start(http, [camera_index])
        assert error_of(answer) == (403, "input_source_not_allowed", "sources[0]")
        assert answer.json()["error"]["hint"] == "the operator can allow them with --allow-webcams"


def test_urls_need_the_operators_switch(folder, camera):
    with serving(folder / "strict", "--api-key", API_KEY) as strict, strict.http() as client:
        answer = start(client, [camera.url])
        assert error_of(answer) == (403, "input_source_not_allowed", "sources[0]")
        assert answer.json()["error"]["hint"] == "the operator can allow them with --allow-urls"


def test_errors_name_their_place(http, video):
    missing = video.parent / "missing.mp4"
    assert error_of(start(http, [str(missing)]))[:2] == (422, "video_source_error")
    assert error_of(start(http, [str(video)], preview_output="width")) == (
        422, "invalid_stream_pipeline", "preview_output",
    )  # fmt: skip
    two_images = {**WIDTH_ONLY, "inputs": [*WIDTH_ONLY["inputs"], {"type": "image", "name": "b"}]}
    assert error_of(start(http, [str(video)], workflow=two_images)) == (
        422, "invalid_stream_pipeline", "image_input",
    )  # fmt: skip
    wrong = {**WIDTH_ONLY, "outputs": [{"type": "JsonField", "name": "w", "selector": "$steps.x"}]}
    assert error_of(start(http, [str(video)], workflow=wrong))[:2] == (422, "invalid_selector")
    assert error_of(start(http, []))[:2] == (422, "invalid_request")
    assert error_of(start(http, [str(video)], max_fps=0))[:2] == (422, "invalid_request")
    answer = http.post("/pipelines", json={"name": "nobody", "sources": [str(video)]})
    assert error_of(answer) == (404, "not_found", "workflows 'nobody'")
    assert error_of(http.get("/pipelines/nothing")) == (404, "not_found", "pipelines 'nothing'")
    assert error_of(http.get("/pipelines/nothing/results"))[:2] == (404, "not_found")
    started_one = started(http, [str(video)], preview_output="frame")
    follow(http, started_one["id"])
    answer = http.get(f"/pipelines/{started_one['id']}/preview", params={"source": "other"})
    assert error_of(answer) == (404, "not_found", "source")


def test_pipelines_stop_when_the_server_shuts_down(folder, camera):
    flags = ["--api-key", API_KEY, "--allow-urls"]
    with serving(folder / "shutdown", *flags) as running, running.http() as client:
        pipeline = started(client, [camera.url])
        with client.stream("GET", f"/pipelines/{pipeline['id']}/results") as following:
            lines = following.iter_lines()
            assert json.loads(next(lines))["source"] == camera.url
            running.process.terminate()
            for _ in lines:  # the stream ends: the server stopped the pipeline first
                pass
        running.process.wait(30)
        assert "stopping 1 pipeline(s): the server shuts down" in running.log.read_text()
        deadline = time.monotonic() + 10
        while camera._clients and time.monotonic() < deadline:  # the camera's client left
            time.sleep(0.05)
        assert not camera._clients


def test_the_client_starts_follows_lists_and_forgets_pipelines(server, video):
    with Client(server.url, api_key=API_KEY) as client:
        pipeline = client.start_pipeline([str(video)], workflow=CROP, every_nth=4)
        lines = list(client.follow_pipeline(pipeline["id"]))
        assert [line["frame_number"] for line in lines] == [1, 5, 9]
        assert lines[0]["outputs"]["crop"] == {"type": "image", "width": 80, "height": 48}
        assert client.pipeline(pipeline["id"])["status"]["state"] == "ended"
        assert pipeline["id"] in [item["id"] for item in client.pipelines()]
        assert client.stop_pipeline(pipeline["id"])["status"]["state"] == "ended"
        assert client.delete_pipeline(pipeline["id"])["deleted"] == pipeline["id"]
        assert pipeline["id"] not in [item["id"] for item in client.pipelines()]
        with pytest.raises(ServerError) as caught:
            client.pipeline(pipeline["id"])
        assert (caught.value.status, caught.value.code) == (404, "not_found")
        with pytest.raises(ServerError) as caught:
            list(client.follow_pipeline(pipeline["id"]))
        assert (caught.value.status, caught.value.code) == (404, "not_found")
        with pytest.raises(WorkflowError) as caught:
            client.pipeline("../workflows")  # never reaches another address
        assert caught.value.place == "pipeline_id"
        with pytest.raises(ServerError) as caught:
            client.start_pipeline(["/etc/passwd"], workflow=CROP)
        assert (caught.value.status, caught.value.code) == (403, "input_source_not_allowed")


def test_frames_over_the_pixel_limit_fail_each_as_an_image_would(folder, video):
    flags = ["--api-key", API_KEY, "--allow-files", str(video.parent)]
    flags += ["--max-image-pixels", str(WIDTH * HEIGHT - 1)]
    with serving(folder / "small", *flags) as small, small.http() as client:
        pipeline = started(client, [str(video)], every_nth=4)
        lines = follow(client, pipeline["id"])
    assert [line["frame_number"] for line in lines] == [1, 5, 9]
    assert {line["outputs"] for line in lines} == {None}
    assert [(line["error"]["code"], line["error"]["place"]) for line in lines] == [
        ("image_too_large", f"{lines[0]['source']}: frame {number}") for number in (1, 5, 9)
    ]
    assert lines[0]["error"]["message"].startswith(
        f"the image is {WIDTH}x{HEIGHT} ({WIDTH * HEIGHT:,} pixels)"
    )
