"""Frame sources: video files, image sequences and a live MJPEG stream served by the test."""

from __future__ import annotations

import datetime
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from mjpeg_server import MjpegServer, frame_index_of
from visionflow.errors import SourceError
from visionflow.streams.sources import Frame, FrameSource, LiveSource, open_source

WAIT = 30.0  # seconds a condition may take on a busy machine; never a measured figure


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {WAIT} s")
        time.sleep(0.01)


def drawn_frame(index: int, width: int = 160, height: int = 96) -> np.ndarray:
    """A square moving right over a band whose level (16 x index) says which frame it is."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:32] = 16 * index
    cv2.rectangle(frame, (10 + 8 * index, 50), (30 + 8 * index, 70), (0, 200, 255), -1)
    return frame


def index_of(pixels: np.ndarray) -> int:
    return round(float(pixels[:32].mean()) / 16)


def write_video(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 96))
    for index in range(frames):
        writer.write(drawn_frame(index))
    writer.release()
    return path


@pytest.fixture
def video(tmp_path) -> Path:
    return write_video(tmp_path / "shapes.mp4", frames=12, fps=10)


# --- video files ------------------------------------------------------------------------


def test_a_video_file_gives_every_frame_stamped_by_its_place_in_the_file(video):
    with open_source(video) as source:
        frames = list(source)
        assert source.read() is None and source.read() is None  # the end stays the end
    assert isinstance(source, FrameSource) and not source.is_live
    assert (source.identifier, source.fps, source.frames_read) == (str(video), 10.0, 12)
    assert [index_of(frame.pixels) for frame in frames] == list(range(12))
    assert all(isinstance(frame, Frame) and frame.pixels.shape == (96, 160, 3) for frame in frames)
    metadata = [frame.metadata for frame in frames]
    assert [m.frame_number for m in metadata] == list(range(1, 13))
    start = metadata[0].frame_timestamp
    assert [m.frame_timestamp - start for m in metadata] == [
        datetime.timedelta(seconds=i / 10) for i in range(12)
    ]
    assert {(m.video_identifier, m.fps, m.comes_from_video_file) for m in metadata} == {
        (str(video), 10.0, True)
    }


def test_every_nth_frame_of_a_video_keeps_the_frames_numbers_and_times(video):
    with open_source(video, every_nth=5, identifier="cam-3") as source:
        frames = list(source)
    assert [index_of(frame.pixels) for frame in frames] == [0, 5, 10]
    assert [frame.metadata.frame_number for frame in frames] == [1, 6, 11]
    start = frames[0].metadata.frame_timestamp
    assert [frame.metadata.frame_timestamp - start for frame in frames] == [
        datetime.timedelta(seconds=s) for s in (0, 0.5, 1.0)
    ]
    assert {frame.metadata.video_identifier for frame in frames} == {"cam-3"}


def test_a_closed_video_file_reads_nothing_more(video):
    source = open_source(video)
    assert source.read().metadata.frame_number == 1
    source.close()
    assert source.read() is None


# --- image sequences --------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in (10, 2, 1, 3):
        cv2.imwrite(str(folder / f"frame{index}.png"), drawn_frame(index))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_folder_of_images_is_read_in_natural_order_as_one_video(image_folder):
    with open_source(image_folder) as source:
        frames = list(source)
    assert [index_of(frame.pixels) for frame in frames] == [1, 2, 3, 10]
    assert [frame.metadata.frame_number for frame in frames] == [1, 2, 3, 4]
    assert {(f.metadata.fps, f.metadata.comes_from_video_file) for f in frames} == {(None, False)}
    assert (source.identifier, source.fps, source.is_live) == (str(image_folder), None, False)


def test_a_glob_of_images_with_a_frame_rate_is_stamped_like_a_video(image_folder):
    with open_source(str(image_folder / "frame1*.png"), fps=4) as source:
        frames = list(source)
    assert [index_of(frame.pixels) for frame in frames] == [1, 10]
    start = frames[0].metadata.frame_timestamp
    assert [f.metadata.frame_timestamp - start for f in frames] == [
        datetime.timedelta(0),
        datetime.timedelta(seconds=0.25),
    ]
    assert {(f.metadata.fps, f.metadata.comes_from_video_file) for f in frames} == {(4, True)}


def test_every_nth_image_of_a_folder(image_folder):
    with open_source(image_folder, every_nth=2) as source:
        frames = list(source)
    assert [index_of(frame.pixels) for frame in frames] == [1, 3]
    assert [frame.metadata.frame_number for frame in frames] == [1, 3]


def test_an_unreadable_image_in_a_sequence_is_named(image_folder):
    (image_folder / "frame4.png").write_text("not a png")
    with open_source(image_folder) as source:
        assert [index_of(source.read().pixels) for _ in range(3)] == [1, 2, 3]
        with pytest.raises(SourceError) as caught:
            source.read()
    assert caught.value.code == "video_source_error"
    assert caught.value.place == f"source '{image_folder}'"
    assert caught.value.message == (
        f"frame 4 '{image_folder / 'frame4.png'}' is not an image OpenCV can read"
    )


def test_a_source_says_how_many_frames_it_will_give_when_the_file_says(video, image_folder):
    counts = []
    for spec, every_nth in [(video, 1), (video, 5), (image_folder, 1), (image_folder, 3)]:
        with open_source(spec, every_nth=every_nth) as source:
            counts.append((source.frame_count, len(list(source))))
    assert counts == [(12, 12), (3, 3), (4, 4), (2, 2)]


# --- a live stream ----------------------------------------------------------------------


@pytest.fixture
def server():
    with MjpegServer(fps=30) as serving:
        yield serving


def test_a_live_mjpeg_stream_is_read_at_its_own_rate(server):
    with open_source(server.url, latest_only=False) as source:
        frames = [source.read() for _ in range(20)]
        assert source.is_live and source.identifier == server.url and source.frame_count is None
        assert source.measured_fps > 0
        assert source.frames_dropped == 0 and source.frames_read == 20
    assert [frame.metadata.frame_number for frame in frames] == list(range(1, 21))
    served = [frame_index_of(frame.pixels) for frame in frames]
    assert served == sorted(set(served))  # the camera's frames, in order, none twice
    assert {(f.metadata.video_identifier, f.metadata.comes_from_video_file) for f in frames} == {
        (server.url, False)
    }
    assert frames[-1].metadata.measured_fps > 0
    assert [f.captured_at for f in frames] == sorted(f.captured_at for f in frames)


def test_latest_only_drops_the_frames_a_slow_reader_missed(server):
    with open_source(server.url) as source:  # live: latest_only by default
        first = source.read()
        wait_for(lambda: source.frames_dropped >= 3, "frames to be dropped")
        newest = source.read()
    # every frame between the two was captured and dropped before ``newest`` came
    assert newest.metadata.frame_number >= first.metadata.frame_number + 4
    assert source.frames_dropped >= newest.metadata.frame_number - 2
    assert source.frames_read == 2


def reconnection_tries(caplog) -> list[str]:
    return [m for m in caplog.messages if "reconnecting in" in m]


def test_a_lost_stream_reconnects_with_back_off_and_says_so(server, caplog):
    caplog.set_level(logging.WARNING, logger="visionflow.streams")
    with open_source(server.url) as source:
        source.first_delay, source.max_delay = 0.02, 0.05
        before = source.read().metadata.frame_number
        server.drop_connections(down=True)  # lost, and refusing for a while
        wait_for(lambda: len(reconnection_tries(caplog)) >= 3, "three reconnection tries")
        assert source.reconnects == 0
        server.come_back()
        wait_for(lambda: source.reconnects == 1, "the reconnection")
        after = [source.read().metadata.frame_number for _ in range(3)]
    assert before < after[0] < after[1] < after[2]  # frames resume, numbered on
    assert server.connections_served == 2
    name = f"video source '{server.url}'"
    assert reconnection_tries(caplog)[:3] == [
        f"{name}: stream lost; reconnecting in 0.02 s (attempt 1)",
        f"{name}: stream lost; reconnecting in 0.04 s (attempt 2)",
        f"{name}: stream lost; reconnecting in 0.05 s (attempt 3)",  # capped at max_delay
    ]
    assert f"{name}: reconnected" in caplog.messages
    assert {r.levelno for r in caplog.records if r.name == "visionflow.streams"} == {
        logging.WARNING
    }


def test_without_reconnect_a_lost_stream_ends_the_source(server, caplog):
    with open_source(server.url, reconnect=False) as source:
        source.read()
        server.drop_connections(down=True)
        rest = list(source)  # the frame still waiting, if any, then the end
    assert len(rest) <= 1 and source.reconnects == 0
    assert f"video source '{server.url}': stream lost; it ends" in caplog.messages


def reader_threads(source: FrameSource) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"source {source.identifier}"]


def test_close_stops_the_reader_thread_and_wakes_a_blocked_read(server, caplog):
    source = open_source(server.url)
    source.first_delay = 3600.0  # a lost stream would wait an hour before its next try
    server.drop_connections(down=True)
    wait_for(lambda: reconnection_tries(caplog), "the stream to be lost")
    while source._waiting:
        source.read()
    results: list[Frame | None] = []
    blocked = threading.Thread(target=lambda: results.append(source.read()))
    blocked.start()
    source.close()  # wakes both the reader thread's pause and the blocked read
    blocked.join(WAIT)
    assert results == [None] and reader_threads(source) == []
    assert source.read() is None


def test_a_live_source_keeps_every_frame_when_asked(server):
    with open_source(server.url, latest_only=False) as source:
        source.read()
        wait_for(lambda: len(source._waiting) >= 5, "frames to wait")
        numbers = [source.read().metadata.frame_number for _ in range(5)]
    assert numbers == [2, 3, 4, 5, 6] and source.frames_dropped == 0


# --- errors -----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def error_of(spec, **options) -> SourceError:
    with pytest.raises(SourceError) as caught:
        open_source(spec, **options)
    assert caught.value.code == "video_source_error" and caught.value.hint
    return caught.value


def test_a_missing_video_file_is_named(tmp_path):
    error = error_of(tmp_path / "missing.mp4")
    assert error.place == f"source '{tmp_path / 'missing.mp4'}'"
    assert error.message == f"no video file at '{tmp_path / 'missing.mp4'}'"


def test_a_file_that_is_no_video_is_refused(tmp_path):
    (tmp_path / "notes.mp4").write_text("hello")
    error = error_of(tmp_path / "notes.mp4")
    assert error.message in {  # PyAV (the video extra), where installed, is tried too
        "OpenCV cannot read this file as a video",
        "neither OpenCV nor PyAV can read this file as a video",
    }


def test_an_empty_folder_and_an_unmatched_glob_are_refused(tmp_path):
    assert error_of(tmp_path).message.startswith("no images in this folder (")
    assert error_of(str(tmp_path / "*.png")).message.startswith("no file matches this (")


def test_a_stream_nobody_serves_is_refused_with_a_hint():
    url = f"http://127.0.0.1:{closed_port()}/stream.mjpg"
    error = error_of(url)
    assert error.place == f"source '{url}'"
    assert error.message.startswith("OpenCV could not open this stream: nothing answers there")
    assert "ffplay" in error.hint


def test_a_webcam_that_is_not_there_is_refused():
    error = error_of("7")  # no camera on this machine
    assert (error.place, error.message) == (
        "source 'webcam-7'",
        "no camera answers at device index 7",
    )


def test_a_stream_url_is_shown_without_its_password():
    error = error_of(f"rtsp://admin:secret@127.0.0.1:{closed_port()}/live")
    assert "secret" not in str(error) and "admin@127.0.0.1" in error.place


def test_a_down_server_refuses_the_first_connection(server):
    server.drop_connections(down=True)
    assert error_of(server.url).place == f"source '{server.url}'"


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("ftp://127.0.0.1/video", {}, "'ftp://' is not a stream visionflow reads"),
        ("clip.mp4", {"every_nth": 0}, "every_nth must be a whole number from 1, found 0"),
        ("rtsp://127.0.0.1/x", {"fps": 5}, "fps is for a sequence of images; a video or "
         "stream declares its own"),
        ("frames/*.png", {"fps": -5}, "fps must be a number above 0, found -5"),
        ("frames/*.png", {"fps": 0}, "fps must be a number above 0, found 0"),
    ],
)  # fmt: skip
def test_wrong_options_are_refused(spec, options, message):
    assert error_of(spec, **options).message == message


def test_a_live_source_is_a_frame_source_class_of_its_own():
    assert issubclass(LiveSource, FrameSource) and LiveSource.is_live


def test_import_visionflow_does_not_import_the_streams():
    code = (
        "import sys, visionflow; print([m in sys.modules for m in ('visionflow.streams', 'cv2')])"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "[False, False]"


@pytest.mark.parametrize(
    "options", [{"fps": 5}, {"every_nth": 0}, {}], ids=["fps", "every_nth", "malformed-port"]
)
def test_a_stream_password_is_never_shown_in_an_error(options):
    port = "port" if not options else str(closed_port())  # a port that is no number, too
    url = f"rtsp://admin:secret@127.0.0.1:{port}/live"
    error = error_of(url, **options)
    assert "secret" not in str(error) and "secret" not in error.place
    assert error.place == f"source 'rtsp://admin@127.0.0.1:{port}/live'"


def test_a_video_file_cut_short_says_so(tmp_path, caplog):
    path = tmp_path / "cut.avi"  # Motion JPEG: the header counts the frames, first
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 96))
    for index in range(50):
        writer.write(drawn_frame(index % 16))
    writer.release()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 6 // 10])  # a copy cut off
    with open_source(path) as source:
        frames = list(source)
    assert 0 < len(frames) < 50 and source.frame_count == 50
    assert caplog.messages == [
        f"video source '{path}': the file ended after {len(frames)} frames; its header "
        "declares 50: it may be cut short"
    ]


def test_a_whole_video_file_says_nothing(video, caplog):
    with open_source(video, every_nth=5) as source:
        assert len(list(source)) == 3
    assert caplog.messages == []
