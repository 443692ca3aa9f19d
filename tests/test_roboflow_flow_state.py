"""Roboflow's switch_case, cache_set / cache_get, data_aggregator, identify_changes and
identify_outliers (blocks/roboflow: flow.py, cache.py, aggregation.py, sampling.py), written
as Roboflow writes them and run over consecutive runs of one compiled workflow.

Expected values are what Roboflow's own engine (inference-core 1.8.3) gave for the same
definitions and the same sequences of runs, run beside these tests on 2026-12-07.
"""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.blocks.roboflow.cache import WorkflowCache
from visionflow.blocks.video_state import VideoStates
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import FlowControlError, ManifestError, WorkflowError


def compile_(document: dict) -> Workflow:
    # not from the plan cache: these steps keep state for as long as their compiled workflow,
    # and the same document compiled again (cached) would go on with another test's state
    return Workflow.compile(document, cache=False)


def bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, ::-1])


COFFEE = bgr(data.coffee())  # 600 x 400


def json_fields(**selectors: str) -> list[dict]:
    return [{"type": "JsonField", "name": n, "selector": s} for n, s in selectors.items()]


# --- switch_case ----------------------------------------------------------------------------


def image_property(name: str, property_name: str) -> dict:
    return {
        "type": "roboflow_core/property_definition@v1",
        "name": name,
        "data": "$inputs.image",
        "operations": [{"type": "ExtractImageProperty", "property_name": property_name}],
    }


def switch_document(**switch: Any) -> dict:
    """Switch on the parameter ``mode``: "wide" runs ``width``, "1.0" runs ``height``."""
    return {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "mode"},
        ],
        "steps": [
            {
                "type": "roboflow_core/switch_case@v1",
                "name": "sw",
                "value": "$inputs.mode",
                "cases": {"wide": "$steps.width", "1.0": "$steps.height"},
                **switch,
            },
            image_property("width", "width"),
            image_property("height", "height"),
            image_property("ratio", "aspect_ratio"),
        ],
        "outputs": json_fields(
            width="$steps.width.output",
            height="$steps.height.output",
            ratio="$steps.ratio.output",
        ),
    }


def routed(workflow: Workflow, mode: Any, images: int = 1) -> list[tuple]:
    rows = workflow.run(image=[COFFEE] * images, mode=mode)
    return [(row["width"], row["height"], row["ratio"]) for row in rows]


def test_switch_case_runs_the_case_of_the_value_as_text_else_the_default():
    workflow = compile_(switch_document(default_next_steps=["$steps.ratio"]))
    assert routed(workflow, "wide") == [(600, None, None)]
    assert routed(workflow, "WIDE") == [(None, None, 1.5)]  # letter case counts by default
    assert routed(workflow, 1.0) == [(None, 400, None)]  # str(1.0) is "1.0"
    assert routed(workflow, 1) == [(None, None, 1.5)]  # str(1) is "1": no case
    assert routed(workflow, True) == [(None, None, 1.5)]


def test_switch_case_ignoring_letter_case_and_without_a_default():
    workflow = compile_(switch_document(case_insensitive=True))
    # ``ratio`` is no target of the switch, so it always runs
    assert routed(workflow, "WIDE", images=2) == [(600, None, 1.5)] * 2
    assert routed(workflow, 1, images=2) == [(None, None, 1.5)] * 2  # nothing matches: stops


def test_switch_case_routes_each_image_by_its_own_value():
    document = {
        "version": "1.4.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            image_property("width", "width"),
            {
                "type": "roboflow_core/switch_case@v1",
                "name": "sw",
                "value": "$steps.width.output",
                "cases": {"600": "$steps.height", "512": "$steps.ratio"},
            },
            image_property("height", "height"),
            image_property("ratio", "aspect_ratio"),
        ],
        "outputs": json_fields(
            width="$steps.width.output",
            height="$steps.height.output",
            ratio="$steps.ratio.output",
        ),
    }
    rows = compile_(document).run(image=[COFFEE, bgr(data.astronaut()), COFFEE])
    assert [(row["width"], row["height"], row["ratio"]) for row in rows] == [
        (600, 400, None),
        (512, None, 1.0),
        (600, 400, None),
    ]


