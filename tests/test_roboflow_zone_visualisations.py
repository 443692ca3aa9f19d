"""Roboflow's zone and track visualisations: polygon zones, counting lines, reference paths,
traces and heatmaps, pixel for pixel as Roboflow's engine draws them."""

from __future__ import annotations

import datetime
import hashlib

import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.errors import WorkflowError

IMAGE_INPUT = [{"type": "WorkflowImage", "name": "image"}]
TRACKED_INPUTS = [
    *IMAGE_INPUT,
    {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]},
]
# video metadata as a batch of its kind (a WorkflowVideoMetadata input gives the same)
VIDEO_INPUT = {"type": "WorkflowBatchInput", "name": "video", "kind": ["video_metadata"]}
POLYGON = [[100, 100], [400, 120], [350, 400], [80, 300]]


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def camera() -> np.ndarray:
    return np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1))


def tracked(frame: int, ids: tuple[int, ...] | None = (1, 2, 3)) -> sv.Detections:
    """Three tracked boxes on the astronaut, moved as they would be at ``frame``."""
    boxes = np.array([[60, 70, 140, 130], [240, 155, 360, 245], [220, 325, 280, 475]], float)
    moves = np.array([[30, 10], [-15, 20], [5, 5]], float) * frame
    return sv.Detections(
        xyxy=boxes + np.concatenate([moves, moves], axis=1),
        confidence=np.array([0.9, 0.75, 0.5]),
        class_id=np.array([0, 1, 12]),
        tracker_id=None if ids is None else np.array(ids),
        data={"class_name": np.array(["cat", "dog", "cow"])},
    )


def workflow(step: dict, inputs: list = IMAGE_INPUT) -> Workflow:
    definition = {
        "version": "1.0",
        "inputs": inputs,
        "steps": [{"name": "draw", "image": "$inputs.image", **step}],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }
    return Workflow.compile(definition, cache=False)  # a plan of its own: its own state


def digest(pixels: np.ndarray) -> tuple[int, str]:
    """The pixel sum and the first 16 hex digits of the pixels' SHA-256."""
    pixels = np.ascontiguousarray(pixels)
    return int(pixels.astype(np.int64).sum()), hashlib.sha256(pixels.tobytes()).hexdigest()[:16]


def frames(count: int, **tracking) -> list[dict]:
    """The runtime inputs of ``count`` consecutive frames: the astronaut, tracked boxes."""
    return [{"image": astronaut(), "boxes": [tracked(n, **tracking)]} for n in range(count)]


PLAIN = digest(astronaut())  # a frame with nothing drawn on it

