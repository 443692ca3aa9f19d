"""Roboflow's S3 sink (issue 12), writing to a real S3-compatible server on 127.0.0.1
(moto's server, started by a fixture).

Refused at compile time unless the operator sets VISIONFLOW_ALLOW_OUTBOUND_SINKS=1; the
server's address is the operator's (VISIONFLOW_S3_ENDPOINT_URL). The objects, keys, content
types and messages expected are those Roboflow's engine (inference-core 1.8.3, boto3) wrote
and answered for the same steps against the same moto server (its endpoint given by
AWS_ENDPOINT_URL_S3), except the timestamps in the keys, which are checked by their form
and against the clock around the run.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from visionflow import Workflow
from visionflow.blocks.roboflow import outbound_s3
from visionflow.blocks.roboflow.outbound import OUTBOUND_SWITCH
from visionflow.errors import (
    BlockLoadingError,
    ManifestError,
    OutboundSinkNotAllowedError,
    RuntimeInputError,
    StepExecutionError,
)

boto3 = pytest.importorskip("boto3")  # the `sinks` extra (in `dev`)
moto_server = pytest.importorskip("moto.server")

KEY, SECRET = "AKIAVISIONFLOWTEST01", "s3cr3t/VisionflowTestSecretKey+0123456789"
STAMP = r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{6}"


# --- the server on 127.0.0.1 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch) -> Any:
    """A client of the server, reading what the sink wrote; the operator's settings set."""
    monkeypatch.setenv(OUTBOUND_SWITCH, "1")
    monkeypatch.setenv(outbound_s3.ENDPOINT_URL, s3_server)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="reader",
        aws_secret_access_key="reader",
    )


@pytest.fixture
def bucket(s3) -> str:
    name = f"vf-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def objects(s3: Any, bucket: str) -> dict[str, tuple[str, bytes]]:
    """Each object's key -> (content type, content)."""
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        got = s3.get_object(Bucket=bucket, Key=item["Key"])
        found[item["Key"]] = (got["ContentType"], got["Body"].read())
    return found


# --- helpers --------------------------------------------------------------------------------


def sink(bucket: str, **fields: Any) -> dict:
    return {
        "type": "roboflow_core/s3_sink@v1",
        "content": "$inputs.content",
        "bucket_name": bucket,
        "aws_access_key_id": "$inputs.key",
        "aws_secret_access_key": "$inputs.secret",
        **fields,
    }