def test_switch_case_fields_as_roboflow_declares_them():
    step = compile_(switch_document()).plan.steps["sw"]
    assert step.manifest.case_insensitive is False
    assert step.manifest.default_next_steps == []
    alias = switch_document()
    alias["steps"][0]["type"] = "SwitchCase"
    assert routed(compile_(alias), "wide") == [(600, None, 1.5)]  # ratio: no target, runs


def test_switch_case_names_each_step_once():
    with pytest.raises(FlowControlError, match=r"\$steps.width named more than once") as caught:
        compile_(switch_document(default_next_steps=["$steps.width"]))
    assert caught.value.place == "steps[0] 'sw' field 'cases'"
    with pytest.raises(FlowControlError, match="same when letter case is ignored"):
        compile_(
            switch_document(
                cases={"wide": "$steps.width", "WIDE": "$steps.height"}, case_insensitive=True
            )
        )
    with pytest.raises(ManifestError, match="expected a step reference"):
        compile_(switch_document(cases={"wide": "$inputs.image"}))


# --- cache_set / cache_get ------------------------------------------------------------------


def cache_document() -> dict:
    """``mode`` "write" stores the batch ``v`` under "k"; "read" reads "k" back."""
    return {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "mode"},
            {"type": "WorkflowBatchInput", "name": "v"},
        ],
        "steps": [
            {
                "type": "roboflow_core/switch_case@v1",
                "name": "sw",
                "value": "$inputs.mode",
                "cases": {"write": "$steps.set", "read": "$steps.get"},
            },
            {
                "type": "roboflow_core/cache_set@v1",
                "name": "set",
                "image": "$inputs.image",
                "key": "k",
                "value": "$inputs.v",
            },
            {
                "type": "roboflow_core/cache_get@v1",
                "name": "get",
                "image": "$inputs.image",
                "key": "k",
            },
        ],
        "outputs": json_fields(stored="$steps.set.output", got="$steps.get.output"),
    }


def cached(workflow: Workflow, mode: str, values: list) -> list[tuple]:
    rows = workflow.run(image=[COFFEE] * len(values), mode=mode, v=values)
    return [(row["stored"], row["got"]) for row in rows]


def test_cache_get_reads_what_an_earlier_run_stored_per_image_of_the_batch():
    workflow = compile_(cache_document())
    assert cached(workflow, "read", ["x"]) == [(None, False)]  # never set: False
    assert cached(workflow, "write", ["a"]) == [("a", None)]  # cache_set passes the value on
    assert cached(workflow, "read", ["x"]) == [(None, "a")]
    assert cached(workflow, "write", ["b", "c"]) == [("b", None), ("c", None)]
    assert cached(workflow, "read", ["x", "y"]) == [(None, "b"), (None, "c")]
    assert cached(workflow, "write", [[1, 2], {"n": 3}]) == [([1, 2], None), ({"n": 3}, None)]
    # the third image of the batch has a stream of its own, never written
    assert cached(workflow, "read", ["x", "y", "z"]) == [
        (None, [1, 2]),
        (None, {"n": 3}),
        (None, False),
    ]


def test_cache_entries_of_a_video_are_its_own_wherever_its_frames_are_in_the_batch():
    workflow = compile_(cache_document())

    def at(video: str, number: int) -> WorkflowImage:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 10.0, True)
        return WorkflowImage(COFFEE, video=meta)

    def run(mode: str, frames: list[WorkflowImage], values: list) -> list:
        return [row["got"] for row in workflow.run(image=frames, mode=mode, v=values)]

    run("write", [at("a", 0), at("b", 0)], ["for a", "for b"])
    assert run("read", [at("b", 1), at("a", 1)], [0, 0]) == ["for b", "for a"]
    assert workflow.end_video("a") is True  # its source ended: its entries go
    assert run("read", [at("b", 2), at("a", 2)], [0, 0]) == ["for b", False]


