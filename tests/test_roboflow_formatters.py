"""Roboflow's formatter blocks (blocks/roboflow/formatters.py): csv_formatter, json_parser,
current_time, string_template and environment_secrets_store, written as Roboflow writes them.

Expected values are what Roboflow's own engine (inference-core 1.8.3) gave for the same
definitions and inputs, run beside these tests on 2026-12-07; only the timestamps differ
from run to run, so they are checked for their form and range instead.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.blocks.roboflow.formatters import SecretValue
from visionflow.errors import (
    EnvironmentAccessNotAllowedError,
    ExpressionError,
    KindMismatchError,
    ManifestError,
    RuntimeInputError,
    StepExecutionError,
)


def definition(*steps: dict, outputs: dict[str, str], inputs: list[dict] | None = None) -> dict:
    return {
        "version": "1.4.0",
        "inputs": inputs or [],
        "steps": list(steps),
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def parameters(*names: str) -> list[dict]:
    return [{"type": "WorkflowParameter", "name": name} for name in names]


def run(document: dict, **values: Any) -> list[dict]:
    return Workflow.compile(document).run(**values)


def bgr(image):
    return image[:, :, ::-1]


# --- csv_formatter --------------------------------------------------------------------------


def csv_step(columns_data: dict, columns_operations: dict | None = None) -> dict:
    step = {"type": "roboflow_core/csv_formatter@v1", "name": "c", "columns_data": columns_data}
    if columns_operations is not None:
        step["columns_operations"] = columns_operations
    return step


def without_timestamps(text: str, before: datetime) -> str:
    """The CSV text with each row's timestamp (checked: ISO, UTC, made during the run)
    replaced by ``TS``."""
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][-1] == "timestamp"
    after = datetime.now(UTC)
    for row in rows[1:]:
        stamp = datetime.fromisoformat(row[-1])
        assert stamp.utcoffset().total_seconds() == 0 and before <= stamp <= after
        assert row[-1].endswith("+00:00")
    header, *lines = text.splitlines()
    return "\n".join([header, *(line.rsplit(",", 1)[0] + ",TS" for line in lines)]) + "\n"


def test_csv_formatter_writes_one_row_of_parameters_and_literals():
    document = definition(
        csv_step(
            {
                "text": "$inputs.x",
                "num": 3,
                "flt": 0.1,
                "flag": True,
                "formula": "=SUM(A1)",
                "neg": "-1",
                "comma": 'a,b "q"',
                "lst": "$inputs.y",
            },
            {"text": [{"type": "StringToUpperCase"}]},
        ),
        inputs=parameters("x", "y"),
        outputs={"csv": "$steps.c.csv_content"},
    )
    before = datetime.now(UTC)
    [result] = run(document, x="hello", y=[1, "a", None])
    # Roboflow's engine: texts that a spreadsheet would run get a leading quote
    assert without_timestamps(result["csv"], before) == (
        "text,num,flt,flag,formula,neg,comma,lst,timestamp\n"
        'HELLO,3,0.1,True,\'=SUM(A1),\'-1,"a,b ""q""","[1, \'a\', None]",TS\n'
    )


def test_csv_formatter_gathers_a_batch_into_the_last_element():
    document = definition(
        csv_step(
            {"width": "$inputs.image", "tag": "$inputs.tag"},
            {"width": [{"type": "ExtractImageProperty", "property_name": "width"}]},
        ),
        inputs=[{"type": "WorkflowImage", "name": "image"}, *parameters("tag")],
        outputs={"csv": "$steps.c.csv_content"},
    )
    images = [bgr(data.astronaut()), bgr(data.coffee()), bgr(data.chelsea())]
    before = datetime.now(UTC)
    results = run(document, image=images, tag="+tag")
    # Roboflow's engine: None in every element but the last, which holds every row
    assert [r["csv"] for r in results[:2]] == [None, None]
    assert without_timestamps(results[2]["csv"], before) == (
        "width,tag,timestamp\n512,'+tag,TS\n600,'+tag,TS\n451,'+tag,TS\n"
    )


def detections(boxes: list[list[float]], classes: list[str], confidences: list[float]):
    names = sorted(set(classes))
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array(confidences, dtype=float),
        class_id=np.array([names.index(c) for c in classes], dtype=int),
        data={"class_name": np.array(classes, dtype=object)},
    )


