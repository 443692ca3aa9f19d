"""Roboflow's blocks that need a hosted service or a foundation model no package ships
fail at compile time with "unknown block type" and a hint saying why."""

from __future__ import annotations

import pytest

from visionflow import Workflow
from visionflow.errors import UnknownBlockTypeError


def one_step(block_type: str) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": block_type, "name": "ask", "images": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.ask.*"}],
    }


@pytest.mark.parametrize(
    ("block_type", "said"),
    [
        ("roboflow_core/open_ai@v4", "calls OpenAI's hosted API"),
        ("roboflow_core/anthropic_claude@v2", "calls Anthropic's hosted API"),
        ("LMM", "calls a hosted language model"),
        ("roboflow_core/florence_2@v2", "runs a large foundation model (Florence-2)"),
        ("roboflow_core/sam3@v1", "Segment Anything 3"),
        ("roboflow_core/onvif_sink@v1", "sends results to an ONVIF camera"),
        ("RoboflowCustomMetadata", "sends results to Roboflow's platform"),
    ],
)
def test_a_block_that_cannot_run_here_says_why(block_type, said):
    with pytest.raises(UnknownBlockTypeError) as caught:
        Workflow.compile(one_step(block_type))
    assert caught.value.message == f"unknown block type '{block_type}'"
    assert caught.value.place == "steps[0] 'ask'"
    assert caught.value.hint.startswith(f"{block_type} is Roboflow's block that ")
    assert said in caught.value.hint


def test_other_unknown_types_keep_their_suggestions():
    with pytest.raises(UnknownBlockTypeError) as caught:
        Workflow.compile(one_step("roboflow_core/continue_iff@v1"))
    assert "did you mean" in caught.value.hint
    with pytest.raises(UnknownBlockTypeError) as caught:
        Workflow.compile(one_step("OpenAIish"))  # a short name matches exactly only
    assert "is Roboflow's block" not in (caught.value.hint or "")