def test_each_compiled_workflow_has_a_cache_of_its_own():
    # Roboflow shares one cache in the whole process; here two workflows never meet
    writer, reader = compile_(cache_document()), compile_(cache_document())
    cached(writer, "write", ["a"])
    assert cached(reader, "read", ["x"]) == [(None, False)]
    assert cached(writer, "read", ["x"]) == [(None, "a")]


def test_the_cache_is_bounded_the_least_recently_used_going_first():
    cache = WorkflowCache(VideoStates(most_videos=2), max_places=2, max_keys=2)
    cache.set("video 1", None, "a", 1)
    cache.set("video 1", None, "b", 2)
    assert cache.get("video 1", None, "a") == 1  # now "b" is the least recently used key
    cache.set("video 1", None, "c", 3)
    assert [cache.get("video 1", None, key) for key in "abc"] == [1, False, 3]
    cache.set("video 2", None, "a", 4)
    cache.set("video 3", None, "a", 5)  # a third video: the least recently used one goes
    assert [cache.get(v, None, "a") for v in ("video 2", "video 3", "video 1")] == [4, 5, False]
    for place in range(3):  # still images' places: the least recently used goes
        cache.set(None, (place,), "a", place)
    assert [cache.get(None, (place,), "a") for place in range(3)] == [False, 1, 2]


# --- data_aggregator ------------------------------------------------------------------------


def detections(boxes: list[list[float]], classes: list[str]) -> sv.Detections:
    names = sorted(set(classes))
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.linspace(0.9, 0.5, len(classes)),
        class_id=np.array([names.index(c) for c in classes], dtype=int),
        data={"class_name": np.array(classes, dtype=object)},
    )


FRAMES = [
    detections([[10, 20, 110, 220], [200, 200, 300, 260]], ["cat", "dog"]),
    detections([[0, 0, 50, 50]], ["cat"]),
    detections([], []),
    detections([[5, 5, 60, 60], [1, 1, 9, 9], [30, 30, 90, 90]], ["bird", "cat", "cat"]),
]


def aggregation_document(**step: Any) -> dict:
    """As Roboflow's test_workflow_with_data_aggregation, on detections given as inputs."""
    return {
        "version": "1.4.0",
        "inputs": [
            {
                "type": "WorkflowBatchInput",
                "name": "predictions",
                "kind": ["object_detection_prediction"],
            }
        ],
        "steps": [
            {
                "type": "roboflow_core/data_aggregator@v1",
                "name": "data_aggregation",
                "data": {
                    "predicted_classes": "$inputs.predictions",
                    "number_of_predictions": "$inputs.predictions",
                },
                "data_operations": {
                    "predicted_classes": [
                        {"type": "DetectionsPropertyExtract", "property_name": "class_name"}
                    ],
                    "number_of_predictions": [{"type": "SequenceLength"}],
                },
                **step,
            }
        ],
        "outputs": json_fields(aggregation_results="$steps.data_aggregation.*"),
    }


MODES = {
    "predicted_classes": ["count_distinct", "values_counts"],
    "number_of_predictions": ["min", "max", "sum", "avg"],
}
NOTHING_YET = dict.fromkeys(
    [
        "predicted_classes_count_distinct",
        "predicted_classes_values_counts",
        "number_of_predictions_min",
        "number_of_predictions_max",
        "number_of_predictions_sum",
        "number_of_predictions_avg",
    ]
)


def aggregated(workflow: Workflow, *frames: sv.Detections) -> list[dict]:
    return [row["aggregation_results"] for row in workflow.run(predictions=list(frames))]


