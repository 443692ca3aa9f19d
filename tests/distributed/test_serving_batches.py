"""How a ``serve --ray`` replica merges the requests ``@serve.batch`` hands it together
(``serving_batches``, no Ray): each request gets exactly what it would get alone."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.data.image import load_image
from visionflow.distributed.serving_batches import Failure, Job, run_jobs
from visionflow.errors import WorkflowError
from visionflow.server.state import document_key

# The size of the batch its run was given, each image's width, and the parameter ``tag``;
# an image 13 pixels wide fails its step.
BATCH_SIZE = {
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowParameter", "name": "tag"},
    ],
    "dynamic_blocks_definitions": [
        {
            "type": "DynamicBlockDefinition",
            "manifest": {
                "type": "ManifestDescription",
                "block_type": "BatchSize",
                "inputs": {
                    "image": {
                        "type": "DynamicInputDefinition",
                        "selector_types": ["input_image"],
                    }
                },
                "outputs": {
                    "size": {"type": "DynamicOutputDefinition", "kind": ["integer"]},
                    "width": {"type": "DynamicOutputDefinition", "kind": ["integer"]},
                },
                "accepts_batch_input": True,
            },
            "code": {
                "type": "PythonCode",
                "run_function_code": (
                    "def run(self, image):\n"
                    "    widths = [int(i.numpy_image.shape[1]) for i in image]\n"
                    "    if 13 in widths:\n"
                    "        raise ValueError('13 pixels wide')\n"
                    "    return [{'size': len(image), 'width': w} for w in widths]\n"
                ),
            },
        }
    ],
    "steps": [{"type": "BatchSize", "name": "b", "image": "$inputs.image"}],
    "outputs": [
        {"type": "JsonField", "name": "size", "selector": "$steps.b.size"},
        {"type": "JsonField", "name": "width", "selector": "$steps.b.width"},
        {"type": "JsonField", "name": "tag", "selector": "$inputs.tag"},
    ],
}
WORKFLOW = Workflow.compile(BATCH_SIZE)
KEY = document_key(BATCH_SIZE, None)


def images(*widths: int) -> list:
    return [load_image(np.zeros((4, width, 3), np.uint8)) for width in widths]


def job(widths: tuple[int, ...], tag) -> Job:
    return Job(KEY, BATCH_SIZE, None, {"image": images(*widths), "tag": tag})


def outcomes(*jobs: Job) -> list:
    return run_jobs(list(jobs), lambda _: WORKFLOW)


def alone(given: Job) -> list:
    return WORKFLOW.run(given.inputs, serialize=True)


def test_requests_with_the_same_parameters_run_once_and_get_their_own_elements():
    got = outcomes(job((5, 6), "t"), job((7,), "t"), job((8, 9, 10), "t"))
    assert got == [
        ([{"size": 6, "width": 5, "tag": "t"}, {"size": 6, "width": 6, "tag": "t"}], None),
        ([{"size": 6, "width": 7, "tag": "t"}], None),
        ([{"size": 6, "width": w, "tag": "t"} for w in (8, 9, 10)], None),
    ]


def test_parameters_equal_in_python_but_not_in_json_run_apart():
    # 1 == 1.0 == True: merged, the last two would be answered with the first one's tag
    jobs = [job((5,), 1), job((6,), 1.0), job((7,), True)]
    got = outcomes(*jobs)
    assert got == [(alone(given), None) for given in jobs]
    assert [outputs[0]["tag"] for outputs, _ in got] == [1, 1.0, True]
    assert [type(outputs[0]["tag"]) for outputs, _ in got] == [int, float, bool]


def test_an_empty_batch_fails_as_it_does_alone_beside_requests_that_merge():
    empty = job((), "t")
    (none, failure), *others = outcomes(empty, job((5,), "t"), job((6,), "t"))
    assert none is None and isinstance(failure.error(), WorkflowError)
    assert failure.error().to_dict() == {
        "code": "invalid_runtime_input",
        "place": "inputs 'image'",
        "message": "input 'image' is an empty batch",
        "hint": None,
    }
    assert others == [([{"size": 2, "width": w, "tag": "t"}], None) for w in (5, 6)]


def test_a_failing_image_fails_its_request_alone_with_the_error_it_gets_alone():
    failing = job((13,), "t")
    got = outcomes(job((5,), "t"), failing, job((6,), "t"))
    assert got[0] == ([{"size": 1, "width": 5, "tag": "t"}], None)
    assert got[2] == ([{"size": 1, "width": 6, "tag": "t"}], None)
    with pytest.raises(WorkflowError) as raised:
        alone(failing)
    expected = raised.value
    error = pickle.loads(pickle.dumps(got[1][1])).error()  # as it crosses to the ingress
    assert type(error) is type(expected)
    assert (str(error), error.to_dict()) == (str(expected), expected.to_dict())
    assert (error.step, error.block_type, error.index) == ("b", "BatchSize", None)
    assert type(error.cause) is ValueError and str(error.cause) == str(expected.cause)
    assert str(error.cause).startswith("13 pixels wide (dynamic block 'BatchSize'")


def test_a_workflow_of_parameters_only_runs_each_request_alone():
    echo = {
        "inputs": [{"type": "parameter", "name": "x"}],
        "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.x"}],
    }
    compiled = Workflow.compile(echo)
    jobs = [Job(document_key(echo, None), echo, None, {"x": x}) for x in (1, 2)]
    assert run_jobs(jobs, lambda _: compiled) == [([{"x": 1}], None), ([{"x": 2}], None)]


def test_an_error_that_is_no_workflow_error_crosses_as_itself():
    failure = pickle.loads(pickle.dumps(Failure.of(KeyError("gone"))))
    assert repr(failure.error()) == "KeyError('gone')"