def test_csv_formatter_extracts_detection_properties_per_image():
    # the definition of Roboflow's block documentation, on detections given as inputs
    document = definition(
        csv_step(
            {
                "predicted_classes": "$inputs.predictions",
                "number_of_bounding_boxes": "$inputs.predictions",
                "confs": "$inputs.predictions",
                "additional_column": "$inputs.extra",
            },
            {
                "predicted_classes": [
                    {"type": "DetectionsPropertyExtract", "property_name": "class_name"}
                ],
                "number_of_bounding_boxes": [{"type": "SequenceLength"}],
                "confs": [{"type": "DetectionsPropertyExtract", "property_name": "confidence"}],
            },
        ),
        inputs=[
            {
                "type": "WorkflowBatchInput",
                "name": "predictions",
                "kind": ["object_detection_prediction"],
            },
            *parameters("extra"),
        ],
        outputs={"csv": "$steps.c.csv_content"},
    )
    two = detections([[10, 20, 110, 220], [200, 200, 300, 260]], ["cat", "dog"], [0.9, 0.7])
    none = detections([], [], [])
    before = datetime.now(UTC)
    results = run(document, predictions=[two, none], extra=1.5)
    # Roboflow's engine gave these rows (its columns in a set's order)
    assert results[0] == {"csv": None}
    assert without_timestamps(results[1]["csv"], before) == (
        "predicted_classes,number_of_bounding_boxes,confs,additional_column,timestamp\n"
        "\"['cat', 'dog']\",2,\"[0.9, 0.7]\",1.5,TS\n"
        "[],0,[],1.5,TS\n"
    )


def test_csv_formatter_writes_a_column_of_numbers_as_floats_when_any_is_a_float():
    document = definition(
        csv_step({"v": "$inputs.v", "w": "$inputs.w", "k": -2}),
        inputs=[
            {"type": "WorkflowBatchInput", "name": "v"},
            {"type": "WorkflowBatchInput", "name": "w"},
        ],
        outputs={"csv": "$steps.c.csv_content"},
    )
    before = datetime.now(UTC)
    last = run(document, v=[1, 2.5, 3], w=[True, "x", 1.5])[-1]["csv"]
    # Roboflow's engine gave these values (its columns in an order that changes from one
    # process to the next: a set's; here always the order of columns_data)
    assert without_timestamps(last, before) == (
        "v,w,k,timestamp\n1.0,True,-2,TS\n2.5,x,-2,TS\n3.0,1.5,-2,TS\n"
    )


def test_csv_formatter_writes_missing_values_as_pandas_does():
    from visionflow.blocks.roboflow.formatters import _csv

    rows = [
        {"a": 1, "b": True, "c": float("nan"), "d": None, "e": {"k": 1}, "f": "multi\nline"},
        {"a": None, "b": None, "c": 2, "d": None, "e": (1, 2), "f": "@x"},
    ]
    # pandas' DataFrame(rows).to_csv(index=False) (what Roboflow's block calls), with
    # Roboflow's leading quote on '@x'
    assert _csv(rows) == (
        'a,b,c,d,e,f\n1.0,True,,,{\'k\': 1},"multi\nline"\n,,2.0,,"(1, 2)",\'@x\n'
    )


def test_csv_formatter_refuses_the_timestamp_column_and_unknown_operation_columns():
    with pytest.raises(ManifestError, match="reserved column name"):
        Workflow.compile(definition(csv_step({"timestamp": 1}), outputs={}))
    with pytest.raises(ExpressionError, match="names 'x', which is not a key") as caught:
        Workflow.compile(
            definition(csv_step({"v": 1}, {"x": [{"type": "SequenceLength"}]}), outputs={})
        )
    assert caught.value.place == "steps[0] 'c' field 'columns_operations'"


# --- json_parser ----------------------------------------------------------------------------

JSON_PARSER = {
    "type": "roboflow_core/json_parser@v1",
    "name": "p",
    "raw_json": "$inputs.raw",
    "expected_fields": ["a", "b"],
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [  # each as Roboflow's engine gave it
        ('{"a": 1, "b": [2, 3]}', {"a": 1, "b": [2, 3], "error_status": False}),
        (
            'text ```JSON\n{"a": "x"}\n``` more ```json {"a": 2, "b": 3}```',
            {"a": "x", "b": None, "error_status": True},
        ),
        ("not json", {"a": None, "b": None, "error_status": True}),
        ("[1, 2]", {"a": None, "b": None, "error_status": True}),
        ('{"a": null, "b": {"c": 1}}', {"a": None, "b": {"c": 1}, "error_status": False}),
    ],
)
def test_json_parser_gives_the_expected_fields(raw: str, expected: dict):
    document = definition(JSON_PARSER, inputs=parameters("raw"), outputs={"out": "$steps.p.*"})
    assert run(document, raw=raw) == [{"out": expected}]