# Roboflow's own engine (inference-core 1.8.3: supervision 0.30.9, OpenCV 4.12) ran these
# steps on the same images and detections, frame after frame on one compiled workflow; the
# values are its images' digests (pixel sum, SHA-256 prefix), one per frame.
# name: (step, inputs, runtime inputs of each run, Roboflow's digest of each run)
ROBOFLOW = {
    "polygon zone": (
        {"type": "roboflow_core/polygon_zone_visualization@v1", "zone": POLYGON},
        IMAGE_INPUT, [{"image": astronaut()}], [(98028715, "c9e8ebc4d5749a98")],
    ),
    "two polygon zones": (
        {"type": "roboflow_core/polygon_zone_visualization@v1",
         "zone": [POLYGON, [[300, 20], [500, 40], [450, 200]]],
         "color": "rgb(200, 30, 40)", "opacity": 0.7, "copy_image": False},
        IMAGE_INPUT, [{"image": astronaut()}], [(101051261, "5aaf2219b50e85c7")],
    ),
    "polygon zone of fractional points": (
        {"type": "roboflow_core/polygon_zone_visualization@v1",
         "zone": [[10.7, 20.2], [300.9, 50.5], [200.4, 480.99]], "color": "WHITE",
         "opacity": 1.0},
        IMAGE_INPUT, [{"image": astronaut()}], [(116341195, "949d2ee43986617f")],
    ),
    "empty polygon zone": (
        {"type": "roboflow_core/polygon_zone_visualization@v1", "zone": []},
        IMAGE_INPUT, [{"image": astronaut()}], [PLAIN],
    ),
    "polygon zone from parameters": (
        {"type": "roboflow_core/polygon_zone_visualization@v1", "zone": "$inputs.zone",
         "color": "$inputs.colour", "opacity": "$inputs.opacity"},
        [*IMAGE_INPUT, {"type": "WorkflowParameter", "name": "zone"},
         {"type": "WorkflowParameter", "name": "colour"},
         {"type": "WorkflowParameter", "name": "opacity"}],
        [{"image": astronaut(), "zone": POLYGON, "colour": "#FF8000", "opacity": 0.5}],
        [(99313594, "1986777a40af817c")],
    ),
    "counting line": (
        {"type": "roboflow_core/line_counter_visualization@v1", "zone": [[50, 100], [450, 300]]},
        IMAGE_INPUT, [{"image": astronaut()}], [(91314929, "632f39792eff4721")],
    ),
    "counting line with counts": (
        {"type": "roboflow_core/line_counter_visualization@v1", "zone": [[30, 400], [480, 380]],
         "count_in": "$inputs.count_in", "count_out": "$inputs.count_out", "thickness": 6,
         "text_scale": 0.6, "text_thickness": 2, "color": "WHITE", "opacity": 1.0},
        [*IMAGE_INPUT, {"type": "WorkflowParameter", "name": "count_in"},
         {"type": "WorkflowParameter", "name": "count_out"}],
        [{"image": astronaut(), "count_in": 3, "count_out": 17}],
        [(91536496, "8034cca60cdd301d")],
    ),
    "counting line on the camera man": (
        {"type": "roboflow_core/line_counter_visualization@v1", "zone": [[256, 0], [256, 511]],
         "count_in": 12, "count_out": 4, "copy_image": False, "color": "bgr(255, 0, 0)"},
        IMAGE_INPUT, [{"image": camera()}], [(101875527, "4690a0da06556f3d")],
    ),
    "reference path": (
        {"type": "roboflow_core/reference_path_visualization@v1",
         "reference_path": [[10, 10], [200, 300], [500, 100]]},
        IMAGE_INPUT, [{"image": astronaut()}], [(90161947, "3569a851b43a41db")],
    ),
    "reference path of three-number points": (
        {"type": "roboflow_core/reference_path_visualization@v1",
         "reference_path": [[20.6, 480, 7], [250, 30.2, 1], [490, 470, 0], [100, 200, 3]],
         "color": "BLUE", "thickness": 5, "copy_image": False},
        IMAGE_INPUT, [{"image": astronaut()}], [(89822077, "3eac9a615d40d854")],
    ),
    "trace": (
        {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"},
        TRACKED_INPUTS, frames(4),
        [PLAIN, (90122761, "3572db5883c9787e"), (90123822, "405966be3143ede4"),
         (90123382, "fa28acc6b10d4e76")],
    ),
    "short thick trace by track": (
        {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
         "position": "BOTTOM_CENTER", "trace_length": 2, "thickness": 3, "color_axis": "TRACK",
         "color_palette": "Matplotlib Set1", "palette_size": 5},
        TRACKED_INPUTS, frames(4, ids=(7, 2, 9)),
        [PLAIN, (90111349, "f1f6bec33293e3b2"), (90124854, "5bef2265d79c0ec7"),
         (90189570, "f940c36c55690132")],
    ),
    "trace in custom colours": (
        {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
         "position": "TOP_LEFT", "thickness": 2, "color_axis": "INDEX",
         "color_palette": "CUSTOM", "custom_colors": ["#FF0000", "rgb(0, 255, 0)"],
         "copy_image": False},
        TRACKED_INPUTS, frames(3),
        [PLAIN, (90072214, "9555ea59e516ca62"), (90045755, "78f8f2e266780ab5")],
    ),
    "trace of two images a run": (
        {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
         "thickness": 2},
        TRACKED_INPUTS,
        [{"image": [astronaut(), camera()], "boxes": [tracked(n), tracked(2 * n, ids=(1, 8, 9))]}
         for n in range(3)],
        [PLAIN, (101496774, "a18c73f27ae06874"), (90118849, "a792cb7adf2277ea"),
         (101565183, "269746ba85f03ae2"), (90127465, "d484770850ba8f8e"),
         (101686821, "c2e431e21f0a536d")],
    ),
    "heatmap of moving tracks": (
        {"type": "roboflow_core/heatmap_visualization@v1", "predictions": "$inputs.boxes"},
        TRACKED_INPUTS, frames(5),
        [PLAIN, (89998137, "48218db3699ebb8a"), (90168752, "5c670a1610cf5993"),
         (90278923, "11d67282b5d8398b"), (90450954, "fc399ef664e28a94")],
    ),
    "heatmap of every detection": (
        {"type": "HeatmapVisualization", "predictions": "$inputs.boxes",
         "ignore_stationary": False, "position": "CENTER", "opacity": 0.5, "radius": 25,
         "kernel_size": 11, "top_hue": 10, "low_hue": 100},
        TRACKED_INPUTS, frames(4),
        [(89653413, "2de54deed4b4fc4a"), (89525687, "ab55d76710676b22"),
         (89654670, "780a314c1cfca2b8"), (89646916, "e9931f372cf443e9")],
    ),
    "heatmap of untracked detections": (
        {"type": "HeatmapVisualization", "predictions": "$inputs.boxes", "motion_threshold": 5},
        TRACKED_INPUTS, frames(3, ids=None),
        [(89822934, "c9649c24e46d7159"), (89967431, "48951ede9876377c"),
         (90182742, "77e0e950b7eb4bc6")],
    ),
    "heatmap with a motion threshold": (
        {"type": "HeatmapVisualization", "predictions": "$inputs.boxes", "motion_threshold": 12,
         "copy_image": False},
        TRACKED_INPUTS, frames(4),
        [PLAIN, (89998137, "48218db3699ebb8a"), (90198015, "69f068a44e105dad"),
         (90414263, "bd58fd4504a6db12")],
    ),
    "heatmap without blur on the camera man": (
        {"type": "HeatmapVisualization", "predictions": "$inputs.boxes",
         "ignore_stationary": False, "kernel_size": 1},
        TRACKED_INPUTS, [{"image": camera(), "boxes": [tracked(n)]} for n in range(3)],
        [(101188446, "83e489c7b2c267c2"), (101299698, "e94962efc7ed031d"),
         (101967394, "a2f8bba977ccc113")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", ROBOFLOW)
def test_the_same_pixels_as_roboflows_engine_frame_after_frame(name):
    step, inputs, runs, expected = ROBOFLOW[name]
    compiled = workflow(step, inputs)
    drawn = [digest(result["image"].numpy) for run in runs for result in compiled.run(**run)]
    assert drawn == expected


def video_frame(video: str, number: int) -> dict:
    return {"video_identifier": video, "frame_number": number, "fps": 30.0,
            "frame_timestamp": datetime.datetime(2026, 1, 1, 0, 0, number),
            "comes_from_video_file": True}  # fmt: skip


def two_videos() -> list[dict]:
    """Frames of videos "a" and "b" in turn; "b"'s boxes move twice as fast, other tracks."""
    runs = []
    for n in range(3):
        runs.append({"image": astronaut(), "boxes": [tracked(n)], "video": [video_frame("a", n)]})
        runs.append({"image": astronaut(), "boxes": [tracked(2 * n + 1, ids=(4, 5, 6))],
                     "video": [video_frame("b", n)]})  # fmt: skip
    return runs


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"ignore_stationary": False, "radius": 20},
         [(90072371, "aee2a15732291e7f"), (90102005, "1b747ba592131f68"),
          (90086211, "2dc840e12658c8ed"), (90184014, "69d521bb342f99f5"),
          (90184990, "67162811a8136097"), (90299582, "165c90615c31ecbb")]),
        ({},
         [PLAIN, PLAIN, (89998137, "48218db3699ebb8a"), (90128418, "4e6d1f388981ed2a"),
          (90168752, "5c670a1610cf5993"), (90293885, "f320a3675636d826")]),
    ],
)  # fmt: skip
def test_heatmaps_keep_heat_and_tracks_per_video_as_roboflows_engine(fields, expected):
    # Roboflow's engine's digests, its video metadata given by a WorkflowVideoMetadata input
    step = {"type": "HeatmapVisualization", "predictions": "$inputs.boxes",
            "metadata": "$inputs.video", **fields}  # fmt: skip
    compiled = workflow(step, [*TRACKED_INPUTS, VIDEO_INPUT])
    drawn = [digest(compiled.run(**run)[0]["image"].numpy) for run in two_videos()]
    assert drawn == expected


