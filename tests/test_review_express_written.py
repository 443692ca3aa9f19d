"""A hostile review of the express lane's written function (``engine/express.py``): seeded
random plans of plain steps (odd names, parameters and batch inputs of many kinds, empty
values, failing and wrong blocks, ``*`` outputs, parent coordinates) give on the express
lane exactly what the plain path and the general path give, results and errors; a
document's block sees its keywords by their exact names and in the general path's order;
long chains, first runs in many threads and ``max_concurrent_steps``."""

from __future__ import annotations

import copy
import datetime
import json
import random
import threading
from typing import Any, Literal

import numpy as np
import pytest
import supervision as sv

from test_engine_short_paths import general
from test_review_express import _VARYING
from test_roboflow_dynamic_blocks import document as dynamic_document
from test_roboflow_dynamic_blocks import dynamic_block, dynamic_input
from visionflow import Block, Output, Selector, Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.engine.express import _keyword
from visionflow.errors import WorkflowError
from visionflow.serialization import serialize


class Probe(Block):
    """Shows what it was given (its keywords in order); ``a`` picks a misbehaviour."""

    class Manifest(Block.Manifest):
        type: Literal["review/probe@v1"]
        a: Selector() | Any = None
        b: Selector() | Any = None
        c: Selector() | Any = None

    outputs = [Output("value"), Output("keys"), Output("n", kinds=["integer"])]

    def run(self, **given: Any) -> Any:
        a = given["a"]
        if a == "boom":
            raise ValueError("boom is not a value")
        if a == "list":
            return ["not", "a", "dict"]
        if a == "short":
            return {"value": 1}  # outputs missing
        shown = None if a == "nothing" else "+".join(_shown(given[k]) for k in ("a", "b", "c"))
        row = {"value": shown, "keys": list(given), "n": len(str(a))}
        if a == "extra":
            row["more"] = "kept"  # more than declared: taken as it is
        return row


def _shown(value: Any) -> str:
    if isinstance(value, WorkflowImage):
        return f"image{value.numpy.shape}"
    if type(value).__name__ == "Detections":
        return f"dets{len(value)}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_shown(v)}" for k, v in sorted(value.items())) + "}"
    return repr(_unordered(value))[:40]


FIELDS = ["a", "b", "c"]


def _unordered(value: Any) -> Any:
    """``value`` with each list of Probe's fields sorted: the general path (``gather``)
    passes a step's keywords in another order than ``_run_plain`` (which the express lane
    keeps to exactly: compared with ``ordered``)."""
    if isinstance(value, list) and sorted(value, key=repr) == FIELDS:
        return FIELDS
    if isinstance(value, list):
        return [_unordered(item) for item in value]
    if isinstance(value, dict):
        return {key: _unordered(item) for key, item in value.items()}
    return value


def _outcome(
    workflow: Workflow, given: dict[str, Any], express: bool = True, ordered: bool = True
) -> Any:
    """What a run gives, as text (results in their order), or its error's every field;
    ``express=False``: the executor's own path (plain steps, in order where it can);
    ``ordered=False``: the keywords each Probe was given compared as sets."""
    given = copy.deepcopy(given)  # each run its own values (detections, arrays)
    try:
        if express:
            found = workflow.run(given, serialize=True)
        else:
            found = serialize(workflow._executor.run(given))
    except WorkflowError as error:
        shown = (type(error).__name__, error.code, error.place, error.message, error.hint)
        cause = type(error.__cause__).__name__
        return ("error", _VARYING.sub("*", repr(shown)), getattr(error, "index", None), cause)
    except Exception as error:  # any other failure is compared too
        return ("crash", type(error).__name__, _VARYING.sub("*", str(error)))
    found = found if ordered else _unordered(found)
    return ("results", _VARYING.sub("*", json.dumps(found, default=repr)))


def _step_failure(outcome: Any) -> Any:
    """An outcome, a step's failure as the failure alone (not which step, nor where)."""
    if outcome[0] == "error" and "StepExecutionError" in outcome[1]:
        return "a step failed"
    return outcome


# --- seeded random plans ------------------------------------------------------------------

ODD_NAMES = [
    "given", "error", "MISSING", "v0", "v1", "g0", "a0_0", "run", "dict", "type", "None",
    "__builtins__", "B0", "N1", "L2", "it's", 'say "hi"', "back\\slash", "ünï", "日本",
    "with space", "ﬁ", "tab\there", "new\nline", "x" * 60, "Exception", "check_names",
]  # fmt: skip
PIXELS = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)