def test_json_parser_outputs_one_field_each_and_refuses_error_status():
    step = {**JSON_PARSER, "raw_json": '{"model_id": "yolov8n-640"}', "expected_fields": []}
    document = definition(
        {**step, "expected_fields": ["model_id"]},
        outputs={"m": "$steps.p.model_id", "e": "$steps.p.error_status"},
    )
    assert run(document) == [{"m": "yolov8n-640", "e": False}]
    # no fields asked, no fields missing: not an error, even for a list (Roboflow's engine)
    document = definition({**step, "raw_json": "[1]"}, outputs={"o": "$steps.p.*"})
    assert run(document) == [{"o": {"error_status": False}}]
    with pytest.raises(ManifestError, match="'error_status' is reserved"):
        Workflow.compile(definition({**step, "expected_fields": ["error_status"]}, outputs={}))


def test_json_parser_takes_language_model_output_only():
    template = {
        "type": "roboflow_core/string_template@v1",
        "name": "s",
        "template": '{{"n": {n}}}',
        "data": {"n": 7},
    }
    parser = {**JSON_PARSER, "raw_json": "$steps.s.output", "expected_fields": ["n"]}
    with pytest.raises(KindMismatchError):  # Roboflow refuses it too (ReferenceTypeError)
        Workflow.compile(definition(template, parser, outputs={"n": "$steps.p.n"}))


# --- current_time ---------------------------------------------------------------------------


def test_current_time_in_a_timezone():
    document = definition(
        {"type": "roboflow_core/current_time@v1", "name": "t", "timezone": "Asia/Kathmandu"},
        outputs={"t": "$steps.t.*"},
    )
    before = datetime.now(UTC)
    [result] = run(document)
    found = result["t"]
    stamp = found["timestamp"]
    assert before <= stamp <= datetime.now(UTC)
    assert str(stamp.tzinfo) == "Asia/Kathmandu" and stamp.utcoffset().total_seconds() == 20700
    # Roboflow's engine gave e.g. '2026-12-07T15:57:28.505838+05:45', '2026-12-07', '15:57:28'
    assert found["iso_string"] == stamp.isoformat() and found["iso_string"].endswith("+05:45")
    assert found["date"] == stamp.strftime("%Y-%m-%d")
    assert found["time"] == stamp.strftime("%H:%M:%S")


def test_current_time_defaults_to_utc_and_refuses_other_timezones():
    document = definition(
        {"type": "roboflow_core/current_time@v1", "name": "t"}, outputs={"d": "$steps.t.*"}
    )
    [result] = run(document)
    found = result["d"]
    assert found["iso_string"].endswith("+00:00")
    with pytest.raises(ManifestError, match="timezone"):  # not one of Roboflow's zones
        Workflow.compile(
            definition(
                {"type": "roboflow_core/current_time@v1", "name": "t", "timezone": "Europe/Paris"},
                outputs={},
            )
        )
    given = definition(
        {"type": "roboflow_core/current_time@v1", "name": "t", "timezone": "$inputs.tz"},
        inputs=parameters("tz"),
        outputs={"d": "$steps.t.date"},
    )
    with pytest.raises(RuntimeInputError, match="'Mars/Base'"):
        run(given, tz="Mars/Base")


# --- string_template ------------------------------------------------------------------------


def template_step(template: str, data: dict, data_operations: dict | None = None) -> dict:
    step = {"type": "roboflow_core/string_template@v1", "name": "s", "template": template}
    step["data"] = data
    if data_operations is not None:
        step["data_operations"] = data_operations
    return step


def test_string_template_fills_names_with_format_specs_and_operations():
    document = definition(
        template_step(
            "One of: {skus}. n={n:05.1f} {{lit}} {n!r}",
            {"skus": "$inputs.skus", "n": "$inputs.n"},
            {"skus": [{"type": "SequenceJoin", "separator": "; "}]},
        ),
        inputs=parameters("skus", "n"),
        outputs={"o": "$steps.s.output"},
    )
    # Roboflow's engine
    assert run(document, skus=["a", "b", "c"], n=3.14159) == [
        {"o": "One of: a; b; c. n=003.1 {lit} 3.14159"}
    ]


def test_string_template_given_by_a_parameter():
    document = definition(
        template_step("$inputs.t", {"a": 5}),
        inputs=parameters("t"),
        outputs={"o": "$steps.s.output"},
    )
    assert run(document, t="a={a:>4}|{a:x}") == [{"o": "a=   5|5"}]  # Roboflow's engine
    with pytest.raises(StepExecutionError, match=r"the template uses \['b'\]"):
        run(document, t="{b}")