def test_a_trace_is_supervisions_trace_annotator_over_consecutive_runs():
    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
            "trace_length": 3, "thickness": 2, "position": "BOTTOM_RIGHT"}  # fmt: skip
    compiled = workflow(step, TRACKED_INPUTS)
    annotator = sv.TraceAnnotator(
        color=sv.ColorPalette.DEFAULT, position=sv.Position.BOTTOM_RIGHT, trace_length=3,
        thickness=2,
    )  # fmt: skip
    for run in frames(5):
        [result] = compiled.run(**run)
        expected = annotator.annotate(scene=astronaut(), detections=run["boxes"][0])
        assert np.array_equal(result["image"].numpy, expected)


def test_a_trace_is_kept_per_video_and_dropped_when_the_video_ends():
    from visionflow.data.image import VideoMetadata, WorkflowImage

    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"}
    compiled = workflow(step, TRACKED_INPUTS)

    def drawn(video: str, number: int) -> np.ndarray:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 30.0, True)
        image = WorkflowImage(astronaut(), video=meta)
        return compiled.run(image=image, boxes=[tracked(number)])[0]["image"].numpy

    first = [drawn("a", 0), drawn("a", 1)]
    assert np.array_equal(drawn("b", 0), first[0])  # video b's traces start on their own
    assert not np.array_equal(drawn("a", 0), first[0])  # video a's go on
    assert compiled.end_video("a") is True
    assert np.array_equal(drawn("a", 0), first[0])  # and start anew once it ended