def test_data_aggregator_gives_statistics_once_per_window_of_runs():
    workflow = compile_(
        aggregation_document(aggregation_mode=MODES, interval=3, interval_unit="runs")
    )
    assert aggregated(workflow, FRAMES[0]) == [NOTHING_YET]
    assert aggregated(workflow, FRAMES[1]) == [NOTHING_YET]
    assert aggregated(workflow, FRAMES[2]) == [
        {
            "predicted_classes_count_distinct": 2,
            "predicted_classes_values_counts": {"cat": 2, "dog": 1},
            "number_of_predictions_min": 0,
            "number_of_predictions_max": 2,
            "number_of_predictions_sum": 3,
            "number_of_predictions_avg": 1.0,
        }
    ]
    # a new window: each element of a batch counts as a run
    assert aggregated(workflow, FRAMES[3]) == [NOTHING_YET]
    assert aggregated(workflow, FRAMES[0], FRAMES[1]) == [
        NOTHING_YET,
        {
            "predicted_classes_count_distinct": 3,
            "predicted_classes_values_counts": {"bird": 1, "cat": 4, "dog": 1},
            "number_of_predictions_min": 1,
            "number_of_predictions_max": 3,
            "number_of_predictions_sum": 6,
            "number_of_predictions_avg": 2.0,
        },
    ]
    assert aggregated(workflow, FRAMES[3]) == [NOTHING_YET]


def numbers_document(**step: Any) -> dict:
    return {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "classes"},
            {"type": "WorkflowBatchInput", "name": "n"},
        ],
        "steps": [
            {
                "type": "roboflow_core/data_aggregator@v1",
                "name": "agg",
                "data": {"classes": "$inputs.classes", "n": "$inputs.n"},
                **step,
            }
        ],
        "outputs": json_fields(r="$steps.agg.*"),
    }


def test_data_aggregator_modes_over_lists_and_numbers():
    every = ["sum", "avg", "max", "min", "count", "values_difference"]
    modes = {"classes": ["count_distinct", "values_counts", "count", "distinct"], "n": every}
    workflow = compile_(numbers_document(aggregation_mode=modes, interval=3, interval_unit="runs"))
    workflow.run(classes=[["cat", "dog"]], n=[3])
    workflow.run(classes=[["cat"]], n=[5])
    [row] = workflow.run(classes=[["cat", "cat", "bird"]], n=[1.5])
    result = row["r"]
    assert sorted(result.pop("classes_distinct")) == ["bird", "cat", "dog"]  # a set's order
    assert result == {
        "classes_count_distinct": 3,
        "classes_values_counts": {"cat": 4, "dog": 1, "bird": 1},
        "classes_count": 6,  # a list counts its items
        "n_sum": 9.5,
        "n_avg": pytest.approx(3.1666666666666665),
        "n_max": 5,
        "n_min": 1.5,
        "n_count": 3,
        "n_values_difference": 3.5,
    }


def test_data_aggregator_a_mode_named_twice_adds_twice_and_interval_one_gives_every_run():
    modes = {"classes": ["count"], "n": ["sum", "sum", "avg"]}
    workflow = compile_(numbers_document(aggregation_mode=modes, interval=1, interval_unit="runs"))
    rows = [workflow.run(classes=[c], n=[n])[0]["r"] for c, n in [(["a", "b"], 3), (["a"], 5)]]
    assert rows == [
        {"classes_count": 2, "n_sum": 6, "n_avg": 3.0},
        {"classes_count": 1, "n_sum": 10, "n_avg": 5.0},
    ]


def test_data_aggregator_counts_concurrent_runs_of_one_workflow_once_each():
    workflow = compile_(
        numbers_document(aggregation_mode={"n": ["sum", "count"]}, interval=4, interval_unit="runs")
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda n: workflow.run(classes=[[]], n=[n])[0]["r"], range(40)))
    closed = [row for row in rows if row["n_sum"] is not None]
    # every window holds 4 runs, and every run is in exactly one window
    assert [row["n_count"] for row in closed] == [4] * 10
    assert sum(row["n_sum"] for row in closed) == sum(range(40))