def test_string_template_refuses_unknown_names_positions_and_huge_widths():
    with pytest.raises(ExpressionError, match=r"uses \['b'\]"):  # Roboflow: when it runs
        Workflow.compile(definition(template_step("{b}", {"a": 1}), outputs={}))
    with pytest.raises(ExpressionError, match="must be names"):
        Workflow.compile(definition(template_step("{0}", {"a": 1}), outputs={}))
    with pytest.raises(ExpressionError, match="no attribute or item access"):
        Workflow.compile(definition(template_step("{a.real}", {"a": 1}), outputs={}))
    huge = definition(template_step("{a:20000}", {"a": 5}), outputs={"o": "$steps.s.output"})
    with pytest.raises(StepExecutionError, match="above the limit 10,000"):
        run(huge)


# --- environment_secrets_store --------------------------------------------------------------

SECRETS = {
    "type": "roboflow_core/environment_secrets_store@v1",
    "name": "s",
    "variables_storing_secrets": ["VF_SECRET_A", "VF_NOT_SET"],
}


def test_secrets_store_reads_environment_variables(monkeypatch):
    monkeypatch.setenv("VF_SECRET_A", "s3cr3t")
    monkeypatch.delenv("VF_NOT_SET", raising=False)
    workflow = Workflow.compile(definition(SECRETS, outputs={"s": "$steps.s.*"}))
    [result] = workflow.run()
    found = result["s"]
    # Roboflow's engine: {'vf_secret_a': 's3cr3t', 'vf_not_set': None}
    assert found == {"vf_secret_a": "s3cr3t", "vf_not_set": None}
    assert isinstance(found["vf_secret_a"], SecretValue)
    assert "s3cr3t" not in repr(found)  # shown masked wherever a value is shown


def test_secrets_feed_other_blocks_as_text(monkeypatch):
    monkeypatch.setenv("VF_SECRET_A", "s3cr3t")
    document = definition(
        {**SECRETS, "variables_storing_secrets": ["VF_SECRET_A"]},
        {**template_step("Bearer {k}", {"k": "$steps.s.vf_secret_a"}), "name": "t"},
        outputs={"o": "$steps.t.output"},
    )
    assert run(document) == [{"o": "Bearer s3cr3t"}]  # Roboflow's engine


def test_secrets_store_only_for_trusted_documents(monkeypatch):
    document = definition(SECRETS, outputs={"s": "$steps.s.*"})
    with pytest.raises(EnvironmentAccessNotAllowedError) as caught:
        Workflow.compile(document, allow_custom_code=False)
    assert caught.value.code == "environment_access_not_allowed"
    assert caught.value.place == "steps[0] 's'"
    assert "allow_custom_code is off" in caught.value.message
    from visionflow.server.errors import error_body, status_of

    # a server refuses it as it refuses custom code: 403, its operator's switch named
    assert status_of(caught.value) == 403
    body = error_body(caught.value)["error"]
    assert body["code"] == "environment_access_not_allowed"
    assert "--allow-custom-code" in body["hint"]


def test_secrets_store_refused_where_roboflow_switch_is_off(monkeypatch):
    monkeypatch.setenv("VF_SECRET_A", "s3cr3t")
    switch = "ALLOW_WORKFLOW_BLOCKS_ACCESSING_ENVIRONMENTAL_VARIABLES"
    compiled = Workflow.compile(definition({**SECRETS, "name": "early"}, outputs={}))
    monkeypatch.setenv(switch, "False")
    with pytest.raises(EnvironmentAccessNotAllowedError, match="is False here"):
        Workflow.compile(definition({**SECRETS, "name": "late"}, outputs={}))
    with pytest.raises(StepExecutionError, match="is False here") as caught:
        compiled.run()  # compiled before the switch went off: refused when run
    assert "s3cr3t" not in str(caught.value)


def test_secrets_store_needs_a_variable_and_declares_secret_outputs():
    with pytest.raises(ManifestError, match="at least 1 item"):
        Workflow.compile(definition({**SECRETS, "variables_storing_secrets": []}, outputs={}))
    workflow = Workflow.compile(definition(SECRETS, outputs={"a": "$steps.s.vf_secret_a"}))
    step = workflow.plan.steps["s"]
    assert step.outputs == {
        "vf_secret_a": frozenset({"secret"}),
        "vf_not_set": frozenset({"secret"}),
    }


def test_current_time_knows_every_zone_roboflow_offers():
    from visionflow.blocks.roboflow.formatters import TIMEZONES, CurrentTime

    assert len(TIMEZONES) == 55  # Roboflow's curated list, the same names in the same order
    for zone in TIMEZONES:
        found = CurrentTime().run(timezone=zone)
        assert str(found["timestamp"].tzinfo) == zone
        assert found["iso_string"] == found["timestamp"].isoformat()


