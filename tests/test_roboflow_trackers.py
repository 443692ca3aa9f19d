"""Roboflow's trackers: supervision's ByteTrack (byte_tracker v1-v3) and Roboflow's
``trackers`` package (ByteTrack, SORT, OC-SORT, BoT-SORT), state per video, track for track
as Roboflow's engine gives them on the same frames."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import supervision as sv
from skimage import data

from markers import needs_face_detector
from visionflow import Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import BlockLoadingError, StepExecutionError

FPS = 25.0
START = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)
CLASSES = {0: "person", 2: "car"}


def moving_boxes(n: int) -> list[tuple[float, float, float, float, float, int]]:
    """Frame ``n``'s detections (x1, y1, x2, y2, confidence, class id) of a test video:
    a car driving right, a person walking down-left whose confidence dips on frames 5-6
    (ByteTrack's second association), a person missed on frames 8-9 (a lost track found
    again), a weak false detection on frame 2."""
    boxes = [(40 + 15 * n, 60, 120 + 15 * n, 160, 0.92, 2)]
    boxes.append((500 - 10 * n, 200 + 6 * n, 590 - 10 * n, 290 + 6 * n,
                  0.45 if n in (5, 6) else 0.85, 0))  # fmt: skip
    if 3 <= n <= 7 or n >= 10:
        boxes.append((300 + 2 * n, 350 - 4 * n, 360 + 2 * n, 400 - 4 * n, 0.75, 0))
    if n == 2:
        boxes.append((100, 400, 130, 430, 0.3, 2))
    return boxes


FRAMES = 14


def detections(boxes: list[tuple]) -> sv.Detections:
    if not boxes:
        return sv.Detections.empty()
    table = np.array(boxes, dtype=float)
    class_id = table[:, 5].astype(int)
    return sv.Detections(
        xyxy=table[:, :4],
        confidence=table[:, 4],
        class_id=class_id,
        data={"class_name": np.array([CLASSES[c] for c in class_id])},
    )


def frame(video: str | None, n: int, size: tuple[int, int] = (480, 640)) -> WorkflowImage:
    """Frame ``n`` of ``video`` (None: a still image), black."""
    pixels = np.zeros((*size, 3), np.uint8)
    if video is None:
        return WorkflowImage(pixels)
    timestamp = START + datetime.timedelta(seconds=n / FPS)
    return WorkflowImage(pixels, video=VideoMetadata(video, n, timestamp, FPS, True))


def moving_astronaut(n: int) -> np.ndarray:
    """Frame ``n`` of a video of the astronaut (512 x 512) moving across a grey canvas."""
    canvas = np.full((600, 740, 3), 90, np.uint8)
    x, y = 60 + 16 * n, 30 + 6 * n
    canvas[y : y + 512, x : x + 512] = data.astronaut()[:, :, ::-1]
    return canvas


def definition(type_: str, **fields) -> dict:
    """A workflow tracking ``$inputs.boxes`` on the frames ``$inputs.image`` (byte_tracker
    v1 reads the video from ``$inputs.meta``), every output of the step."""
    step = {"type": type_, "name": "track", "detections": "$inputs.boxes", **fields}
    inputs = [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]},
    ]
    if type_ == "roboflow_core/byte_tracker@v1":
        step["metadata"] = "$inputs.meta"
        inputs.append({"type": "WorkflowVideoMetadata", "name": "meta"})
    else:
        step["image"] = "$inputs.image"
    outputs = ["tracked_detections"]
    if type_ not in ("roboflow_core/byte_tracker@v1", "roboflow_core/byte_tracker@v2"):
        outputs += ["new_instances", "already_seen_instances"]
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": [step],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.track.{name}"}
            for name in outputs
        ],
    }


def track(workflow: Workflow, boxes: list[list[tuple]], video: str | None = "vid", size=(480, 640)):
    """Run ``workflow`` on a video's frames; per frame "row:id" of each tracked detection
    (row: its place in the frame's detections), and the new instances' ids."""
    tracked, new = [], []
    with_metadata = any(given.name == "meta" for given in workflow.plan.inputs)
    for n, rows in enumerate(boxes):
        image = frame(video, n, size)
        metadata = {"meta": image.video_metadata} if with_metadata else {}
        [result] = workflow.run(image=image, boxes=[detections(rows)], **metadata)
        found = result["tracked_detections"]
        places = [_row(rows, box) for box in found.xyxy]
        assert np.array_equal(found.confidence, [rows[i][4] for i in places])  # input kept
        tracked.append(" ".join(f"{i}:{t}" for i, t in zip(places, found.tracker_id, strict=True)))
        if "new_instances" in result:
            new.append(" ".join(str(t) for t in result["new_instances"].tracker_id))
            seen = result["already_seen_instances"].tracker_id
            assert sorted([*result["new_instances"].tracker_id, *seen]) == sorted(found.tracker_id)
    return "|".join(tracked), "|".join(new)


def _row(rows: list[tuple], box: np.ndarray) -> int:
    [place] = [i for i, row in enumerate(rows) if np.array_equal(row[:4], box)]
    return place


BOXES = [moving_boxes(n) for n in range(FRAMES)]
TWO, THREE = "|".join(["0:1 1:2"] * 2), "|".join(["0:1 1:2 2:3"] * 4)
BYTE = f"{TWO}|{TWO}|{THREE}|{TWO}|{THREE}"
# Roboflow's engine (inference 1.8.3: supervision 0.30.9, trackers 2.4.0) on the same frames
# (video "vid", 25 fps), each tracker with its defaults, a fresh process: "row:id" per frame
ROBOFLOW_ON_BOXES = {
    "roboflow_core/byte_tracker@v1": (BYTE, ""),
    "roboflow_core/byte_tracker@v2": (BYTE, ""),
    "roboflow_core/byte_tracker@v3": (BYTE, "1 2||||3|||||||||"),
    "roboflow_core/trackers_bytetrack@v1": (
        "|0:0 1:1|0:0 1:1|0:0 1:1|0:0 1:1 2:2|0:0 2:2 1:1|0:0 2:2 1:1|0:0 1:1 2:2|0:0 1:1|"
        "0:0 1:1|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2",
        "|0 1|||2|||||||||",
    ),
    "roboflow_core/trackers_sort@v1": (
        "||0:0 1:1|0:0 1:1|0:0 1:1|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1|0:0 1:1|"
        "0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2",
        "||0 1|||2||||||||",
    ),
    "roboflow_core/trackers_ocsort@v1": (
        "|0:0 1:1|0:0 1:1|0:0 1:1|0:0 1:1|0:0|0:0 2:2|0:0 2:2|0:0|0:0 1:1|0:0 1:1|0:0 1:1|"
        "0:0 1:1 2:2|0:0 1:1 2:2",
        "|0 1|||||2|||||||",
    ),
    "roboflow_core/trackers_botsort@v1": (
        "|0:0 1:1|0:0 1:1|0:0 1:1|0:0 1:1 2:2|0:0 2:2 1:1|0:0 2:2 1:1|0:0 1:1 2:2|0:0 1:1|"
        "0:0 1:1|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2|0:0 1:1 2:2",
        "|0 1|||2|||||||||",
    ),
}


@pytest.mark.parametrize("type_", list(ROBOFLOW_ON_BOXES))
def test_tracks_as_roboflows_engine_frame_by_frame(type_):
    workflow = Workflow.compile(definition(type_), cache=False)
    assert track(workflow, BOXES) == ROBOFLOW_ON_BOXES[type_]


# Roboflow's engine, the same frames, fields other than the defaults
ROBOFLOW_WITH_FIELDS = [
    (
        "roboflow_core/byte_tracker@v3",
        {"minimum_consecutive_frames": 2, "lost_track_buffer": 1,
         "track_activation_threshold": 0.5, "instances_cache_size": 2},
        "|0:1 1:2|0:1 1:2|0:1 1:2|0:1 1:2 2:3|0:1 1:2 2:3|0:1 1:2 2:3|0:1 1:2 2:3|0:1 1:2|"
        "0:1 1:2|0:1 1:2 2:3|0:1 1:2 2:3|0:1 1:2 2:3|0:1 1:2 2:3",
        "|1 2|||3|1 2 3|1 2 3|1 2 3|1 2||3|1 2 3|1 2 3|1 2 3",
    ),
    (
        "roboflow_core/trackers_ocsort@v1",
        {"minimum_consecutive_frames": 1, "lost_track_buffer": 2},
        "|0:0 1:1|0:0 1:1|0:0 1:1|0:0 1:1 2:2|0:0 2:2|0:0 2:2|0:0 2:2|0:0 1:3|0:0 1:3|0:0 1:3|"
        "0:0 1:3 2:4|0:0 1:3 2:4|0:0 1:3 2:4",
        "|0 1|||2||||3|||4||",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "fields", "tracked", "new"), ROBOFLOW_WITH_FIELDS)
def test_tracker_fields_as_roboflows_engine(type_, fields, tracked, new):
    workflow = Workflow.compile(definition(type_, **fields), cache=False)
    assert track(workflow, BOXES) == (tracked, new)


# Roboflow's engine on frames with no detections between frames with some: only OC-SORT
# reports the tracks found again on the last frame
ROBOFLOW_WITH_GAPS = {type_: "|||" for type_ in ROBOFLOW_ON_BOXES}
ROBOFLOW_WITH_GAPS["roboflow_core/trackers_ocsort@v1"] = "|||0:0 1:1"


@pytest.mark.parametrize("type_", list(ROBOFLOW_WITH_GAPS))
def test_frames_without_detections_as_roboflows_engine(type_):
    workflow = Workflow.compile(definition(type_), cache=False)
    tracked, _ = track(workflow, [[], BOXES[0], [], BOXES[1]])
    assert tracked == ROBOFLOW_WITH_GAPS[type_]


FACES = {"faces/1": "mediapipe/face_detection_short_range"}
# Roboflow's engine given the zoo face detector's detections on the same frames (the
# astronaut, one face; frames 0, 5 and 6 also find a second, weak one)
ROBOFLOW_ON_FACES = {
    "roboflow_core/byte_tracker@v2": "0:1 1:2|" + "|".join(["0:1"] * 9),
    "roboflow_core/byte_tracker@v3": "0:1 1:2|" + "|".join(["0:1"] * 9),
    "roboflow_core/trackers_bytetrack@v1": "||" + "|".join(["0:0"] * 8),
    "roboflow_core/trackers_sort@v1": "||" + "|".join(["0:0"] * 8),
    "roboflow_core/trackers_ocsort@v1": "|" + "|".join(["0:0"] * 9),
    "roboflow_core/trackers_botsort@v1": "||" + "|".join(["0:0"] * 8),
}


def tracking_faces(tracker: str, steps: list | None = None, outputs: list | None = None) -> dict:
    """Roboflow's detect -> track document on the zoo's face detector (its hosted model id
    mapped to it), with ``steps`` after the tracker; outputs: ``tracked`` and ``outputs``."""
    return {
        "version": "1.0",
        "models": FACES,
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "roboflow_core/roboflow_object_detection_model@v2", "name": "detect",
             "image": "$inputs.image", "model_id": "faces/1"},
            {"type": tracker, "name": "track", "image": "$inputs.image",
             "detections": "$steps.detect.predictions"},
            *(steps or []),
        ],
        "outputs": [
            {"type": "JsonField", "name": "tracked", "selector": "$steps.track.tracked_detections"},
            *(outputs or []),
        ],
    }  # fmt: skip


@needs_face_detector
@pytest.mark.parametrize("type_", list(ROBOFLOW_ON_FACES))
def test_tracks_a_face_moving_across_a_video_as_roboflows_engine(type_):
    faces = {"type": "JsonField", "name": "faces", "selector": "$steps.detect.predictions"}
    workflow = Workflow.compile(tracking_faces(type_, outputs=[faces]), cache=False)
    tracked = []
    for n in range(10):
        metadata = VideoMetadata("astronaut", n, START, FPS, True)
        [result] = workflow.run(image=WorkflowImage(moving_astronaut(n), video=metadata))
        faces, found = result["faces"], result["tracked"]
        places = [_row(list(faces.xyxy), box) for box in found.xyxy]
        tracked.append(" ".join(f"{i}:{t}" for i, t in zip(places, found.tracker_id, strict=True)))
    assert "|".join(tracked) == ROBOFLOW_ON_FACES[type_]


def test_byte_track_numbers_tracks_started_together_in_supervisions_order():
    """Four tracks start on frame 1 beside five known ones: supervision (0.30.9, as Roboflow's
    engine runs it) numbers them in the order of its set of unmatched detections (8, 5, 6,
    7 here, not ascending), and so must we."""
    from visionflow.blocks.roboflow.byte_track import ByteTrack

    known = [(40 + 60 * i, 40, 80 + 60 * i, 80, 0.9, 0) for i in range(5)]
    new = [(40 + 60 * i, 300, 80 + 60 * i, 340, 0.9, 0) for i in range(4)]
    tracker = ByteTrack()
    for rows in (known, known + new):
        tracker.update(detections(rows))
    found = tracker.update(detections(known + new))
    # sv.ByteTrack().update_with_detections on the same three frames
    assert found.tracker_id.tolist() == [1, 2, 3, 4, 5, 7, 8, 9, 6]
    assert found.xyxy[:, 1].tolist() == [40] * 5 + [300] * 4


def test_interleaved_videos_keep_separate_tracks():
    workflow = Workflow.compile(definition("roboflow_core/trackers_sort@v1"), cache=False)
    ids: dict[str, list] = {"a": [], "b": []}
    for n, rows in enumerate(BOXES):  # both videos' frames in one batch, then b alone
        images = [frame("a", n), frame("b", n)]
        results = workflow.run(image=images, boxes=[detections(rows)] * 2)
        for video, result in zip("ab", results, strict=True):
            ids[video].append(list(result["tracked_detections"].tracker_id))
    assert ids["a"] == ids["b"]  # each its own ids, from 0
    expected = [[], [], [0, 1], [0, 1], [0, 1], *[[0, 1, 2]] * 3, [0, 1], [0, 1], *[[0, 1, 2]] * 4]
    assert ids["a"] == expected


def test_ending_a_video_drops_its_tracker_and_leaves_the_others():
    workflow = Workflow.compile(definition("roboflow_core/byte_tracker@v3"), cache=False)
    first = track(workflow, BOXES[:4], video="a")
    track(workflow, BOXES[:4], video="b")
    workflow.end_video("a")
    assert track(workflow, BOXES[:4], video="a") == first  # a new tracker: ids from 1, new
    [result] = workflow.run(image=frame("b", 4), boxes=[detections(BOXES[4])])
    assert list(result["tracked_detections"].tracker_id) == [1, 2, 3]
    assert list(result["new_instances"].tracker_id) == [3]  # b's tracker went on


def test_still_images_share_one_tracker_per_step():
    document = definition("roboflow_core/byte_tracker@v3")
    workflow = Workflow.compile(document, cache=False)
    assert track(workflow, BOXES[:4], video=None)[0] == "0:1 1:2|0:1 1:2|0:1 1:2|0:1 1:2"
    again = Workflow.compile(document, cache=False)  # another compiled workflow: its own
    assert track(again, BOXES[:1], video=None) == ("0:1 1:2", "1 2")
    # frame 4 on the step's shared tracker, which has seen frames 0-3: only track 3 is new
    assert track(workflow, BOXES[4:5], video=None) == ("0:1 1:2 2:3", "3")


def test_byte_tracker_v1_needs_the_videos_fps():
    workflow = Workflow.compile(definition("roboflow_core/byte_tracker@v1"), cache=False)
    metadata = VideoMetadata("vid", 0, START, None, True)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=frame("vid", 0), meta=metadata, boxes=[detections(BOXES[0])])
    assert "field 'metadata': video 'vid' has no fps" in caught.value.message
    assert caught.value.hint.startswith("give the video's fps in its metadata")


def test_a_package_tracker_without_the_trackers_package_is_a_compile_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "trackers", None)  # import fails: not there
    with pytest.raises(BlockLoadingError) as caught:
        Workflow.compile(definition("roboflow_core/trackers_sort@v1"), cache=False)
    assert caught.value.hint.startswith("pip install --no-deps trackers==2.4.0")
    assert "needs Roboflow's trackers package" in caught.value.message


@needs_face_detector
def test_a_detect_track_trace_document_draws_each_faces_path_across_a_video():
    # Roboflow's detect -> track -> trace pattern, as its published trace workflows write it
    trace = {
        "type": "roboflow_core/trace_visualization@v1",
        "name": "trace",
        "image": "$inputs.image",
        "predictions": "$steps.track.tracked_detections",
    }
    drawn = {"type": "JsonField", "name": "visualization", "selector": "$steps.trace.image"}
    document = tracking_faces("roboflow_core/byte_tracker@v3", [trace], [drawn])
    workflow = Workflow.compile(document, cache=False)
    # Roboflow's defaults: the centre of each box, 30 places, 1 px, colours by class
    annotator = sv.TraceAnnotator(
        color=sv.ColorPalette.DEFAULT, position=sv.Position.CENTER, trace_length=30, thickness=1,
        color_lookup=sv.ColorLookup.CLASS,
    )  # fmt: skip
    for n in range(4):
        metadata = VideoMetadata("astronaut", n, START, FPS, True)
        [result] = workflow.run(image=WorkflowImage(moving_astronaut(n), video=metadata))
        expected = annotator.annotate(scene=moving_astronaut(n), detections=result["tracked"])
        assert np.array_equal(result["visualization"].numpy, expected)
    assert 1 in result["tracked"].tracker_id  # the face, followed from the first frame
    assert not np.array_equal(result["visualization"].numpy, moving_astronaut(3))  # drawn


@pytest.mark.parametrize("type_", [f"roboflow_core/byte_tracker@v{n}" for n in (1, 2, 3)])
def test_byte_tracker_names_detections_without_confidences_and_takes_an_empty_frame(type_):
    workflow = Workflow.compile(definition(type_), cache=False)
    image = frame("vid", 0)
    given = {"meta": image.video_metadata} if type_.endswith("@v1") else {}
    empty = sv.Detections(xyxy=np.zeros((0, 4)))  # no confidences, none needed
    [result] = workflow.run(image=image, boxes=[empty], **given)
    assert len(result["tracked_detections"]) == 0
    unsure = sv.Detections(xyxy=np.array([[10.0, 10, 50, 50]]), class_id=np.array([0]))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=frame("vid", 1), boxes=[unsure], **given)
    assert "field 'detections': ByteTrack needs detections with confidences" in (
        caught.value.message
    )
    assert caught.value.hint.startswith("give the detections of a model")