def _detections() -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([[1.0, 2.0, 5.0, 6.0]]),
        confidence=np.array([0.75]),
        class_id=np.array([2]),
        data={"class_name": np.array(["dot"])},
    )


DETECTIONS = {
    "image": {"width": 10, "height": 8},
    "predictions": [
        {"x": 3, "y": 4, "width": 2, "height": 2, "class": "dot", "class_id": 2,
         "confidence": 0.5, "detection_id": "d1", "parent_id": "p"},
    ],
}  # fmt: skip
_ABSENT = object()  # the input left out
# each input: its declaration and the values a run may give it
INPUTS = {
    "words": (
        {"type": "WorkflowBatchInput", "kind": ["string"]},
        ["cat", "nothing", "boom", "list", "short", "extra", None, ["cat", "nothing"],
         ("dog",), 3, "ünï'\"\\", _ABSENT],
    ),
    "anything": (
        {"type": "WorkflowBatchInput"},
        ["x", {"k": [1, 2]}, None, "boom", _ABSENT, ["a", None], _detections(),
         VideoMetadata("cam", 3, datetime.datetime(2026, 1, 2), 25.0, False)],
    ),
    "dets": (
        {"type": "WorkflowBatchInput", "kind": ["object_detection_prediction"]},
        [DETECTIONS, _detections(), None, "bad", _ABSENT, [DETECTIONS]],
    ),
    "image": (
        {"type": "WorkflowImage"},
        [PIXELS, None, np.stack([PIXELS, PIXELS]), _ABSENT, "not an image", PIXELS[:, :, 0]],
    ),
    "video": (
        {"type": "WorkflowVideoMetadata"},
        [VideoMetadata("cam", 3, datetime.datetime(2026, 1, 2), 25.0, False), None, "frame",
         {"video_identifier": "v", "frame_number": 1, "frame_timestamp": "2026-01-02T03:04:05"},
         _ABSENT],
    ),
    "pictures": (
        {"type": "WorkflowBatchInput", "kind": ["image"]},
        [PIXELS, None, "not an image", _ABSENT, [PIXELS, None]],
    ),
    "p": (
        {"type": "WorkflowParameter", "default_value": "P"},
        ["P", None, "boom", "nothing", "list", 7, _ABSENT],
    ),
    "q": (
        {"type": "WorkflowParameter", "kind": ["integer"]},
        [2, None, "x", 2.5, _ABSENT, True],
    ),
}  # fmt: skip
STEP_OUTPUTS = ["value", "keys", "n", "*"]


def _random_plan(rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    """A document of plain Probe steps and the names its inputs were given."""
    names = rng.sample(ODD_NAMES, len(ODD_NAMES))
    kept = [kind for kind in INPUTS if rng.random() < 0.6] or ["words"]
    renamed = {kind: names.pop() for kind in kept}
    inputs = [{**INPUTS[kind][0], "name": renamed[kind]} for kind in kept]
    steps: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 6)):
        step = {"type": "review/probe@v1", "name": names.pop()}
        for field in ("a", "b", "c"):
            pick = rng.random()
            if field != "a" and pick < 0.3:
                continue  # its default
            if pick < 0.45:
                step[field] = f"$inputs.{renamed[rng.choice(kept)]}"
            elif pick < 0.85 and steps:
                step[field] = f"$steps.{rng.choice(steps)['name']}.{rng.choice(STEP_OUTPUTS)}"
            else:
                step[field] = rng.choice(["lit", 5, None, "nothing", "boom", ["l"], {"k": 1}])
        steps.append(step)
    outputs = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.25:
            selector = f"$inputs.{renamed[rng.choice(kept)]}"
        else:
            selector = f"$steps.{rng.choice(steps)['name']}.{rng.choice(STEP_OUTPUTS)}"
        output = {"type": "JsonField", "name": names.pop(), "selector": selector}
        if rng.random() < 0.3:
            output["coordinates_system"] = "parent"
        outputs.append(output)
    found = {"version": "1.0", "inputs": inputs, "steps": steps, "outputs": outputs}
    if rng.random() < 0.5:
        found["settings"] = {"max_concurrent_steps": rng.choice([1, 2, 8])}
    return found, renamed


def _random_given(rng: random.Random, renamed: dict[str, str]) -> dict[str, Any]:
    given = {}
    for kind, name in renamed.items():
        values = INPUTS[kind][1]
        value = values[0] if rng.random() < 0.6 else rng.choice(values)  # mostly right
        if value is not _ABSENT:
            given[name] = value
    if rng.random() < 0.05:
        given["unknown"] = 1
    return given


def _compiled(document: dict[str, Any]) -> Workflow:
    return Workflow.compile(copy.deepcopy(document), blocks=[Probe], cache=False)