def test_data_aggregator_time_window_closes_at_the_first_run_after_it_has_passed():
    workflow = compile_(
        numbers_document(aggregation_mode={"n": ["sum", "max"]}, interval=2, interval_unit="hours")
    )
    assert workflow.run(classes=[[]], n=[4])[0]["r"] == {"n_sum": None, "n_max": None}
    assert workflow.run(classes=[[]], n=[6])[0]["r"] == {"n_sum": None, "n_max": None}
    # two hours later (the window's opening moved back, rather than waiting)
    workflow.plan.steps["agg"].block._opened -= 2 * 3600
    assert workflow.run(classes=[[]], n=[1])[0]["r"] == {"n_sum": 11, "n_max": 6}
    assert workflow.run(classes=[[]], n=[1])[0]["r"] == {"n_sum": None, "n_max": None}


def test_data_aggregator_outputs_and_fields_as_roboflow_declares_them():
    modes = {"predicted_classes": ["distinct", "values_counts"], "number_of_predictions": ["sum"]}
    step = compile_(aggregation_document(aggregation_mode=modes, interval=5)).plan.steps[
        "data_aggregation"
    ]
    assert step.manifest.interval_unit == "seconds"  # the default
    assert step.outputs == {
        "predicted_classes_distinct": frozenset({"list_of_values"}),
        "predicted_classes_values_counts": frozenset({"dictionary"}),
        "number_of_predictions_sum": frozenset({"float", "integer"}),
    }
    with pytest.raises(ManifestError, match="greater than 0"):
        compile_(aggregation_document(aggregation_mode={}, interval=0))
    with pytest.raises(ManifestError, match="aggregation_mode"):
        compile_(aggregation_document(aggregation_mode={"predicted_classes": ["mean"]}, interval=1))


# --- identify_changes and identify_outliers -------------------------------------------------


def colour_histogram(image: np.ndarray) -> list[float]:
    """A small embedding of an image: 4 bins per RGB channel, as fractions (6 decimals)."""
    shares = [np.histogram(image[:, :, c], bins=4, range=(0, 256))[0] / image[:, :, c].size
              for c in range(3)]  # fmt: skip
    return [round(float(x), 6) for x in np.concatenate(shares)]


def scene_embeddings() -> list[list[float]]:
    """Six views drifting over the astronaut, then coffee, the astronaut, a cat, the astronaut:
    the embeddings Roboflow's engine was given for the values below."""
    astronaut = data.astronaut()
    views = [astronaut[i * 20 : i * 20 + 300, i * 20 : i * 20 + 300] for i in range(6)]
    others = [data.coffee(), astronaut[100:400, 100:400], data.chelsea(), astronaut[50:350, 60:360]]
    return [colour_histogram(image) for image in views + others]


EMBEDDINGS = scene_embeddings()


def sampling_document(block: str, **step: Any) -> dict:
    return {
        "version": "1.4.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "e", "kind": ["embedding"]}],
        "steps": [
            {"type": f"roboflow_core/{block}@v1", "name": "s", "embedding": "$inputs.e", **step}
        ],
        "outputs": json_fields(r="$steps.s.*"),
    }


def one_by_one(workflow: Workflow, embeddings: list) -> list[dict]:
    return [workflow.run(e=[embedding])[0]["r"] for embedding in embeddings]


def column(rows: list[dict], name: str) -> list:
    return [row[name] for row in rows]


def test_identify_changes_by_exponential_moving_average():
    rows = one_by_one(compile_(sampling_document("identify_changes")), EMBEDDINGS)
    assert column(rows, "warming_up") == [True] * 3 + [False] * 7
    assert column(rows, "is_outlier") == [False] * 3 + [True] * 4 + [False, True, False]
    assert column(rows, "percentile") == pytest.approx(
        [0.5, 0.5, 0.9992172988709987, 0.9971481972823033, 0.9857117203678751,
         0.9622310223080313, 0.9934426894496707, 0.6864822246469409, 0.9981046054374183,
         0.329269832081978], abs=1e-12)  # fmt: skip
    assert column(rows, "z_score") == pytest.approx(
        [0.0, 0.0, -3.162277660168379, -2.764351543152491, -2.1892791166277,
         -1.777184095327246, -2.480641468927427, -0.4859035508455596, -2.8950659235549656,
         0.4419302718614793], abs=1e-12)  # fmt: skip
    assert len(rows[-1]["average"]) == len(rows[-1]["std"]) == 12
    assert rows[-1]["average"][:3] == pytest.approx(
        [0.1820536773109385, 0.14800886595638046, 0.30568799245784256], abs=1e-12
    )
    assert rows[-1]["std"][:3] == pytest.approx(
        [0.057297173031308296, 0.03222247344725718, 0.11085583058905057], abs=1e-12
    )