def test_a_step_draws_for_its_64_most_recent_videos():
    # a heatmap holds a frame of heat per video: a step keeps 64 videos' annotators (the
    # least recently drawn go), not one for each of the store's 1024 videos
    from visionflow.blocks.roboflow.zone_visualisations import MOST_VIDEOS
    from visionflow.data.image import VideoMetadata, WorkflowImage

    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"}
    compiled = workflow(step, TRACKED_INPUTS)

    def drawn(video: str, number: int) -> np.ndarray:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 30.0, True)
        image = WorkflowImage(astronaut(), video=meta)
        return compiled.run(image=image, boxes=[tracked(number)])[0]["image"].numpy

    first = drawn("a", 0)
    drawn("b", 0)
    for other in range(MOST_VIDEOS - 1):  # a is now the least recently drawn, then b
        drawn(f"other {other}", 0)
    assert not np.array_equal(drawn("b", 0), first)  # b's trace goes on
    assert np.array_equal(drawn("a", 0), first)  # a's was forgotten: it starts anew
    assert MOST_VIDEOS == 64


def test_a_heatmap_is_supervisions_heatmap_annotator_over_consecutive_runs():
    step = {"type": "HeatmapVisualization", "predictions": "$inputs.boxes",
            "ignore_stationary": False, "radius": 30}  # fmt: skip
    compiled = workflow(step, TRACKED_INPUTS)
    annotator = sv.HeatMapAnnotator(
        position=sv.Position.BOTTOM_CENTER, opacity=0.2, radius=30, kernel_size=25
    )
    for run in frames(3):
        [result] = compiled.run(**run)
        expected = annotator.annotate(scene=astronaut(), detections=run["boxes"][0])
        assert np.array_equal(result["image"].numpy, expected)


def test_each_step_and_each_compiled_workflow_keeps_its_own_traces():
    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"}
    first, second = workflow(step, TRACKED_INPUTS), workflow(step, TRACKED_INPUTS)
    for run in frames(3):
        first.run(**run)
    # the second workflow has seen no frame: its trace is one point, nothing drawn
    [result] = second.run(**frames(4)[3])
    assert digest(result["image"].numpy) == PLAIN
    twice = {
        "version": "1.0",
        "inputs": TRACKED_INPUTS,
        "steps": [
            {"type": "roboflow_core/trace_visualization@v1", "name": name,
             "image": "$inputs.image", "predictions": "$inputs.boxes"}
            for name in ("one", "two")
        ],
        "outputs": [{"type": "JsonField", "name": name, "selector": f"$steps.{name}.image"}
                    for name in ("one", "two")],
    }  # fmt: skip
    compiled = Workflow.compile(twice, cache=False)
    for run in frames(3):
        [result] = compiled.run(**run)
        # each step drew its own trace of the frames once (not the other step's points too)
        assert np.array_equal(result["one"].numpy, result["two"].numpy)
    assert digest(result["one"].numpy) == (90123822, "405966be3143ede4")  # Roboflow's third frame