PLANS_TRIED = 240
RUNS_A_PLAN = 5


def test_random_plans_give_the_same_on_the_express_lane_the_plain_and_the_general_paths():
    rng = random.Random(18)
    covered = express_runs = 0
    for number in range(PLANS_TRIED):
        document, renamed = _random_plan(rng)
        express = _compiled(document)
        slow = general(_compiled(document))
        covered += express._express is not None
        for _ in range(RUNS_A_PLAN):
            given = _random_given(rng, renamed)
            # the plain path (one element: what the lane stands in for), exactly; a plan
            # off the lane runs steps at once both times: which of two failing steps fails
            # first is the threads' choice
            expected = _outcome(express, given, express=False)
            found = _outcome(express, given)
            if express._express is None:
                found, expected = _step_failure(found), _step_failure(expected)
            assert found == expected, (number, document, given)
            # the general path (gather, threads), but for the keywords' order and, where
            # independent steps fail, which of them fails first (its schedule's choice)
            unordered = _outcome(express, given, ordered=False)
            assert _step_failure(unordered) == _step_failure(
                _outcome(slow, given, ordered=False)
            ), (number, given)
            express_runs += express._express is not None and expected[0] != "crash"
        if express._express is not None:
            source = express._express.source  # written by a run (or now)
            assert "for " not in source and "while " not in source
    # the generator does reach the lane, with results and errors of every kind
    assert covered > PLANS_TRIED // 3 and express_runs > PLANS_TRIED


# --- a document's block: its keywords by their exact names, in the general path's order ----

KEYWORDS = "def run(self, **given):\n    return {'out': list(given)}\n"


def _keywords_document(fields: dict[str, Any]) -> dict[str, Any]:
    inputs = {
        name: dynamic_input(selector_types=["input_parameter"], value_types=["string"])
        for name in fields
    }
    block = dynamic_block("Keywords", inputs=inputs, outputs={"out": ["*"]}, run=KEYWORDS)
    return dynamic_document(
        block,
        steps=[{"type": "Keywords", "name": "kw", **fields}],
        outputs={"out": "$steps.kw.out"},
        inputs=[{"type": "WorkflowParameter", "name": "p", "default_value": "P"}],
    )


@pytest.mark.parametrize(
    ("fields", "order"),
    [
        # a literal then a selector, and the other way round: literals first on both paths
        ({"a": "literal", "b": "$inputs.p"}, ["a", "b"]),
        ({"b": "$inputs.p", "a": "literal"}, ["a", "b"]),
        ({"z": "$inputs.p", "y": "literal", "x": "$inputs.p"}, ["y", "z", "x"]),
        # names Python folds (NFKC) when written as keywords: passed by their exact names
        ({"\ufb01": "$inputs.p"}, ["\ufb01"]),
        ({"\ufb01": "$inputs.p", "fi": "$inputs.p"}, ["\ufb01", "fi"]),
        ({"\uff58": "literal", "x": "$inputs.p", "\u210c": "$inputs.p"}, ["\uff58", "x", "\u210c"]),
        ({"caf\u00e9": "$inputs.p", "match": "$inputs.p"}, ["caf\u00e9", "match"]),
    ],
)
def test_a_documents_block_gets_the_keywords_the_general_path_gives_it(fields, order):
    document = _keywords_document(fields)
    express = Workflow.compile(copy.deepcopy(document), cache=False, allow_custom_code=True)
    slow = general(Workflow.compile(copy.deepcopy(document), cache=False, allow_custom_code=True))
    assert express._express is not None
    assert express.run() == express._executor.run({}) == slow.run() == [{"out": order}]


@pytest.mark.parametrize(
    "name", ["x", "match", "type", "class", "None", "__debug__", "\ufb01", "caf\u00e9", "\u210c"]
)
def test_each_field_name_is_written_so_that_the_block_gets_it_exactly(name):
    written = compile(f"call({_keyword(name, 'value')})", "<test>", "eval")
    assert eval(written, {"call": lambda **given: given, "value": 1}) == {name: 1}


# --- long chains, odd names, first runs at once, steps at once --------------------------


def _chain(length: int) -> dict[str, Any]:
    steps = [{"type": "review/probe@v1", "name": "s0", "a": "$inputs.words", "b": "$inputs.p"}]
    steps += [
        {"type": "review/probe@v1", "name": f"s{i}", "a": f"$steps.s{i - 1}.n", "c": "$inputs.p"}
        for i in range(1, length)
    ]
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "words", "kind": ["string"]},
            {"type": "WorkflowParameter", "name": "p", "default_value": None},
        ],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": "last", "selector": f"$steps.s{length - 1}.*"},
            {"type": "JsonField", "name": "first", "selector": "$steps.s0.value"},
        ],
    }