def test_identify_changes_by_simple_moving_average_and_sliding_window():
    simple = sampling_document(
        "identify_changes", strategy="Simple Moving Average (SMA)", warmup=2,
        threshold_percentile=0.3,
    )  # fmt: skip
    rows = one_by_one(compile_(simple), EMBEDDINGS)
    assert column(rows, "is_outlier") == [False, False, True, True, False, False, True,
                                          False, True, False]  # fmt: skip
    assert column(rows, "z_score") == pytest.approx(
        [0.0, 0.0, -1.1547005383792537, -1.1508298392684395, -0.8715602009406662,
         -0.8221761376111586, -2.1993551854464983, 0.2697314244194677, -2.4913009573860747,
         0.5116570350823573], abs=1e-12)  # fmt: skip
    assert rows[-1]["std"][:3] == pytest.approx(
        [0.05882734679790021, 0.03272254539675507, 0.13416622771946768], abs=1e-12
    )
    sliding = sampling_document(
        "identify_changes", strategy="Sliding Window", window_size=3, smoothing_factor=None
    )
    rows = one_by_one(compile_(sliding), EMBEDDINGS)
    assert column(rows, "is_outlier") == [False] * 5 + [True, True, False, True, False]
    assert column(rows, "percentile") == pytest.approx(
        [0.5, 0.5, 0.5, 0.8413447460685429, 0.7962659456012322, 0.08065683090702169,
         0.9212834167099073, 0.2484835502044963, 0.9014767504972514, 0.30362124400874946],
        abs=1e-12)  # fmt: skip
    assert rows[-1]["average"][:3] == pytest.approx(
        [0.12778332140139603, 0.13456333407291168, 0.33149227941020637], abs=1e-12
    )


def test_identify_changes_takes_the_elements_of_a_batch_in_turn_and_numpy_arrays():
    workflow = compile_(sampling_document("identify_changes", warmup=1))
    first = workflow.run(e=[np.array(e) for e in EMBEDDINGS[:3]])
    rows = [row["r"] for row in first + workflow.run(e=EMBEDDINGS[3:7])]
    assert column(rows, "warming_up") == [True] + [False] * 6
    assert column(rows, "is_outlier") == [False, False] + [True] * 5
    assert column(rows, "percentile")[2:] == pytest.approx(
        [0.9992172988709987, 0.9971481972823033, 0.9857117203678751, 0.9622310223080313,
         0.9934426894496707], abs=1e-12)  # fmt: skip


def test_identify_outliers_ranks_each_embedding_among_the_recent_ones():
    rows = one_by_one(compile_(sampling_document("identify_outliers")), EMBEDDINGS)
    assert column(rows, "warming_up") == [True, True] + [False] * 8
    assert column(rows, "is_outlier") == [False, False, True] + [False] * 5 + [True, False]
    assert column(rows, "percentile") == pytest.approx(
        [0.5, 0.5, 0.0, 0.5, 0.2, 1 / 6, 1 / 7, 0.25, 0.0, 0.8], abs=1e-12
    )
    windowed = sampling_document(
        "identify_outliers", window_size=4, warmup=2, threshold_percentile=0.3
    )
    rows = one_by_one(compile_(windowed), EMBEDDINGS)
    assert column(rows, "is_outlier") == [False, False, True, False, True, True, True, False,
                                          True, True]  # fmt: skip
    assert column(rows, "percentile") == [0.5, 0.5, 0.0, 0.5, 0.25, 0.25, 0.0, 0.5, 0.0, 1.0]


