"""Roboflow's stateful video blocks (line counter, time in zone, velocity, path deviation,
detection event log, stabilize detections, track class lock, frame delay, buffer) over
sequences of frames with tracked detections: state per video (two interleaved videos,
``Workflow.end_video``), time from the frames' video metadata, and the values Roboflow's
engine gives for the same sequences (kept in tests/data/roboflow_video_*.json)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv

from visionflow import Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import StepExecutionError, WorkflowError

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)  # 1767225600 s since the epoch
ZONE = [[50, 0], [150, 0], [150, 100], [50, 100]]
TWO_ZONES = [[[0, 0], [60, 0], [60, 100], [0, 100]], [[140, 0], [200, 0], [200, 100], [140, 100]]]


def metadata(video: str, number: int, fps: float, from_file: bool = True) -> VideoMetadata:
    moment = START + datetime.timedelta(seconds=number / 10)
    return VideoMetadata(video, number, moment, fps, from_file)


def frame(video: str, number: int, fps: float, from_file: bool = True) -> WorkflowImage:
    pixels = np.zeros((100, 200, 3), np.uint8)
    return WorkflowImage(pixels, video=metadata(video, number, fps, from_file))


def tracks(rows: list[tuple[float, float, float, float, int]]) -> sv.Detections:
    if not rows:
        found = sv.Detections.empty()
        found.tracker_id = np.zeros(0, int)
        return found
    table = np.array(rows, dtype=float)
    return sv.Detections(
        xyxy=table[:, :4],
        tracker_id=table[:, 4].astype(int),
        class_id=np.zeros(len(table), int),
        confidence=np.full(len(table), 0.9),
        data={"class_name": np.array(["a"] * len(table))},
    )


def step(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"type": f"roboflow_core/{kind}", "name": name, **fields}


IMAGE, META, DETS = "$inputs.image", "$inputs.meta", "$inputs.dets"
ANALYTICS = {
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowVideoMetadata", "name": "meta"},
        {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
    ],
    "steps": [
        step(
            "line_counter@v1",
            "lc1",
            metadata=META,
            detections=DETS,
            line_segment=[[100, 0], [100, 100]],
        ),
        step(
            "line_counter@v2",
            "lc2",
            image=IMAGE,
            detections=DETS,
            line_segment=[[100, 0], [100, 100]],
        ),
        step("time_in_zone@v1", "tz1", image=IMAGE, metadata=META, detections=DETS, zone=ZONE),
        step(
            "time_in_zone@v2",
            "tz2",
            image=IMAGE,
            detections=DETS,
            zone=ZONE,
            remove_out_of_zone_detections=False,
        ),
        step(
            "time_in_zone@v3",
            "tz3",
            image=IMAGE,
            detections=DETS,
            zone=TWO_ZONES,
            reset_out_of_zone_detections=False,
        ),
        step(
            "velocity@v1",
            "vel",
            image=IMAGE,
            detections=DETS,
            smoothing_alpha=0.3,
            pixels_per_meter=2.0,
        ),
        step(
            "path_deviation_analytics@v1",
            "pd1",
            metadata=META,
            detections=DETS,
            reference_path=[[0, 50], [100, 40], [200, 50]],
        ),
        step(
            "path_deviation_analytics@v2",
            "pd2",
            image=IMAGE,
            detections=DETS,
            reference_path=[[0, 50], [200, 50]],
            triggering_anchor="BOTTOM_CENTER",
        ),
    ],
    "outputs": [
        {"type": "JsonField", "name": name, "selector": f"$steps.{selector}"}
        for name, selector in [
            ("lc1_in", "lc1.count_in"),
            ("lc1_out", "lc1.count_out"),
            ("lc2_in", "lc2.count_in"),
            ("lc2_out", "lc2.count_out"),
            ("lc2_din", "lc2.detections_in"),
            ("lc2_dout", "lc2.detections_out"),
            ("tz1", "tz1.timed_detections"),
            ("tz2", "tz2.timed_detections"),
            ("tz3", "tz3.timed_detections"),
            ("vel", "vel.velocity_detections"),
            ("pd1", "pd1.path_deviation_detections"),
            ("pd2", "pd2.path_deviation_detections"),
        ]
    ],
}

# video a: track 1 moves right 30 px a frame, track 2 left (10 fps); video b, interleaved
# with a: track 7 moves right 45 px every second frame (5 fps)
VIDEO_A = [
    [(10 + 30 * n, 30, 30 + 30 * n, 50, 1), (170 - 30 * n, 60, 190 - 30 * n, 80, 2)]
    for n in range(6)
]
VIDEO_B = [[(20 + 45 * n, 40, 40 + 45 * n, 60, 7)] for n in range(4)]
SEQUENCE = []
for number in range(6):
    SEQUENCE.append(("a", number, 10.0, VIDEO_A[number]))
    if number < 4:
        SEQUENCE.append(("b", 2 * number, 5.0, VIDEO_B[number]))

DATA_KEYS = (
    "time_in_zone",
    "velocity",
    "speed",
    "smoothed_velocity",
    "smoothed_speed",
    "path_deviation",
)


def shown(value: Any) -> Any:
    """Results as the comparison keeps them: a detections' tracker ids and analytics data,
    numbers to 6 places."""
    if isinstance(value, sv.Detections):
        ids = [] if value.tracker_id is None else value.tracker_id.tolist()
        keys = [k for k in DATA_KEYS if k in value.data] if ids else []
        return {"tracker_id": ids, **{k: shown(np.asarray(value.data[k]).tolist()) for k in keys}}
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [shown(element) for element in value]
    if isinstance(value, dict):
        return {key: shown(element) for key, element in value.items()}
    return value


def run_sequence(workflow: Workflow, sequence: list) -> list[dict[str, Any]]:
    results = []
    for video, number, fps, rows in sequence:
        [result] = workflow.run(
            image=frame(video, number, fps),
            meta=metadata(video, number, fps),
            dets=tracks(rows),
        )
        results.append(shown(result))
    return results


ROBOFLOW_FILE = "roboflow_video_analytics.json"
# What Roboflow's engine (inference-core 1.8.3, roboflow_workflows 0.2.13, supervision 0.30.9)
# gave for ANALYTICS over SEQUENCE, one frame at a time, tracker ids and data to 6 places
# (its path deviation fed anchor positions rather than names, which supervision 0.30.9 needs).
ROBOFLOW = json.loads(Path(__file__).with_name("data").joinpath(ROBOFLOW_FILE).read_text())


def test_analytics_over_two_interleaved_videos_give_roboflows_values():
    workflow = Workflow.compile(ANALYTICS, cache=False)
    assert run_sequence(workflow, SEQUENCE) == ROBOFLOW


def test_each_video_keeps_its_own_state_and_ending_it_starts_it_anew():
    workflow = Workflow.compile(ANALYTICS, cache=False)
    only_a = [element for element in SEQUENCE if element[0] == "a"]
    alone = run_sequence(workflow, only_a)
    assert alone == [r for r, e in zip(ROBOFLOW, SEQUENCE, strict=True) if e[0] == "a"]
    assert workflow.end_video("a") is True
    assert run_sequence(workflow, only_a) == alone  # counts, times and paths start again


def test_time_is_the_frame_time_in_its_video_not_the_clock():
    definition = {
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
        ],
        "steps": [step("time_in_zone@v2", "zone", image=IMAGE, detections=DETS, zone=ZONE)],
        "outputs": [
            {"type": "JsonField", "name": "timed", "selector": "$steps.zone.timed_detections"}
        ],
    }
    workflow = Workflow.compile(definition, cache=False)
    inside = tracks([(90, 40, 110, 60, 3)])
    times = []
    for number in (0, 25, 100):  # a file at 25 fps: frame number / fps
        [result] = workflow.run(image=frame("file", number, 25.0), dets=inside)
        times.append(float(result["timed"].data["time_in_zone"][0]))
    for number in (0, 7):  # a live stream: the frames' capture times (0.1 s a frame here)
        [result] = workflow.run(image=frame("live", number, 25.0, False), dets=inside)
        times.append(round(float(result["timed"].data["time_in_zone"][0]), 6))
    assert times == [0.0, 1.0, 4.0, 0.0, 0.7]


def test_untracked_detections_are_an_error_naming_the_field():
    definition = {
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
        ],
        "steps": [
            step(
                "line_counter@v2",
                "line",
                image=IMAGE,
                detections=DETS,
                line_segment=[[0, 0], [10, 10]],
            )
        ],
        "outputs": [{"type": "JsonField", "name": "n", "selector": "$steps.line.count_in"}],
    }
    untracked = sv.Detections(xyxy=np.array([[0.0, 0, 5, 5]]))
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(definition, cache=False).run(image=frame("a", 0, 10), dets=untracked)
    assert "tracked detections" in str(caught.value)
    empty = sv.Detections.empty()  # an empty frame needs no tracker ids
    result = Workflow.compile(definition, cache=False).run(image=frame("a", 0, 10), dets=empty)
    assert result == [{"n": 0}]


def buffers_definition(offset: Any = -2) -> dict[str, Any]:
    return {
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "value"},
        ],
        "steps": [
            step(
                "frame_delay@v1",
                "delay",
                image=IMAGE,
                data="$inputs.value",
                offset=offset,
                default_value="none",
            ),
            {
                "type": "TimeTravel",
                "name": "old",
                "image": IMAGE,
                "data": "$inputs.value",
                "offset": 0,
            },
            {"type": "Buffer", "name": "last", "data": IMAGE, "length": 3, "pad": True},
        ],
        "outputs": [
            {"type": "JsonField", "name": "delayed", "selector": "$steps.delay.output"},
            {"type": "JsonField", "name": "available", "selector": "$steps.delay.is_available"},
            {
                "type": "JsonField",
                "name": "number",
                "selector": "$steps.delay.reference_frame_number",
            },
            {"type": "JsonField", "name": "now", "selector": "$steps.old.output"},
            {"type": "JsonField", "name": "last", "selector": "$steps.last.output"},
        ],
    }


def test_frame_delay_and_buffer_remember_per_video():
    workflow = Workflow.compile(buffers_definition(), cache=False)
    seen = []
    for video, number in [("a", 0), ("b", 0), ("a", 1), ("a", 2), ("b", 2), ("a", 3)]:
        [result] = workflow.run(image=frame(video, number, 10), value=f"{video}{number}")
        last = [None if i is None else i.video_metadata.frame_number for i in result["last"]]
        seen.append((result["delayed"], result["available"], result["number"], result["now"], last))
    # Roboflow's engine gave the same delays, availabilities and numbers (data: the frame)
    assert seen == [
        ("none", False, 0, "a0", [0, None, None]),
        ("none", False, 0, "b0", [0, None, None]),
        ("none", False, 1, "a1", [1, 0, None]),
        ("a0", True, 2, "a2", [2, 1, 0]),
        ("b0", True, 2, "b2", [2, 0, None]),
        ("a1", True, 3, "a3", [3, 2, 1]),
    ]
    workflow.end_video("a")
    [result] = workflow.run(image=frame("a", 4, 10), value="a4")
    assert (result["delayed"], result["available"], len(result["last"])) == ("none", False, 3)


def test_frame_delay_restarts_when_frame_numbers_go_back():
    workflow = Workflow.compile(buffers_definition(-1), cache=False)
    values = [workflow.run(image=frame("a", n, 10), value=n)[0]["delayed"] for n in (5, 6, 0, 1)]
    assert values == ["none", 5, "none", 0]


@pytest.mark.parametrize("offset", [1, -257])
def test_a_frame_delay_offset_out_of_range_is_a_compile_error(offset):
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(buffers_definition(offset), cache=False)
    assert "offset" in str(caught.value)


def test_a_frame_delay_offset_from_a_parameter_is_checked_with_a_hint():
    definition = buffers_definition("$inputs.offset")
    definition["inputs"].append({"type": "WorkflowParameter", "name": "offset"})
    workflow = Workflow.compile(definition, cache=False)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=frame("a", 0, 10), value=1, offset=5)
    assert "field 'offset': offset is a whole number of frames back" in caught.value.message
    assert caught.value.hint == "give offset as -1 for the previous frame"


TRACKS = {
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
    ],
    "steps": [
        step("stabilize_detections@v1", "st", image=IMAGE, detections=DETS,
             smoothing_window_size=2, bbox_smoothing_coefficient=0.4),
        step("track_class_lock@v1", "lock", image=IMAGE, detections=DETS, min_votes=2,
             vote_confidence=0.5, lead_margin=1, switch_after=2, state_ttl=5,
             reattach_window=2, reattach_iou=0.3),
        step("detection_event_log@v1", "log", image=IMAGE, detections=DETS,
             frame_threshold=2, flush_interval=2, stale_frames=1),
    ],
    "outputs": [
        {"type": "JsonField", "name": name, "selector": f"$steps.{selector}"}
        for name, selector in [
            ("st", "st.tracked_detections"), ("lock", "lock.tracked_detections"),
            ("log", "log.event_log"), ("logged", "log.total_logged"),
            ("pending", "log.total_pending"), ("complete", "log.complete_events"),
        ]
    ],
}  # fmt: skip

# (x1, y1, x2, y2, tracker id, class, confidence, class id): in video a, track 1 changes
# class, track 2 is lost after frame 2 and comes back as track 5, then an empty frame
CLASSED_A = [
    [(10, 10, 30, 30, 1, "cat", 0.9, 0), (100, 50, 120, 70, 2, "dog", 0.8, 1)],
    [(14, 12, 34, 32, 1, "cat", 0.7, 0), (95, 50, 115, 70, 2, "dog", 0.9, 1)],
    [(18, 14, 38, 34, 1, "dog", 0.95, 1), (90, 50, 110, 70, 2, "cat", 0.3, 0)],
    [(22, 16, 42, 36, 1, "dog", 0.9, 1)],
    [(26, 18, 46, 38, 1, "cat", 0.6, 0)],
    [(30, 20, 50, 40, 1, "dog", 0.99, 1), (81, 51, 101, 71, 5, "cat", 0.9, 0)],
    [(34, 22, 54, 42, 1, "dog", 0.99, 1), (76, 51, 96, 71, 5, "cat", 0.9, 0)],
    [],
]
CLASSED_B = [[(3 * n, 0, 10 + 3 * n, 10, 1, "bird", 0.9, 2)] for n in range(3)]


def classed(rows: list[tuple]) -> sv.Detections:
    if not rows:  # as a tracker gives an empty frame
        return sv.Detections(
            xyxy=np.empty((0, 4)),
            tracker_id=np.zeros(0, int),
            class_id=np.zeros(0, int),
            confidence=np.zeros(0),
            data={"class_name": np.array([], dtype=str)},
        )
    return sv.Detections(
        xyxy=np.array([row[:4] for row in rows], dtype=float),
        tracker_id=np.array([row[4] for row in rows]),
        class_id=np.array([row[7] for row in rows]),
        confidence=np.array([row[6] for row in rows]),
        data={"class_name": np.array([row[5] for row in rows])},
    )


def shown_tracks(value: Any) -> Any:
    if isinstance(value, sv.Detections):
        found = {
            "tracker_id": [] if value.tracker_id is None else value.tracker_id.tolist(),
            "xyxy": shown(value.xyxy.tolist()),
            "class_id": [] if value.class_id is None else value.class_id.tolist(),
            "confidence": [] if value.confidence is None else shown(value.confidence.tolist()),
        }
        for key in ("class_name", "class_locked"):
            if key in value.data:
                found[key] = np.asarray(value.data[key]).tolist()
        return found
    if isinstance(value, dict):
        return {key: shown_tracks(element) for key, element in value.items()}
    return shown(value)


# What Roboflow's engine gave for TRACKS over the frames of videos a and b in turn
TRACKS_FILE = "roboflow_video_tracks.json"
ROBOFLOW_TRACKS = json.loads(Path(__file__).with_name("data").joinpath(TRACKS_FILE).read_text())


def test_stabilize_class_lock_and_event_log_over_two_videos_give_roboflows_values():
    workflow = Workflow.compile(TRACKS, cache=False)
    results = []
    for number in range(len(CLASSED_A)):
        for video, frames in (("a", CLASSED_A), ("b", CLASSED_B)):
            if number < len(frames):
                [result] = workflow.run(
                    image=frame(video, number, 10.0), dets=classed(frames[number])
                )
                results.append(shown_tracks(result))
    assert results == ROBOFLOW_TRACKS


def test_a_video_that_never_ends_keeps_a_bounded_number_of_tracks():
    # a live stream's tracks come and go: past 4096 tracks, the least recently seen are
    # forgotten (velocity starts again from 0, time in zone from entering now)
    from visionflow.blocks.roboflow.video_analytics import MOST_TRACKS

    definition = {
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
        ],
        "steps": [
            step("velocity@v1", "v", image=IMAGE, detections=DETS),
            step("time_in_zone@v2", "z", image=IMAGE, detections=DETS, zone=ZONE),
            step(
                "path_deviation_analytics@v2",
                "p",
                image=IMAGE,
                detections=DETS,
                reference_path=[[0, 0], [10, 0]],
            ),
        ],
        "outputs": [
            {"type": "JsonField", "name": "v", "selector": "$steps.v.velocity_detections"},
            {"type": "JsonField", "name": "z", "selector": "$steps.z.timed_detections"},
            {"type": "JsonField", "name": "p", "selector": "$steps.p.path_deviation_detections"},
        ],
    }
    workflow = Workflow.compile(definition, cache=False)
    many = [(90, 40, 110, 60, track) for track in range(MOST_TRACKS + 1)]  # track 0 goes
    workflow.run(image=frame("live", 0, 10), dets=tracks(many))
    moved = [(100, 40, 120, 60, 1), (100, 40, 120, 60, 0)]
    [result] = workflow.run(image=frame("live", 1, 10), dets=tracks(moved))
    assert result["v"].data["speed"].tolist() == [100.0, 0.0]  # 10 px in 0.1 s; forgotten
    assert result["z"].data["time_in_zone"].tolist() == [0.1, 0.0]
    # track 1's path has two points; track 0's starts again at this frame
    assert np.round(result["p"].data["path_deviation"], 3).tolist() == [111.803, 120.83]
    memory = workflow.plan.video_states
    for block in {id(b): b for b in _blocks(workflow)}.values():
        state = memory.get(block, "live", dict)
        sizes = [len(v) for v in (state.values() if isinstance(state, dict) else [state])]
        assert max(sizes) <= MOST_TRACKS


def _blocks(workflow: Workflow) -> list:
    return [s.block for s in workflow.plan.steps.values()]