def compiled(step: dict) -> Workflow:
    # not from the cache: a step's append log lives as long as its compiled workflow
    inputs = [{"type": "WorkflowParameter", "name": n} for n in ("content", "key", "secret")]
    document = {
        "version": "1.4.0",
        "inputs": inputs,
        "steps": [{"name": "s3", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s3.*"}],
    }
    return Workflow.compile(document, cache=False)


def run(workflow: Workflow, content: str, **values: Any) -> dict:
    values = {"key": KEY, "secret": SECRET, **values}
    return workflow.run(content=content, **values)[0]["o"]


def saved(bucket: str, key: str) -> dict:
    return {"error_status": False, "message": f"Data saved successfully to s3://{bucket}/{key}"}


def stamped(key: str, before: datetime, after: datetime) -> None:
    """The key's timestamp is the local time of the run (Roboflow's names)."""
    stamp = datetime.strptime(re.search(STAMP, key).group(0), "%Y_%m_%d_%H_%M_%S_%f")
    assert before <= stamp <= after


# --- the operator's switch and what a step must give ----------------------------------------


def test_refused_at_compile_time_unless_the_operator_enables_outbound_sinks(monkeypatch):
    monkeypatch.delenv(OUTBOUND_SWITCH, raising=False)
    step = sink("b", output_mode="separate_files")
    with pytest.raises(OutboundSinkNotAllowedError) as caught:
        compiled(step)
    assert caught.value.code == "outbound_sink_not_allowed"
    assert caught.value.place == "steps[0] 's3'"
    assert caught.value.message == (
        "this step sends data to an S3 bucket, off this machine, and outbound sinks are "
        "not enabled here"
    )
    assert caught.value.hint == (
        "the operator enables them by setting VISIONFLOW_ALLOW_OUTBOUND_SINKS=1 where "
        "visionflow runs (a document cannot)"
    )
    monkeypatch.setenv(OUTBOUND_SWITCH, "1")
    compiled(step)  # the same step, enabled


def test_the_switch_turned_off_after_compiling_stops_the_step(s3, bucket, monkeypatch):
    workflow = compiled(sink(bucket, output_mode="separate_files"))
    monkeypatch.setenv(OUTBOUND_SWITCH, "0")
    with pytest.raises(StepExecutionError) as caught:
        run(workflow, "a,b\n1,2")
    assert isinstance(caught.value.cause, OutboundSinkNotAllowedError)
    assert objects(s3, bucket) == {}


@pytest.mark.parametrize("missing", ["aws_access_key_id", "aws_secret_access_key"])
def test_the_steps_own_credentials_are_required(s3, missing):
    step = sink("b", output_mode="separate_files")
    del step[missing]
    with pytest.raises(ManifestError) as caught:
        compiled(step)
    assert caught.value.place == f"steps[0] 's3' field '{missing}'"
    assert "the server's AWS credentials are not used" in caught.value.message


def test_empty_credentials_at_run_time_are_an_input_error(s3, bucket):
    workflow = compiled(sink(bucket, output_mode="separate_files"))
    with pytest.raises(StepExecutionError) as caught:
        run(workflow, "x", secret="")
    assert isinstance(caught.value.cause, RuntimeInputError)
    assert objects(s3, bucket) == {}


def test_max_entries_per_file_must_be_positive(s3):
    with pytest.raises(ManifestError):
        compiled(sink("b", output_mode="append_log", max_entries_per_file=0))


def test_no_cooldown_nor_fire_and_forget_fields(s3):
    # Roboflow's S3 sink uploads at once, every run: it declares neither field
    for field, value in (("cooldown_seconds", 5), ("fire_and_forget", True)):
        with pytest.raises(ManifestError):
            compiled(sink("b", output_mode="separate_files", **{field: value}))


def test_without_boto3_the_compile_error_names_the_extra(s3, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` meets uninstalled
    with pytest.raises(BlockLoadingError) as caught:
        compiled(sink("b", output_mode="separate_files"))
    assert caught.value.message == "roboflow_core/s3_sink@v1 needs boto3, which is not installed"
    assert caught.value.hint == "pip install 'visionflow[sinks]'"


# --- separate files -------------------------------------------------------------------------


def test_separate_files_one_object_per_run_under_the_prefix(s3, bucket):
    workflow = compiled(sink(bucket, output_mode="separate_files", s3_prefix="logs/det/"))
    before = datetime.now()
    first = run(workflow, "a,b\n1,2")
    second = run(workflow, "a,b\n3,4\n")
    after = datetime.now()
    found = objects(s3, bucket)
    keys = sorted(found)
    assert len(keys) == 2
    for key in keys:
        assert re.fullmatch(rf"logs/det/workflow_output_{STAMP}\.csv", key)
        stamped(key, before, after)
    assert (first, second) == (saved(bucket, keys[0]), saved(bucket, keys[1]))
    # Roboflow's engine wrote exactly these: the content as given, no newline added
    assert found[keys[0]] == ("text/csv", b"a,b\n1,2")
    assert found[keys[1]] == ("text/csv", b"a,b\n3,4\n")


@pytest.mark.parametrize(
    ("file_type", "content_type"),
    [("json", "application/json"), ("txt", "text/plain"), ("csv", "text/csv")],
)
def test_separate_files_without_prefix(s3, bucket, file_type, content_type):
    step = sink(bucket, output_mode="separate_files", file_type=file_type)
    step["file_name_prefix"] = "run/"  # a trailing slash is dropped, as Roboflow drops it
    result = run(compiled(step), '{"a": 1}')
    (key,) = objects(s3, bucket)
    assert re.fullmatch(rf"run_{STAMP}\.{file_type}", key)
    assert result == saved(bucket, key)
    assert objects(s3, bucket)[key] == (content_type, b'{"a": 1}')


def test_prefix_and_bucket_from_inputs(s3, bucket):
    step = sink("$inputs.bucket", output_mode="separate_files", s3_prefix="$inputs.prefix")
    document = {
        "version": "1.4.0",
        "inputs": [
            {"type": "WorkflowParameter", "name": n}
            for n in ("content", "key", "secret", "bucket", "prefix")
        ],
        "steps": [{"name": "s3", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s3.*"}],
    }
    workflow = Workflow.compile(document, cache=False)
    out = workflow.run(content="x", key=KEY, secret=SECRET, bucket=bucket, prefix="a/b")[0]["o"]
    (key,) = objects(s3, bucket)
    assert re.fullmatch(rf"a/b/workflow_output_{STAMP}\.csv", key)
    assert out == saved(bucket, key)


# --- append log -----------------------------------------------------------------------------


def test_append_log_csv_keeps_one_header_and_rotates(s3, bucket):
    step = sink(
        bucket,
        output_mode="append_log",
        s3_prefix="app",
        file_name_prefix="run",
        max_entries_per_file=2,
    )
    workflow = compiled(step)
    results = [run(workflow, c) for c in ("a,b\n1,2", "a,b\n3,4\n", "a,b\n5,6")]
    found = objects(s3, bucket)
    first, second = sorted(found)
    assert re.fullmatch(rf"app/run_{STAMP}\.csv", first)
    assert results == [saved(bucket, first), saved(bucket, first), saved(bucket, second)]
    # Roboflow's engine wrote exactly these for the same three runs
    assert found == {
        first: ("text/csv", b"a,b\n1,2\n3,4\n"),
        second: ("text/csv", b"a,b\n5,6\n"),
    }


def test_append_log_json_is_json_lines(s3, bucket):
    workflow = compiled(sink(bucket, output_mode="append_log", file_type="json"))
    results = [run(workflow, c) for c in ('{"a": [1, 2],\n "b": "x"}', "[1,2]", "not json", "3")]
    found = objects(s3, bucket)
    (key,) = found
    assert re.fullmatch(rf"workflow_output_{STAMP}\.jsonl", key)
    # Roboflow's engine answered and wrote exactly these
    invalid = {"error_status": True, "message": "Invalid JSON content"}
    assert results == [saved(bucket, key), saved(bucket, key), invalid, saved(bucket, key)]
    assert found[key] == ("application/x-ndjson", b'{"a": [1, 2], "b": "x"}\n[1, 2]\n3\n')


def test_append_log_text(s3, bucket):
    workflow = compiled(sink(bucket, output_mode="append_log", file_type="txt", s3_prefix="t/"))
    run(workflow, "one")
    run(workflow, "two\n")
    found = objects(s3, bucket)
    (key,) = found
    assert re.fullmatch(rf"t/workflow_output_{STAMP}\.txt", key)
    assert found[key] == ("text/plain", b"one\ntwo\n")  # Roboflow's engine wrote this


def test_append_log_is_per_compiled_workflow(s3, bucket):
    step = sink(bucket, output_mode="append_log", file_type="txt")
    run(compiled(step), "one")
    run(compiled(step), "two")
    assert sorted(content for _, content in objects(s3, bucket).values()) == [b"one\n", b"two\n"]


# --- failures are the step's error_status, never a failed run -------------------------------


def test_a_missing_bucket_is_an_error_status(s3):
    workflow = compiled(sink("no-such-bucket", output_mode="separate_files"))
    # Roboflow's engine answered this, word for word
    assert run(workflow, "x") == {
        "error_status": True,
        "message": "An error occurred (NoSuchBucket) when calling the PutObject operation: "
        "The specified bucket does not exist",
    }


def test_a_bucket_name_s3_cannot_take_is_an_error_status(s3):
    result = run(compiled(sink("Not A Bucket!", output_mode="separate_files")), "x")
    assert result["error_status"] is True
    # Roboflow's engine answered with boto3's words
    assert result["message"].startswith(
        'Parameter validation failed:\nInvalid bucket name "Not A Bucket!": Bucket name must '
        'match the regex "^[a-zA-Z0-9.\\-_]{1,255}$"'
    )


def test_a_refused_connection_is_an_error_status_after_three_retries(
    s3, closed_port, monkeypatch, caplog
):
    monkeypatch.setattr(outbound_s3, "RETRY_DELAY", 0.0)  # Roboflow waits 1, 2 then 4 s
    endpoint = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv(outbound_s3.ENDPOINT_URL, endpoint)
    workflow = compiled(sink("bucket", output_mode="separate_files", file_type="txt"))
    with caplog.at_level(logging.WARNING, logger=outbound_s3.__name__):
        result = run(workflow, "x")
    assert result["error_status"] is True
    # Roboflow's engine answered boto3's words, the object's address in them
    assert re.fullmatch(
        rf'Could not connect to the endpoint URL: "{endpoint}/bucket/workflow_output_{STAMP}'
        r'\.txt"',
        result["message"],
    )
    tries = [r.getMessage() for r in caplog.records if r.name == outbound_s3.__name__]
    assert [t.split(")")[0] for t in tries] == [f"S3 upload failed (try {n}" for n in range(1, 5)]


def test_a_refused_append_still_counts_its_entry(s3, closed_port, monkeypatch):
    # as Roboflow: the entry stays in the log, uploaded with the next run's
    monkeypatch.setattr(outbound_s3, "RETRY_DELAY", 0.0)
    name = f"vf-{uuid.uuid4().hex[:12]}"
    workflow = compiled(sink(name, output_mode="append_log", file_type="txt"))
    assert run(workflow, "one")["error_status"] is True  # the bucket is not there yet
    s3.create_bucket(Bucket=name)
    assert run(workflow, "two")["error_status"] is False
    assert [content for _, content in objects(s3, name).values()] == [b"one\ntwo\n"]


def test_the_secret_stays_out_of_outputs_and_logs(s3, bucket, closed_port, monkeypatch, caplog):
    monkeypatch.setattr(outbound_s3, "RETRY_DELAY", 0.0)
    workflow = compiled(sink(bucket, output_mode="separate_files"))
    with caplog.at_level(logging.DEBUG):  # boto3's own debug logs too
        missing = compiled(sink("nope", output_mode="separate_files"))
        results = [run(workflow, "x"), run(missing, "x")]
        monkeypatch.setenv(outbound_s3.ENDPOINT_URL, f"http://127.0.0.1:{closed_port}")
        results.append(run(compiled(sink(bucket, output_mode="separate_files")), "x"))
    assert [r["error_status"] for r in results] == [False, True, True]
    assert SECRET not in repr(results)
    assert SECRET not in caplog.text
    assert KEY not in repr(results)


def test_credentials_from_a_literal_field_and_boto3s_endpoint_variable(s3, bucket, monkeypatch):
    # without visionflow's variable, boto3's own AWS_ENDPOINT_URL_S3 is the operator's choice
    endpoint = os.environ[outbound_s3.ENDPOINT_URL]
    monkeypatch.delenv(outbound_s3.ENDPOINT_URL)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    step = sink(bucket, output_mode="separate_files", aws_region="eu-west-1")
    step.update(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    result = run(compiled(step), "x")
    (key,) = objects(s3, bucket)
    assert result == saved(bucket, key)


def test_a_region_boto3_refuses_is_an_error_status(s3, bucket):
    step = sink(bucket, output_mode="separate_files", aws_region="not/a region")
    assert run(compiled(step), "x") == {
        "error_status": True,
        "message": "Provided region_name 'not/a region' doesn't match a supported format.",
    }
    assert objects(s3, bucket) == {}


def test_a_batch_of_contents_goes_to_one_append_log_in_order(s3, bucket):
    step = sink(bucket, output_mode="append_log", file_type="txt", content="$inputs.lines")
    step.update(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    document = {
        "version": "1.4.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "lines", "kind": ["string"]}],
        "steps": [{"name": "s3", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s3.*"}],
    }
    results = Workflow.compile(document, cache=False).run(lines=["one", "two"])
    found = objects(s3, bucket)
    (key,) = found
    # Roboflow's engine gave one result per element and wrote this, for the same batch
    assert [r["o"] for r in results] == [saved(bucket, key), saved(bucket, key)]
    assert found[key] == ("text/plain", b"one\ntwo\n")


def test_credentials_from_an_environment_secrets_store_step(s3, bucket, monkeypatch):
    # a trusted document may hand the operator's named variables to the step
    monkeypatch.setenv("VF_S3_KEY", KEY)
    monkeypatch.setenv("VF_S3_SECRET", SECRET)
    step = sink(bucket, output_mode="separate_files", file_type="txt")
    step.update(
        aws_access_key_id="$steps.secrets.vf_s3_key",
        aws_secret_access_key="$steps.secrets.vf_s3_secret",
    )
    secrets = {
        "name": "secrets",
        "type": "roboflow_core/environment_secrets_store@v1",
        "variables_storing_secrets": ["VF_S3_KEY", "VF_S3_SECRET"],
    }
    document = {
        "version": "1.4.0",
        "inputs": [{"type": "WorkflowParameter", "name": "content"}],
        "steps": [secrets, {"name": "s3", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s3.*"}],
    }
    result = Workflow.compile(document, cache=False).run(content="x")[0]["o"]
    found = objects(s3, bucket)
    (key,) = found
    assert result == saved(bucket, key)
    assert found[key] == ("text/plain", b"x")