def test_a_trace_needs_tracked_detections():
    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"}
    compiled = workflow(step, TRACKED_INPUTS)
    with pytest.raises(WorkflowError) as caught:
        compiled.run(image=astronaut(), boxes=[tracked(0, ids=None)])
    assert caught.value.code == "step_execution_error"
    assert "needs tracked detections" in caught.value.message


def test_drawing_in_place_changes_the_input_where_roboflow_does():
    path = {"type": "roboflow_core/reference_path_visualization@v1", "copy_image": False,
            "reference_path": [[10, 10], [200, 300]]}  # fmt: skip
    pixels = astronaut()
    [result] = workflow(path).run(image=pixels)
    assert result["image"].numpy is pixels  # drawn on the input's own pixels
    assert pixels[10, 10].tolist() == [115, 181, 91]  # Roboflow's green #5bb573, as BGR
    zone = {"type": "roboflow_core/polygon_zone_visualization@v1", "copy_image": False,
            "zone": POLYGON}  # fmt: skip
    pixels = astronaut()
    workflow(zone).run(image=pixels)
    # a zone is added to a new image even in place, as in Roboflow: the input stays as it was
    assert np.array_equal(pixels, astronaut())


def test_a_counting_line_of_fractional_points_is_drawn_at_whole_pixels():
    # Roboflow's block fails on fractional points (OpenCV refuses them); here they are cut
    # to whole pixels, as its polygon zones and reference paths cut theirs
    step = {"type": "roboflow_core/line_counter_visualization@v1",
            "zone": [[50.7, 100.2], [450.5, 300.9]]}  # fmt: skip
    [result] = workflow(step).run(image=astronaut())
    assert digest(result["image"].numpy) == (91314929, "632f39792eff4721")


def test_a_counting_line_needs_two_points():
    step = {"type": "roboflow_core/line_counter_visualization@v1", "zone": [[50, 100]]}
    with pytest.raises(WorkflowError) as caught:
        workflow(step).run(image=astronaut())
    assert "zone is a list of at least 2 [x, y] points" in caught.value.message


@pytest.mark.parametrize(
    "step, field",
    [
        ({"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
          "trace_length": 0}, "trace_length"),
        ({"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
          "thickness": 0}, "thickness"),
        ({"type": "roboflow_core/reference_path_visualization@v1", "reference_path": [],
          "thickness": 0}, "thickness"),
        ({"type": "roboflow_core/polygon_zone_visualization@v1", "zone": POLYGON,
          "color": "mauve"}, "color"),
        ({"type": "roboflow_core/polygon_zone_visualization@v1", "zone": POLYGON,
          "opacity": 1.5}, "opacity"),
        ({"type": "HeatmapVisualization", "predictions": "$inputs.boxes",
          "position": "CENTER_OF_MASS"}, "position"),
    ],
)  # fmt: skip
def test_values_roboflow_refuses_are_compile_errors_naming_the_field(step, field):
    with pytest.raises(WorkflowError) as caught:
        workflow(step, TRACKED_INPUTS)
    assert field in caught.value.place