def test_identify_outliers_in_batches_and_each_workflow_with_its_own_history():
    document = sampling_document("identify_outliers", warmup=0)
    workflow = compile_(document)
    rows = [row["r"] for row in workflow.run(e=EMBEDDINGS[:3]) + workflow.run(e=EMBEDDINGS[3:7])]
    assert column(rows, "is_outlier") == [True, False, True, False, False, False, False]
    assert column(rows, "percentile") == pytest.approx(
        [0.0, 0.5, 0.0, 0.5, 0.2, 1 / 6, 1 / 7], abs=1e-12
    )
    # another compiled workflow starts with no history: as the first above
    assert compile_(document).run(e=[EMBEDDINGS[0]])[0]["r"]["percentile"] == 0.0


def test_sampling_fields_as_roboflow_declares_them():
    changes = compile_(sampling_document("identify_changes")).plan.steps["s"]
    assert changes.manifest.strategy == "Exponential Moving Average (EMA)"
    assert (changes.manifest.threshold_percentile, changes.manifest.warmup) == (0.2, 3)
    assert (changes.manifest.smoothing_factor, changes.manifest.window_size) == (0.1, 10)
    assert changes.outputs["average"] == frozenset({"embedding"})
    assert changes.outputs["percentile"] == frozenset({"float_zero_to_one"})
    outliers = compile_(sampling_document("identify_outliers")).plan.steps["s"]
    assert outliers.manifest.threshold_percentile == 0.05
    assert (outliers.manifest.warmup, outliers.manifest.window_size) == (3, 32)
    assert set(outliers.outputs) == {"is_outlier", "percentile", "warming_up"}
    with pytest.raises(ManifestError, match="strategy"):
        compile_(sampling_document("identify_changes", strategy="Median"))


def test_identify_outliers_without_a_window_keeps_all_history():
    # Roboflow documents ``window_size: null`` as "all history" (its block 1.8.3 fails on it):
    # with 10 embeddings, the same as a window larger than that
    unbounded = one_by_one(
        compile_(sampling_document("identify_outliers", window_size=None)), EMBEDDINGS
    )
    assert unbounded == one_by_one(compile_(sampling_document("identify_outliers")), EMBEDDINGS)


@pytest.mark.parametrize(
    "strategy",
    ["Exponential Moving Average (EMA)", "Simple Moving Average (SMA)", "Sliding Window"],
)
def test_identify_changes_after_an_all_zero_embedding_as_roboflow(strategy):
    # an all-zero embedding has no direction: its similarity is NaN. Roboflow's engine gave,
    # for each strategy, a first similarity with no spread (z 0, percentile 0.5), NaN after
    workflow = compile_(sampling_document("identify_changes", strategy=strategy))
    rows = one_by_one(workflow, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert column(rows, "z_score")[:2] == [0.0, 0.0]
    assert column(rows, "percentile")[:2] == [0.5, 0.5]
    assert np.isnan(rows[2]["z_score"]) and np.isnan(rows[2]["percentile"])


@pytest.mark.parametrize("block", ["identify_changes", "identify_outliers"])
def test_an_embedding_of_another_length_is_refused_and_leaves_the_history_as_it_was(block):
    # Roboflow's engine fails here too, but its identify_outliers keeps the odd embedding in
    # its window and so fails on every later run; here the step goes on as before
    workflow = compile_(sampling_document(block, warmup=1))
    mixed = compile_(sampling_document(block, warmup=1))
    expected = one_by_one(workflow, EMBEDDINGS[:4])
    one_by_one(mixed, EMBEDDINGS[:2])
    with pytest.raises(WorkflowError) as caught:
        mixed.run(e=[[1.0, 2.0]])
    assert "RuntimeInputError: field 'embedding': " in caught.value.message
    assert caught.value.hint  # the block's hint is the step error's
    assert "\n  hint: " not in caught.value.message
    assert one_by_one(mixed, EMBEDDINGS[2:4]) == expected[2:]