# --- vlm_as_classifier ----------------------------------------------------------------------


def vlm_classifier(classes: list[str], version: str = "v2") -> dict:
    return definition(
        {
            "type": f"roboflow_core/vlm_as_classifier@{version}",
            "name": "v",
            "image": "$inputs.image",
            "vlm_output": "$inputs.out",
            "classes": classes,
        },
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "out", "kind": ["language_model_output"]},
        ],
        outputs={"e": "$steps.v.error_status", "p": "$steps.v.predictions", "i": "$steps.v.*"},
    )


CLASSES = ["cat", "dog", "bird"]
ZEROS = {"cat": 0.0, "dog": 0.0, "bird": 0.0}


def single(top: str, confidence: float, classes: list[str] = CLASSES, unknown: bool = False):
    ids = {name: i for i, name in enumerate(classes)}
    entries = [{"class": top, "class_id": -1, "confidence": confidence}] if unknown else []
    entries += [
        {"class": n, "class_id": i, "confidence": confidence if n == top else 0.0}
        for n, i in ids.items()
    ]
    return {"predictions": entries, "top": top, "confidence": confidence}


def multi(confidences: dict[str, float], predicted: list[str], extra: dict | None = None):
    ids = {**{name: i for i, name in enumerate(CLASSES)}, **(extra or {})}
    return {
        "predictions": {
            n: {"confidence": confidences.get(n, 0.0), "class_id": i} for n, i in ids.items()
        },
        "predicted_classes": predicted,
    }


@pytest.mark.parametrize(
    ("vlm_output", "expected"),
    [  # each as Roboflow's engine gave it
        ('{"class_name": "dog", "confidence": 0.8}', single("dog", 0.8)),
        (
            '```json\n{"class_name": "fox", "confidence": 1.7}\n```',
            single("fox", 1.0, unknown=True),
        ),
        (
            'Here: ```\n{"predicted_classes": [{"class": "cat", "confidence": 0.4}, '
            '{"class": "cat", "confidence": 0.9}, {"class": "owl", "confidence": -1}]}\n```',
            multi({"cat": 0.9}, ["cat", "owl"], {"owl": -1}),
        ),
        (
            '[{"label": "dog"}, {"class_name": "cat", "confidence": 0.25}]',
            multi({"dog": 1.0, "cat": 0.25}, ["dog", "cat"]),
        ),
        (
            '{"class": "dog", "confidence": 0.5}\n{"class": "bird", "confidence": 0.6}\n]',
            multi({"dog": 0.5, "bird": 0.6}, ["dog", "bird"]),
        ),
        ('The answer is {"class_name": "cat", "confidence": "0.3"} ok', single("cat", 0.3)),
        ('{"class_name": "cat", "confidence": "high"}', None),
        ("no json here", None),
        ('{"foo": 1}', None),
        ('[[{"class": "dog"}], {"class": "cat"}]', None),
        ('{"class": "dog"} junk {"class": "cat"}', None),
    ],
)
def test_vlm_as_classifier_reads_the_model_text(vlm_output: str, expected: dict | None):
    image = bgr(data.coffee())
    [result] = run(vlm_classifier(CLASSES), image=image, out=[vlm_output])
    assert result["e"] is (expected is None)
    if expected is None:
        assert result["p"] is None
        return
    found = dict(result["p"])
    assert found.pop("inference_id") == result["i"]["inference_id"]
    assert isinstance(found.pop("parent_id"), str)  # Roboflow: the input's name, "image"
    assert found == {"image": {"width": 600, "height": 400}, **expected}


def test_vlm_as_classifier_repeated_class_takes_its_last_position():
    [result] = run(
        vlm_classifier(["cat", "dog", "cat"], "v1"),
        image=bgr(data.coffee()),
        out=['{"class_name": "cat", "confidence": 0.5}'],
    )
    # Roboflow's engine: one entry per class, the id of its last position
    assert result["p"]["predictions"] == [
        {"class": "cat", "class_id": 2, "confidence": 0.5},
        {"class": "dog", "class_id": 1, "confidence": 0.0},
    ]
    kinds = Workflow.compile(vlm_classifier(CLASSES, "v1")).plan.steps["v"].outputs
    assert kinds["inference_id"] == frozenset({"string"})  # v2: inference_id
    kinds = Workflow.compile(vlm_classifier(CLASSES)).plan.steps["v"].outputs
    assert kinds["inference_id"] == frozenset({"inference_id"})
    assert kinds["predictions"] == frozenset({"classification_prediction"})
