"""Roboflow's sinks (issue 12): roboflow_core/local_file_sink@v1 writing real files in
temporary directories. The file contents and results expected here are those Roboflow's
engine (inference-core 1.8.3) wrote for the same definitions and inputs; file names carry
the time, so they are checked for their form."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.blocks.roboflow.flow import _differs
from visionflow.blocks.roboflow.sinks import _create
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import (
    FileWriteNotAllowedError,
    ManifestError,
    RuntimeInputError,
    StepExecutionError,
)

SAVED = {"error_status": False, "message": "Data saved successfully"}
STAMP = r"\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d_\d{6}"


def sink_document(**fields: Any) -> dict:
    """A sink fed by a batch of texts ``content``; its folder is the parameter ``target``."""
    return {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "content", "kind": ["string"]},
            {"type": "WorkflowParameter", "name": "target", "kind": ["string"]},
        ],
        "steps": [
            {
                "type": "roboflow_core/local_file_sink@v1",
                "name": "sink",
                "content": "$inputs.content",
                "target_directory": "$inputs.target",
                **fields,
            }
        ],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.sink.*"}],
    }


def compile_(document: dict, **options: Any) -> Workflow:
    # not from the cache: a step's append log lives as long as its compiled workflow, and
    # the same document compiled again (cached) would go on with another test's log
    return Workflow.compile(document, cache=False, **options)


def files(directory: Path) -> list[tuple[str, str]]:
    """(name with the time stamp as TS, content) of every file under ``directory``, in
    the order they were named (the stamps sort as time)."""
    found = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    return [(re.sub(STAMP, "TS", name), (directory / name).read_text()) for name in found]


def run_each(workflow: Workflow, directory: Path, *contents: str | list[str]) -> list:
    """One run per item (a text: a batch of one), results of each run."""
    return [
        [
            row["o"]
            for row in workflow.run(
                content=c if isinstance(c, list) else [c], target=str(directory)
            )
        ]
        for c in contents
    ]


# --- what is written (as Roboflow's engine wrote it) ----------------------------------------


def test_separate_files_one_file_per_element_as_given(tmp_path):
    workflow = compile_(sink_document(output_mode="separate_files"))  # csv by default
    assert run_each(workflow, tmp_path, "a,b\n1,2\n", "a,b\n3,4") == [[SAVED], [SAVED]]
    assert files(tmp_path) == [
        ("workflow_output_TS.csv", "a,b\n1,2\n"),
        ("workflow_output_TS.csv", "a,b\n3,4\n"),  # a newline added at the end
    ]
    name = sorted(os.listdir(tmp_path))[0]
    assert re.fullmatch(rf"workflow_output_{STAMP}\.csv", name)


def test_separate_json_files_are_not_checked_or_rewritten(tmp_path):
    workflow = compile_(
        sink_document(output_mode="separate_files", file_type="json", file_name_prefix="x")
    )
    assert run_each(workflow, tmp_path, '{"a": 1,   "b": [1,2]}', "not json") == [[SAVED]] * 2
    assert files(tmp_path) == [
        ("x_TS.json", '{"a": 1,   "b": [1,2]}\n'),
        ("x_TS.json", "not json\n"),
    ]


def test_a_prefix_may_name_sub_folders_which_are_made(tmp_path):
    workflow = compile_(
        sink_document(output_mode="separate_files", file_type="txt", file_name_prefix="sub/dir/p")
    )
    assert run_each(workflow, tmp_path, ["one", "two\n", ""]) == [[SAVED, SAVED, SAVED]]
    assert files(tmp_path) == [
        ("sub/dir/p_TS.txt", "one\n"),
        ("sub/dir/p_TS.txt", "two\n"),
        ("sub/dir/p_TS.txt", "\n"),
    ]


def test_append_log_csv_drops_later_headers_and_starts_a_new_file_when_full(tmp_path):
    workflow = compile_(
        sink_document(output_mode="append_log", file_type="csv", max_entries_per_file=2)
    )
    results = run_each(
        workflow, tmp_path, "a,b\n1,2\n", "a,b\n3,4\n", "a,b\n5,6", "a,b\n7,8\n9,10\n", "a,b"
    )
    assert results == [[SAVED]] * 5
    assert files(tmp_path) == [
        ("workflow_output_TS.csv", "a,b\n1,2\n3,4\n"),
        ("workflow_output_TS.csv", "a,b\n5,6\n7,8\n9,10\n"),  # a new file keeps the header
        ("workflow_output_TS.csv", "a,b\n"),
    ]


def test_append_log_counts_the_elements_of_a_batch_and_of_later_runs(tmp_path):
    workflow = compile_(sink_document(output_mode="append_log", max_entries_per_file=2))
    assert run_each(workflow, tmp_path, ["h\n1", "h\n2", "h\n3"], "h\n4") == [[SAVED] * 3, [SAVED]]
    assert files(tmp_path) == [
        ("workflow_output_TS.csv", "h\n1\n2\n"),
        ("workflow_output_TS.csv", "h\n3\n4\n"),
    ]


def test_append_log_json_is_written_one_document_a_line(tmp_path):
    workflow = compile_(
        sink_document(output_mode="append_log", file_type="json", max_entries_per_file=3)
    )
    results = run_each(
        workflow,
        tmp_path,
        '{"a": 1,\n "b": [1,2], "c": "\u00e9"}',
        "not json",
        "[1, 2]",
        '"s"',
        "{}",
    )
    invalid = {"error_status": True, "message": "Invalid JSON content"}
    assert results == [[SAVED], [invalid], [SAVED], [SAVED], [SAVED]]
    assert files(tmp_path) == [
        ("workflow_output_TS.jsonl", '{"a": 1, "b": [1, 2], "c": "\\u00e9"}\n[1, 2]\n"s"\n'),
        ("workflow_output_TS.jsonl", "{}\n"),  # the invalid entry was not counted
    ]


def test_append_log_txt(tmp_path):
    workflow = compile_(sink_document(output_mode="append_log", file_type="txt"))
    results = run_each(workflow, tmp_path, "line one", "line two\n", "", "x\ny")
    assert results == [[SAVED]] * 4
    assert files(tmp_path) == [("workflow_output_TS.txt", "line one\nline two\n\nx\ny\n")]


def test_a_folder_that_cannot_be_written_is_an_error_status_not_a_failed_run(tmp_path):
    blocked = tmp_path / "a_file"
    blocked.write_text("x")  # a file where the folder should be
    separate = compile_(sink_document(output_mode="separate_files"))
    [[result]] = run_each(separate, blocked, "a")
    # the error's text, as Roboflow's block gives it (the same call fails there)
    assert result == {"error_status": True, "message": f"[Errno 17] File exists: '{blocked}'"}
    append = compile_(sink_document(output_mode="append_log"))
    assert run_each(append, blocked, "a") == [
        [{"error_status": True, "message": "Could not create new sink file"}]
    ]
    assert blocked.read_text() == "x"


def test_never_overwrites_a_file_of_the_same_name(tmp_path):
    taken, free = tmp_path / "taken.txt", tmp_path / "free.txt"
    taken.write_text("kept\n")
    names = iter([str(taken), str(free)])  # two names, as two clock readings would give
    assert _create(lambda: next(names), "new\n") == str(free)
    assert (taken.read_text(), free.read_text()) == ("kept\n", "new\n")


def test_max_entries_per_file_at_least_one():
    with pytest.raises(ManifestError, match="max_entries_per_file must be at least 1"):
        compile_(sink_document(output_mode="append_log", max_entries_per_file=0))


# --- refused: untrusted documents, switches, paths out of the target ------------------------


def test_refused_for_untrusted_documents():
    with pytest.raises(FileWriteNotAllowedError) as caught:
        compile_(sink_document(output_mode="append_log"), allow_custom_code=False)
    assert caught.value.code == "file_write_not_allowed"
    assert caught.value.place == "steps[0] 'sink'"
    assert "allow_custom_code is off" in caught.value.message
    from visionflow.server.errors import error_body, status_of

    assert status_of(caught.value) == 403  # a server refuses it as it refuses custom code
    assert "--allow-custom-code" in error_body(caught.value)["error"]["hint"]


def test_refused_where_roboflow_switch_is_off(tmp_path, monkeypatch):
    compiled = compile_(sink_document(output_mode="append_log", file_name_prefix="a"))
    monkeypatch.setenv("ALLOW_WORKFLOW_BLOCKS_ACCESSING_LOCAL_STORAGE", "False")
    with pytest.raises(FileWriteNotAllowedError, match="is False here"):
        compile_(sink_document(output_mode="append_log", file_name_prefix="b"))
    with pytest.raises(StepExecutionError, match="is False here"):
        run_each(compiled, tmp_path, "a")  # compiled before the switch went off
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ("../escape", "leads out of target_directory"),
        ("a/../../b", "leads out"),
        ("/tmp/x", "absolute"),
    ],
)
def test_a_prefix_leading_out_of_the_folder_is_refused(prefix, why):
    with pytest.raises(ManifestError, match=why) as caught:
        compile_(sink_document(output_mode="separate_files", file_name_prefix=prefix))
    assert caught.value.place == "steps[0] 'sink' field 'file_name_prefix'"


def test_a_prefix_given_when_run_is_checked_too(tmp_path):
    document = sink_document(output_mode="separate_files", file_name_prefix="$inputs.prefix")
    document["inputs"].append({"type": "WorkflowParameter", "name": "prefix", "kind": ["string"]})
    workflow = compile_(document)
    inner = tmp_path / "inner"
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(content=["a"], target=str(inner), prefix="../out")
    assert isinstance(caught.value.cause, FileWriteNotAllowedError)
    assert "leads out of target_directory" in caught.value.message
    assert files(tmp_path) == []
    assert workflow.run(content=["a"], target=str(inner), prefix="ok")[0]["o"] == SAVED
    assert files(tmp_path) == [("inner/ok_TS.csv", "a\n")]


def test_a_linked_sub_folder_leading_out_is_refused(tmp_path):
    outside, target = tmp_path / "outside", tmp_path / "target"
    outside.mkdir()
    target.mkdir()
    (target / "link").symlink_to(outside, target_is_directory=True)
    workflow = compile_(sink_document(output_mode="separate_files", file_name_prefix="link/f"))
    with pytest.raises(StepExecutionError, match="is not inside target_directory") as caught:
        run_each(workflow, target, "a")
    assert isinstance(caught.value.cause, FileWriteNotAllowedError)
    assert list(outside.iterdir()) == []


def test_roboflow_write_directory_restricts_the_target(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    monkeypatch.setenv("WORKFLOW_BLOCKS_WRITE_DIRECTORY", str(allowed))
    document = sink_document(output_mode="separate_files")
    document["steps"][0]["target_directory"] = str(tmp_path / "elsewhere")
    with pytest.raises(FileWriteNotAllowedError, match="is not inside") as caught:
        compile_(document)
    assert caught.value.place == "steps[0] 'sink' field 'target_directory'"
    workflow = compile_(sink_document(output_mode="separate_files"))
    with pytest.raises(StepExecutionError, match="WORKFLOW_BLOCKS_WRITE_DIRECTORY"):
        run_each(workflow, tmp_path / "allowed_not", "a")  # a name that only starts the same
    assert run_each(workflow, allowed / "sub", "a") == [[SAVED]]
    assert files(tmp_path) == [("allowed/sub/workflow_output_TS.csv", "a\n")]


# --- rate_limiter and delta_filter: state kept by the step across runs ----------------------
# (expected values: what Roboflow's engine gave for the same definitions and runs)


def gated_document(step: dict) -> dict:
    """``step`` gating a step that passes the batch ``value`` on (None where not run)."""
    return {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "value"},
        ],
        "steps": [
            {"name": "gate", "next_steps": ["$steps.p"], **step},
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "p",
                "data": "$inputs.value",
                "operations": [],
            },
        ],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.p.output"}],
    }


def gated_runs(step: dict, *values: list) -> list[list]:
    """One run per list of values, each on as many images; what each run let through."""
    workflow = compile_(gated_document(step))
    image = np.zeros((8, 8, 3), np.uint8)
    return [
        [row["o"] for row in workflow.run(image=[image] * len(batch), value=batch)]
        for batch in values
    ]


RATE = {"type": "roboflow_core/rate_limiter@v1", "depends_on": "$inputs.image"}
DELTA = {
    "type": "roboflow_core/delta_filter@v1",
    "image": "$inputs.image",
    "value": "$inputs.value",
}


def test_rate_limiter_lets_the_branch_run_once_per_cooldown():
    limited = gated_runs({**RATE, "cooldown_seconds": 1000}, [1], [2], [3, 3])
    assert limited == [[1], [None], [None, None]]
    # within one batch too: the first element runs, the next comes too soon
    assert gated_runs({**RATE, "cooldown_seconds": 1000}, [1, 2]) == [[1, None]]
    assert gated_runs({**RATE, "cooldown_seconds": 0}, [1], [2], [3, 3]) == [[1], [2], [3, 3]]


def test_rate_limiter_counts_video_time_of_the_reference_image():
    # a still image is frame 0 of its own video: always the same time, as in Roboflow
    step = {**RATE, "cooldown_seconds": 0.001, "video_reference_image": "$inputs.image"}
    assert gated_runs(step, [1], [2]) == [[1], [None]]


def video_frame(video: str, number: int) -> WorkflowImage:
    meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 10.0, True)
    return WorkflowImage(np.zeros((8, 8, 3), np.uint8), video=meta)


def test_rate_limiter_and_delta_filter_keep_state_per_video():
    step = {**RATE, "cooldown_seconds": 1, "video_reference_image": "$inputs.image"}
    limiter, delta = compile_(gated_document(step)), compile_(gated_document(DELTA))
    # (video, frame number at 10 fps, value): each video has its own cooldown and last value
    runs = [("a", 0, 1), ("b", 50, 1), ("a", 5, 1), ("b", 55, 2), ("a", 10, 1), ("b", 60, 2)]
    passed = [
        [workflow.run(image=video_frame(v, n), value=[x])[0]["o"] for v, n, x in runs]
        for workflow in (limiter, delta)
    ]
    assert passed == [[1, 1, None, None, 1, 2], [1, 1, None, 2, None, None]]
    assert limiter.end_video("a") and delta.end_video("a")  # video a starts anew
    assert [w.run(image=video_frame("a", 11), value=[1])[0]["o"] for w in (limiter, delta)] == [
        1,
        1,
    ]


def test_rate_limiter_fields_as_roboflow_declares_them():
    with pytest.raises(ManifestError, match="greater than or equal to 0"):
        compile_(gated_document({**RATE, "cooldown_seconds": -1}))
    step = compile_(gated_document(RATE)).plan.steps["gate"]
    assert step.manifest.cooldown_seconds == 1.0  # the default


def test_delta_filter_runs_the_branch_when_the_value_changes():
    assert gated_runs(DELTA, [1], [1], [2], [2], [1]) == [[1], [None], [2], [None], [1]]
    # each image of a batch is a stream of its own (its place in the batch)
    assert gated_runs(DELTA, [1, 1], [1, 1], [2, 1]) == [[1, 1], [None, None], [2, None]]


def test_delta_filter_compares_values_without_a_single_truth_value():
    assert gated_runs(DELTA, [[1, 2]], [[1, 2]], [[1, 3]]) == [[[1, 2]], [None], [[1, 3]]]


def test_delta_filter_writes_a_count_to_a_file_only_when_it_changes(tmp_path):
    document = sink_document(output_mode="append_log", file_type="txt")
    document["inputs"].append({"type": "WorkflowImage", "name": "image"})
    gate = {**DELTA, "name": "gate", "value": "$inputs.content", "next_steps": ["$steps.sink"]}
    document["steps"].insert(0, gate)
    workflow = compile_(document)
    image = np.zeros((8, 8, 3), np.uint8)
    for text in ["3", "3", "4", "4", "3"]:
        workflow.run(image=[image], content=[text], target=str(tmp_path))
    assert files(tmp_path) == [("workflow_output_TS.txt", "3\n4\n3\n")]


def test_values_without_a_single_truth_value_are_compared_whole():
    assert _differs(np.array([1, 2]), np.array([1, 2])) is False
    assert _differs(np.array([1, 2]), np.array([1, 3])) is True
    assert _differs(np.array([1, 2]), np.array([1, 2, 3])) is True


def test_max_entries_per_file_given_when_run(tmp_path):
    document = sink_document(output_mode="append_log", max_entries_per_file="$inputs.limit")
    document["inputs"].append({"type": "WorkflowParameter", "name": "limit"})
    workflow = compile_(document)
    for text in ["h\n1", "h\n2", "h\n3"]:
        workflow.run(content=[text], target=str(tmp_path), limit="2")  # Roboflow's kind: text
    assert files(tmp_path) == [
        ("workflow_output_TS.csv", "h\n1\n2\n"),
        ("workflow_output_TS.csv", "h\n3\n"),
    ]
    with pytest.raises(StepExecutionError, match="max_entries_per_file is 0") as caught:
        workflow.run(content=["h\n4"], target=str(tmp_path), limit=0)
    assert isinstance(caught.value.cause, RuntimeInputError)


def test_json_nested_too_deep_is_invalid_json_content(tmp_path):
    workflow = compile_(sink_document(output_mode="append_log", file_type="json"))
    deep = "[" * 100_000 + "]" * 100_000
    invalid = {"error_status": True, "message": "Invalid JSON content"}
    assert run_each(workflow, tmp_path, deep, "[1]") == [[invalid], [SAVED]]
    assert files(tmp_path) == [("workflow_output_TS.jsonl", "[1]\n")]


def test_gives_up_naming_a_file_when_every_name_is_taken(tmp_path):
    taken = tmp_path / "taken.txt"
    taken.write_text("kept\n")
    with pytest.raises(FileExistsError, match="no free file name after 1000 tries"):
        _create(lambda: str(taken), "new\n")
    assert taken.read_text() == "kept\n"


def test_delta_filter_value_from_a_parameter_is_each_image_s_value():
    document = gated_document({**DELTA, "value": "$inputs.v"})
    document["inputs"].append({"type": "WorkflowParameter", "name": "v"})
    workflow = compile_(document)
    image = np.zeros((8, 8, 3), np.uint8)
    passed = [
        [row["o"] for row in workflow.run(image=[image, image], value=["a", "b"], v=v)]
        for v in (1, 1, 2)
    ]
    assert passed == [["a", "b"], [None, None], ["a", "b"]]