def test_zones_from_a_dynamic_zone_step_as_roboflows_engine_draws_them():
    boxes = np.array([[60, 70, 140, 130], [240, 155, 360, 245]], float)
    polygons = [[[x1, (y1 + y2) / 2], [(x1 + x2) / 2, y1], [x2, y2 - (y2 - y1) / 3], [x1, y2]]
                for x1, y1, x2, y2 in boxes]  # fmt: skip
    masks = np.array([sv.polygon_to_mask(np.array(p), (512, 512)) > 0 for p in polygons])
    found = sv.Detections(xyxy=boxes, mask=masks, class_id=np.array([0, 1]))
    definition = {
        "version": "1.0",
        "inputs": [*IMAGE_INPUT, {"type": "WorkflowInstanceSegmentation", "name": "masks"}],
        "steps": [
            {"type": "roboflow_core/dynamic_zone@v1", "name": "zones",
             "predictions": "$inputs.masks", "required_number_of_vertices": 4},
            {"type": "roboflow_core/polygon_zone_visualization@v1", "name": "draw",
             "image": "$inputs.image", "zone": "$steps.zones.zones", "opacity": 0.6},
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    [result] = Workflow.compile(definition, cache=False).run(image=astronaut(), masks=[found])
    # Roboflow's engine's digest, the same definition and inputs
    assert digest(result["image"].numpy) == (91688025, "86165405e73145e4")


def test_a_step_keeps_a_bounded_number_of_remembering_annotators():
    # one annotator per video and settings: settings from a parameter that changes every run
    # (or many videos) must not keep every annotator (a heatmap's holds a whole frame of heat)
    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes",
            "trace_length": "$inputs.length"}  # fmt: skip
    compiled = workflow(step, [*TRACKED_INPUTS, {"type": "WorkflowParameter", "name": "length"}])
    for length in range(1, 101):
        compiled.run(image=astronaut(), boxes=[tracked(0)], length=length)
    block = compiled.plan.steps["draw"].block
    assert len(block.memory(None)["annotators"]) == 64  # still images: one state
    # the most recently used are the ones kept: the last length's trace goes on growing
    [result] = compiled.run(image=astronaut(), boxes=[tracked(1)], length=100)
    expected = sv.TraceAnnotator(color=sv.ColorPalette.DEFAULT, trace_length=100, thickness=1)
    expected.annotate(scene=astronaut(), detections=tracked(0))
    assert np.array_equal(
        result["image"].numpy, expected.annotate(scene=astronaut(), detections=tracked(1))
    )


@pytest.mark.parametrize(
    "step, inputs, field",
    [
        ({"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"},
         {"boxes": [tracked(0, ids=None)]}, "predictions"),
        ({"type": "roboflow_core/line_counter_visualization@v1", "zone": "$inputs.zone"},
         {"zone": [[50, 100]]}, "zone"),
        ({"type": "roboflow_core/reference_path_visualization@v1",
          "reference_path": "$inputs.path"}, {"path": [10, 20, 30]}, "reference_path"),
        ({"type": "roboflow_core/reference_path_visualization@v1",
          "reference_path": "$inputs.path"}, {"path": [[10], [20]]}, "reference_path"),
    ],
)  # fmt: skip
def test_a_value_a_step_cannot_draw_is_an_error_naming_the_field_with_a_hint(step, inputs, field):
    declared = TRACKED_INPUTS if "boxes" in inputs else IMAGE_INPUT
    declared = declared + [
        {"type": "WorkflowParameter", "name": name} for name in inputs if name != "boxes"
    ]
    with pytest.raises(WorkflowError) as caught:
        workflow(step, declared).run(image=astronaut(), **inputs)
    assert caught.value.place == "steps 'draw'"
    assert f"RuntimeInputError: field '{field}': " in caught.value.message
    assert caught.value.hint  # the block's hint is the step error's
    assert "\n  hint: " not in caught.value.message


def test_a_frame_without_detections_is_drawn_as_a_trackers_empty_frame():
    # a tracker's frame with nothing in it has tracker ids (none of them: supervision's
    # ByteTrack, which Roboflow's trackers use, gives an empty array); the same empty frame
    # given as Roboflow's JSON has none at all, and is drawn the same way, not refused
    step = {"type": "roboflow_core/trace_visualization@v1", "predictions": "$inputs.boxes"}
    compiled = workflow(step, TRACKED_INPUTS)
    annotator = sv.TraceAnnotator(color=sv.ColorPalette.DEFAULT, thickness=1)
    from_tracker = sv.Detections.empty()
    from_tracker.tracker_id = np.array([], dtype=int)
    given = [tracked(0), {"image": {"width": 512, "height": 512}, "predictions": []}, tracked(1)]
    for boxes, seen in zip(given, [tracked(0), from_tracker, tracked(1)], strict=True):
        [result] = compiled.run(image=astronaut(), boxes=[boxes])
        expected = annotator.annotate(scene=astronaut(), detections=seen)
        assert np.array_equal(result["image"].numpy, expected)