def test_a_chain_of_300_steps_is_one_function_and_gives_what_the_other_paths_give():
    express = _compiled(_chain(300))
    slow = general(_compiled(_chain(300)))
    for given in ({"words": "cat"}, {"words": "cat", "p": "x"}, {"words": "nothing"}):
        expected = _outcome(express, given, express=False)
        assert _outcome(express, given) == expected
        assert _outcome(express, given, ordered=False) == _outcome(slow, given, ordered=False)
    assert express._express.source.count(".run(") == 300
    last = {"value": "1+None+None", "keys": ["b", "a", "c"], "n": 1}  # the literal b first
    assert express.run(words="cat")[0]["last"] == last
    with pytest.raises(WorkflowError) as caught:
        express.run(words="boom")
    assert (caught.value.step, caught.value.index) == ("s0", (0,))


def test_first_runs_in_many_threads_at_once_write_one_working_function_each():
    workflow = _compiled(_chain(40))
    expected = workflow._executor.run({"words": "cat"})
    start = threading.Barrier(8)
    found: list[Any] = []

    def first_run() -> None:
        start.wait()
        found.append(workflow.run(words="cat"))

    threads = [threading.Thread(target=first_run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [expected] * 8
    written = vars(workflow._express)["run"]
    assert written.__name__ == "run" and workflow.run(words="cat") == expected


def test_steps_allowed_at_once_keep_the_general_path_one_at_a_time_take_the_lane():
    steps = [
        {"type": "review/probe@v1", "name": "x", "a": "$inputs.words"},
        {"type": "review/probe@v1", "name": "y", "a": "$inputs.words", "b": "?"},
    ]
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "words", "kind": ["string"]}],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": "x", "selector": "$steps.x.*"},
            {"type": "JsonField", "name": "y", "selector": "$steps.y.value"},
        ],
    }
    threads = _compiled(document)
    one_at_a_time = _compiled({**document, "settings": {"max_concurrent_steps": 1}})
    assert threads._express is None and one_at_a_time._express is not None
    for words in ("cat", "nothing", None, "boom", ["cat", "dog"]):
        given = {"words": words}
        # both steps fail on "boom": which fails first is the threads' choice
        found = _step_failure(_outcome(one_at_a_time, given))
        assert found == _step_failure(_outcome(threads, given))
    with pytest.raises(WorkflowError) as caught:
        one_at_a_time.run(words="boom")
    assert (caught.value.step, caught.value.index) == ("x", (0,))  # the first in order


def test_no_steps_outputs_read_from_inputs_under_odd_names():
    names = ["given", "MISSING", "it's", 'say "hi"', "back\\slash", "\ufb01", "v0", "run"]
    document = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": names[0], "kind": ["*"]},
            {"type": "WorkflowParameter", "name": names[1], "default_value": None},
            {
                "type": "WorkflowBatchInput",
                "name": names[2],
                "kind": ["object_detection_prediction"],
            },
        ],
        "steps": [],
        "outputs": [
            {"type": "JsonField", "name": names[3], "selector": f"$inputs.{names[0]}"},
            {"type": "JsonField", "name": names[4], "selector": f"$inputs.{names[1]}"},
            {
                "type": "JsonField",
                "name": names[5],
                "selector": f"$inputs.{names[2]}",
                "coordinates_system": "parent",
            },
            {
                "type": "JsonField",
                "name": names[6],
                "selector": f"$inputs.{names[2]}",
                "coordinates_system": "own",
            },
            {
                "type": "JsonField",
                "name": names[7],
                "selector": f"$inputs.{names[0]}",
                "coordinates_system": "parent",
            },
        ],
    }
    express = _compiled(document)
    slow = general(_compiled(document))
    assert express._express is not None
    for given in (
        {names[0]: {"k": 1}, names[2]: DETECTIONS},
        {names[0]: _detections(), names[1]: "m", names[2]: _detections()},
        {names[0]: None, names[2]: None},
        {names[0]: "x", names[2]: "bad"},
        {names[0]: "x"},
    ):
        expected = _outcome(express, given, express=False)
        assert _outcome(express, given) == expected
        assert _outcome(express, given, ordered=False) == _outcome(slow, given, ordered=False)
    [found] = express.run({names[0]: "x", names[1]: 2, names[2]: None})
    assert list(found) == names[3:] and found[names[3]] == "x" and found[names[4]] == 2
