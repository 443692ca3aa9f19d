"""Roboflow's outbound sinks (issue 12): webhook, e-mail v1/v2, Slack, Twilio SMS v1/v2.

Each is refused at compile time unless the operator sets VISIONFLOW_ALLOW_OUTBOUND_SINKS=1;
enabled, its requests go to real servers started here on 127.0.0.1 (http.server for the
HTTP services, an SMTP server over TLS on the standard library's socketserver and ssl), and
the tests check what those servers received, byte for byte where it matters. The webhook
requests expected are those Roboflow's engine (inference-core 1.8.3) sent for the same
definitions to the same kind of server; Slack's and Twilio's are those the libraries its
blocks use (slack_sdk 3.33.5, twilio 9.3.8) sent. The outputs' messages are Roboflow's words,
except that a failure never quotes the URL (its query may hold a key).
"""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import json
import logging
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import cv2
import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.blocks.roboflow.outbound import LOCAL_SWITCH, OUTBOUND_SWITCH
from visionflow.errors import (
    InitParameterError,
    ManifestError,
    OutboundSinkNotAllowedError,
    StepExecutionError,
)

SENT = {
    "error_status": False,
    "throttling_status": False,
    "message": "Notification sent successfully",
}
BACKGROUND = {
    "error_status": False,
    "throttling_status": False,
    "message": "Notification sent in the background task",
}
THROTTLED = {"error_status": False, "throttling_status": True, "message": "Sink cooldown applies"}
WAIT = 10  # seconds a test waits for a background request (a bound, not a measurement)


# --- servers on 127.0.0.1 -------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def parts(self) -> list[Any]:
        """The parts of a multipart body, parsed by the standard library."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        return list(
            email.message_from_bytes(head + self.body, policy=email.policy.HTTP).iter_parts()
        )


@dataclass
class HTTPService:
    """A server recording every request; ``answer(request)`` gives (status, JSON body)."""

    answer: Callable[[Received], tuple[int, dict]] = lambda request: (200, {"ok": True})
    received: list[Received] = field(default_factory=list)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    url: str = ""

    def wait(self, count: int) -> list[Received]:
        for _ in range(count):
            assert self.arrived.acquire(timeout=WAIT), "the request never arrived"
        return self.received


@pytest.fixture
def service() -> Iterator[HTTPService]:
    recorder = HTTPService()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Received(self.command, self.path, dict(self.headers), body)
            recorder.received.append(request)
            status, answer = recorder.answer(request)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            recorder.arrived.release()

        do_GET = do_POST = do_PUT = _record

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def outbound(monkeypatch) -> None:
    monkeypatch.setenv(OUTBOUND_SWITCH, "1")
    monkeypatch.setenv(LOCAL_SWITCH, "1")  # the servers here are on 127.0.0.1


# --- helpers --------------------------------------------------------------------------------

IMAGE = data.astronaut()[:, :, ::-1].copy()  # BGR, as images arrive


def document(step: dict, *inputs: dict) -> dict:
    return {
        "version": "1.4.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}, *inputs],
        "steps": [{"name": "notify", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.notify.*"}],
    }


def compiled(step: dict, *inputs: dict) -> Workflow:
    # not from the cache: a step's cooldown lives as long as its compiled workflow
    return Workflow.compile(document(step, *inputs), cache=False)


def run(workflow: Workflow, **values: Any) -> dict:
    return workflow.run(image=IMAGE, **values)[0]["o"]


def parameter(name: str) -> dict:
    return {"type": "WorkflowParameter", "name": name}


def webhook(url: str, **fields: Any) -> dict:
    return {
        "type": "roboflow_core/webhook_sink@v1",
        "url": url,
        "method": "POST",
        "fire_and_forget": False,
        **fields,
    }


# --- the operator's switch ------------------------------------------------------------------

MINIMAL_STEPS = {
    "roboflow_core/webhook_sink@v1": ("a webhook", {"url": "http://127.0.0.1:9", "method": "GET"}),
    "roboflow_core/email_notification@v1": (
        "an e-mail server",
        {
            "subject": "s",
            "sender_email": "a@example.com",
            "receiver_email": "b@example.com",
            "message": "m",
            "smtp_server": "127.0.0.1",
            "sender_email_password": "p",
        },
    ),
    "roboflow_core/email_notification@v2": (
        "an e-mail server",
        {"email_provider": "Custom SMTP", "subject": "s", "receiver_email": "b@x", "message": "m"},
    ),
    "roboflow_core/slack_notification@v1": (
        "Slack",
        {"slack_token": "t", "channel": "C1", "message": "m", "cooldown_session_key": "k"},
    ),
    "roboflow_core/twilio_sms_notification@v1": (
        "Twilio",
        {
            "twilio_account_sid": "AC1",
            "twilio_auth_token": "t",
            "sender_number": "+1",
            "receiver_number": "+2",
            "message": "m",
            "cooldown_session_key": "k",
        },
    ),
    "roboflow_core/twilio_sms_notification@v2": (
        "Twilio",
        {"sms_provider": "Custom Twilio", "receiver_number": "+2", "message": "m"},
    ),
    "roboflow_core/roboflow_dataset_upload@v1": (
        "Roboflow's platform",
        {"images": "$inputs.image", "target_project": "p", "usage_quota_name": "q"},
    ),
    "roboflow_core/roboflow_dataset_upload@v2": (
        "Roboflow's platform",
        {"images": "$inputs.image", "target_project": "p", "usage_quota_name": "q"},
    ),
}


@pytest.mark.parametrize("block_type", sorted(MINIMAL_STEPS))
def test_refused_at_compile_time_unless_the_operator_enables_outbound_sinks(
    block_type, monkeypatch
):
    monkeypatch.delenv(OUTBOUND_SWITCH, raising=False)
    monkeypatch.setenv("VISIONFLOW_ROBOFLOW_API_KEY", "KEY")  # the dataset upload needs one
    service_name, fields = MINIMAL_STEPS[block_type]
    with pytest.raises(OutboundSinkNotAllowedError) as caught:
        compiled({"type": block_type, **fields})
    assert caught.value.code == "outbound_sink_not_allowed"
    assert caught.value.place == "steps[0] 'notify'"
    assert caught.value.message == (
        f"this step sends data to {service_name}, off this machine, and outbound sinks are "
        "not enabled here"
    )
    assert caught.value.hint == (
        "the operator enables them by setting VISIONFLOW_ALLOW_OUTBOUND_SINKS=1 where "
        "visionflow runs (a document cannot)"
    )
    monkeypatch.setenv(OUTBOUND_SWITCH, "1")
    compiled({"type": block_type, **fields})  # the same step, enabled


def test_the_switch_turned_off_after_compiling_stops_the_step(outbound, service, monkeypatch):
    workflow = compiled(webhook(service.url))
    monkeypatch.setenv(OUTBOUND_SWITCH, "0")
    with pytest.raises(StepExecutionError) as caught:
        run(workflow)
    assert isinstance(caught.value.cause, OutboundSinkNotAllowedError)
    assert service.received == []


# --- webhook --------------------------------------------------------------------------------


def test_webhook_posts_json_after_operations(outbound, service):
    workflow = compiled(
        webhook(
            service.url + "/hooks/frame",
            query_parameters={"camera": "$inputs.camera", "live": True, "ids": [1, 2]},
            headers={"X-Api-Key": "$inputs.key"},
            json_payload={"width": "$inputs.image", "labels": "$inputs.labels", "site": "north"},
            json_payload_operations={
                "width": [{"type": "ExtractImageProperty", "property_name": "width"}],
                "labels": [{"type": "SequenceLength"}],
            },
        ),
        parameter("camera"),
        parameter("key"),
        parameter("labels"),
    )
    assert run(workflow, camera="gate 2", key="k-123", labels=["a", "b", "c"]) == SENT
    (request,) = service.received
    assert request.method == "POST"
    # True is written "True", a list repeats its key (as requests writes them)
    assert request.path == "/hooks/frame?camera=gate+2&live=True&ids=1&ids=2"
    assert request.headers["X-Api-Key"] == "k-123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == b'{"width": 512, "labels": 3, "site": "north"}'


def test_webhook_sends_an_empty_json_object_when_nothing_is_given(outbound, service):
    # requests (Roboflow's transport) sends the default json_payload {} even with GET
    assert run(compiled(webhook(service.url + "/ping", method="GET"))) == SENT
    (request,) = service.received
    assert (request.method, request.path, request.body) == ("GET", "/ping", b"{}")
    assert request.headers["Content-Type"] == "application/json"


def test_webhook_multipart_files_with_form_fields(outbound, service):
    step = webhook(
        service.url + "/upload",
        method="PUT",
        multi_part_encoded_files={"image": "$inputs.image", "note": "hello"},
        multi_part_encoded_files_operations={
            "image": [{"type": "ConvertImageToJPEG", "compression_level": 80}]
        },
        form_data={"camera": "gate", "ids": [1, 2]},
        json_payload={"ignored": 1},  # requests sends no JSON beside files
    )
    assert run(compiled(step)) == SENT
    (request,) = service.received
    assert request.method == "PUT"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = request.parts()
    names = [(p.get_param("name", header="content-disposition"), p.get_filename()) for p in parts]
    # the form's fields first, then the files, each named after its key
    assert names == [
        ("camera", None),
        ("ids", None),
        ("ids", None),
        ("image", "image"),
        ("note", "note"),
    ]
    assert [p.get_content() for p in parts[:3]] == ["gate", "1", "2"]
    jpeg = parts[3].get_payload(decode=True)
    expected = cv2.imencode(".jpg", IMAGE, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    assert jpeg == expected
    assert parts[4].get_payload(decode=True) == b"hello"


def test_webhook_form_data_alone_is_a_form(outbound, service):
    assert run(compiled(webhook(service.url, form_data={"a": "x y", "b": 3}))) == SENT
    (request,) = service.received
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == b"a=x+y&b=3"


def test_webhook_error_status_is_an_output_not_a_failed_run(outbound, service):
    service.answer = lambda request: (500, {"error": "down"})
    result = run(compiled(webhook(service.url)))
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send webhook notification. Internal error details: "
        "500 Server Error: Internal Server Error",
    }


def test_webhook_refused_connection(outbound, closed_port):
    result = run(compiled(webhook(f"http://127.0.0.1:{closed_port}/x")))
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send webhook notification. Internal error details: "
        "[Errno 111] Connection refused",
    }


def test_webhook_secrets_stay_out_of_messages_and_logs(outbound, service, caplog):
    service.answer = lambda request: (403, {})
    step = webhook(service.url + "/x", query_parameters={"api_key": "$inputs.key"})
    result = run(compiled(step, parameter("key")), key="very-secret-key")
    assert service.received[0].path == "/x?api_key=very-secret-key"
    assert result["message"] == (
        "Failed to send webhook notification. Internal error details: 403 Client Error: Forbidden"
    )
    assert "very-secret-key" not in caplog.text
    assert "403 Client Error: Forbidden" in caplog.text


def test_webhook_cooldown_throttles_the_runs_that_follow(outbound, service):
    workflow = compiled(webhook(service.url, cooldown_seconds=600))
    assert [run(workflow) for _ in range(3)] == [SENT, THROTTLED, THROTTLED]
    assert len(service.received) == 1
    # each step keeps its own: another compiled workflow sends
    assert run(compiled(webhook(service.url, cooldown_seconds=600))) == SENT
    assert len(service.received) == 2


def test_webhook_without_cooldown_sends_every_run(outbound, service):
    workflow = compiled(webhook(service.url, cooldown_seconds=0))
    assert [run(workflow) for _ in range(3)] == [SENT] * 3
    assert len(service.received) == 3


def test_webhook_fire_and_forget_sends_in_the_background(outbound, service):
    step = webhook(service.url + "/bg", json_payload={"n": 1})
    del step["fire_and_forget"]  # Roboflow's default: True
    assert run(compiled(step)) == BACKGROUND
    (request,) = service.wait(1)
    assert (request.path, request.body) == ("/bg", b'{"n": 1}')


def test_webhook_fire_and_forget_failure_is_only_logged(outbound, closed_port):
    step = webhook(f"http://127.0.0.1:{closed_port}", fire_and_forget=True)
    assert run(compiled(step)) == BACKGROUND


def test_webhook_disabled_by_parameter(outbound, service):
    workflow = compiled(webhook(service.url, disable_sink="$inputs.off"), parameter("off"))
    assert run(workflow, off=True) == {
        "error_status": False,
        "throttling_status": False,
        "message": "Sink was disabled by parameter `disable_sink`",
    }
    assert service.received == []
    assert run(workflow, off=False) == SENT


def test_webhook_file_that_is_not_bytes_is_an_error_status(outbound, service):
    step = webhook(service.url, multi_part_encoded_files={"image": "$inputs.image"})
    result = run(compiled(step))
    assert result["error_status"] is True
    assert result["message"] == (
        "Failed to send webhook notification. Internal error details: a WorkflowImage cannot "
        "be sent as a file; convert it first (e.g. with the operation ConvertImageToJPEG)"
    )
    assert service.received == []


# --- Slack ----------------------------------------------------------------------------------


def slack(**fields: Any) -> dict:
    return {
        "type": "roboflow_core/slack_notification@v1",
        "slack_token": "$inputs.token",
        "channel": "C042",
        "message": "Seen {{ $parameters.count }} objects ({{$parameters.labels}}), "
        "{{ $parameters.other }} stays",
        "message_parameters": {"count": "$inputs.labels", "labels": "$inputs.labels"},
        "message_parameters_operations": {"count": [{"type": "SequenceLength"}]},
        "fire_and_forget": False,
        "cooldown_session_key": "session-1",
        **fields,
    }


@pytest.mark.parametrize(
    "token", [["xoxb-1234-secret-token"], {"value": "xoxb-1234-secret-token"}, 1234567890]
)
def test_a_secret_of_the_wrong_type_is_not_quoted_in_the_compile_error(token, outbound):
    with pytest.raises(ManifestError) as refused:
        compiled(slack(slack_token=token))
    error = refused.value
    assert error.place == "steps[0] 'notify' field 'slack_token'"
    assert f"(found a {type(token).__name__}, not shown: the field takes a secret)" in (
        error.message
    )
    for text in (error.message, str(error), json.dumps(error.to_dict())):
        assert "xoxb" not in text and "1234567890" not in text


def test_a_field_without_secrets_still_quotes_what_it_found(outbound):
    with pytest.raises(ManifestError, match=r"\(found \['C042'\]\)"):
        compiled(slack(slack_token="$inputs.token", channel=["C042"]))


@pytest.fixture
def slack_api(service, monkeypatch) -> HTTPService:
    monkeypatch.setenv("VISIONFLOW_SLACK_API_URL", service.url + "/api")

    def answer(request: Received) -> tuple[int, dict]:
        if request.path.endswith("files.getUploadURLExternal"):  # F1, F2, ... in turn
            file_id = f"F{sum('getUploadURL' in r.path for r in service.received)}"
            return 200, {
                "ok": True,
                "upload_url": f"{service.url}/up/{file_id}",
                "file_id": file_id,
            }
        return 200, {"ok": True}

    service.answer = answer
    return service


def test_slack_posts_the_message_with_its_parameters(outbound, slack_api):
    workflow = compiled(slack(cooldown_seconds=0), parameter("token"), parameter("labels"))
    assert run(workflow, token="xoxb-1", labels=["car", "dog"]) == SENT
    (request,) = slack_api.received
    assert (request.method, request.path) == ("POST", "/api/chat.postMessage")
    assert request.headers["Authorization"] == "Bearer xoxb-1"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.body) == {
        "channel": "C042",
        "text": "Seen 2 objects (['car', 'dog']), {{ $parameters.other }} stays",
    }


def test_slack_uploads_attachments_with_the_message(outbound, slack_api):
    step = slack(
        message="report",
        message_parameters={},
        message_parameters_operations={},
        attachments={"report.csv": "$inputs.csv", "raw.bin": "$inputs.raw"},
    )
    workflow = compiled(step, parameter("token"), parameter("csv"), parameter("raw"))
    assert run(workflow, token="xoxb-2", csv="a,b\n1,2\n", raw=b"\x00\x01") == SENT
    requests = [(r.method, r.path, r.body) for r in slack_api.received]
    assert requests == [
        ("POST", "/api/files.getUploadURLExternal", b"filename=Uploaded+file&length=8"),
        ("POST", "/up/F1", b"a,b\n1,2\n"),
        ("POST", "/api/files.getUploadURLExternal", b"filename=Uploaded+file&length=2"),
        ("POST", "/up/F2", b"\x00\x01"),
        (
            "POST",
            "/api/files.completeUploadExternal",
            b"files=%5B%7B%22id%22%3A+%22F1%22%2C+%22title%22%3A+%22report.csv%22%7D%2C+"
            b"%7B%22id%22%3A+%22F2%22%2C+%22title%22%3A+%22raw.bin%22%7D%5D"
            b"&channel_id=C042&initial_comment=report",
        ),
    ]
    api_calls = [r for r in slack_api.received if r.path.startswith("/api/")]
    assert {r.headers["Authorization"] for r in api_calls} == {"Bearer xoxb-2"}
    assert all(
        "Authorization" not in r.headers for r in slack_api.received if r.path.startswith("/up/")
    )


def test_slack_says_what_slack_answered(outbound, slack_api, caplog):
    slack_api.answer = lambda request: (200, {"ok": False, "error": "channel_not_found"})
    workflow = compiled(slack(), parameter("token"), parameter("labels"))
    assert run(workflow, token="xoxb-secret", labels=[]) == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send Slack notification. Internal error details: channel_not_found",
    }
    assert "xoxb-secret" not in caplog.text


def test_slack_cooldown_is_per_token_and_session_key_across_workflows(outbound, slack_api):
    step = slack(cooldown_seconds=900, cooldown_session_key="shared-cooldown")
    inputs = (parameter("token"), parameter("labels"))
    assert run(compiled(step, *inputs), token="xoxb-a", labels=[]) == SENT
    assert run(compiled(step, *inputs), token="xoxb-a", labels=[]) == THROTTLED
    assert run(compiled(step, *inputs), token="xoxb-b", labels=[]) == SENT  # another token
    assert len(slack_api.received) == 2


def test_slack_cooldown_over_fifteen_minutes_is_refused(outbound):
    with pytest.raises(ManifestError, match=r"must be in range \[0, 900\]"):
        compiled(slack(cooldown_seconds=901), parameter("token"), parameter("labels"))


def test_slack_refused_connection(outbound, closed_port, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_SLACK_API_URL", f"http://127.0.0.1:{closed_port}/api")
    workflow = compiled(slack(), parameter("token"), parameter("labels"))
    result = run(workflow, token="xoxb-c", labels=[])
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send Slack notification. Internal error details: "
        "[Errno 111] Connection refused",
    }


# --- Twilio ---------------------------------------------------------------------------------


@pytest.fixture
def twilio_api(service, monkeypatch) -> HTTPService:
    monkeypatch.setenv("VISIONFLOW_TWILIO_API_URL", service.url)
    service.answer = lambda request: (201, {"sid": "SM1", "status": "queued"})
    return service


def twilio(version: int = 1, **fields: Any) -> dict:
    step = {
        "type": f"roboflow_core/twilio_sms_notification@v{version}",
        "twilio_account_sid": "AC0123",
        "twilio_auth_token": "$inputs.token",
        "sender_number": "+15550001",
        "receiver_number": "+15550002",
        "message": "Alert: {{ $parameters.what }}",
        "message_parameters": {"what": "$inputs.what"},
        "message_parameters_operations": {"what": [{"type": "StringToUpperCase"}]},
        "fire_and_forget": False,
        **fields,
    }
    if version == 1:
        step.setdefault("cooldown_session_key", "sms-1")
        step.setdefault("cooldown_seconds", 0)
    else:
        step.setdefault("sms_provider", "Custom Twilio")
    return step


def test_twilio_v1_sends_the_message_form(outbound, twilio_api):
    workflow = compiled(twilio(), parameter("token"), parameter("what"))
    assert run(workflow, token="tok", what="smoke") == SENT
    (request,) = twilio_api.received
    assert (request.method, request.path) == ("POST", "/2010-04-01/Accounts/AC0123/Messages.json")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC0123:tok").decode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == b"To=%2B15550002&From=%2B15550001&Body=Alert%3A+SMOKE"


def test_twilio_v1_cuts_the_message_to_its_length_limit(outbound, twilio_api):
    workflow = compiled(twilio(length_limit=20), parameter("token"), parameter("what"))
    assert run(workflow, token="tok", what="a long description") == SENT
    # 20 characters: 14 kept, a space and Roboflow's marker
    assert twilio_api.received[0].form()["Body"] == ["Alert: A LONG  [...]"]


def test_twilio_v1_says_what_twilio_answered(outbound, twilio_api, caplog):
    twilio_api.answer = lambda request: (
        400,
        {"code": 21211, "message": "The 'To' number +15550002 is not valid.", "status": 400},
    )
    workflow = compiled(twilio(), parameter("token"), parameter("what"))
    assert run(workflow, token="tok-secret", what="x") == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send Twilio SMS notification. Internal error details: HTTP 400 "
        "error: Unable to create record: The 'To' number +15550002 is not valid.",
    }
    assert "tok-secret" not in caplog.text


def test_twilio_v1_cooldown_is_per_credentials_and_session_key(outbound, twilio_api):
    step = twilio(cooldown_seconds=900, cooldown_session_key="sms-shared")
    inputs = (parameter("token"), parameter("what"))
    assert run(compiled(step, *inputs), token="t1", what="x") == SENT
    assert run(compiled(step, *inputs), token="t1", what="x") == THROTTLED
    assert len(twilio_api.received) == 1


def test_twilio_v1_length_limit_must_be_positive(outbound):
    with pytest.raises(ManifestError, match="Length limit for SMS must be greater than 0"):
        compiled(twilio(length_limit=0), parameter("token"), parameter("what"))


def test_twilio_v2_custom_sends_media_urls(outbound, twilio_api):
    step = twilio(2, media_url=["https://example.com/a.jpg", "https://example.com/b.jpg"])
    workflow = compiled(step, parameter("token"), parameter("what"))
    assert run(workflow, token="tok", what="gate") == SENT
    assert twilio_api.received[0].form() == {
        "To": ["+15550002"],
        "From": ["+15550001"],
        "Body": ["Alert: GATE"],
        "MediaUrl": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
    }


def test_twilio_v2_keeps_up_to_1600_characters(outbound, twilio_api):
    workflow = compiled(twilio(2), parameter("token"), parameter("what"))
    assert run(workflow, token="tok", what="x" * 2000) == SENT
    body = twilio_api.received[0].form()["Body"][0]
    assert len(body) == 1600
    assert body.endswith("XXX [...]")


def test_twilio_v2_without_credentials_is_an_error_status(outbound, twilio_api):
    step = twilio(2, twilio_auth_token=None)
    assert run(compiled(step, parameter("what")), what="x") == {
        "error_status": True,
        "throttling_status": False,
        "message": "Custom Twilio requires twilio_account_sid, twilio_auth_token, and "
        "sender_number",
    }
    assert twilio_api.received == []


def test_twilio_v2_an_image_as_media_is_not_uploaded_anywhere(outbound, twilio_api):
    step = twilio(2, media_url="$inputs.image")
    result = run(compiled(step, parameter("token"), parameter("what")), token="t", what="x")
    assert result["error_status"] is True
    assert result["message"].startswith("media_url holds an image; visionflow sends only")
    assert twilio_api.received == []


def test_twilio_v2_managed_provider_is_a_compile_error(outbound):
    step = twilio(2)
    del step["sms_provider"]  # Roboflow's default: its managed service
    with pytest.raises(ManifestError) as caught:
        compiled(step, parameter("token"), parameter("what"))
    assert caught.value.place == "steps[0] 'notify' field 'sms_provider'"
    assert caught.value.message == (
        "sms_provider 'Roboflow Managed API Key' sends the SMS through Roboflow's hosted "
        "service, which visionflow does not call"
    )


def test_twilio_refused_connection(outbound, closed_port, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_TWILIO_API_URL", f"http://127.0.0.1:{closed_port}")
    result = run(compiled(twilio(), parameter("token"), parameter("what")), token="t", what="x")
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send Twilio SMS notification. Internal error details: "
        "[Errno 111] Connection refused",
    }


# --- e-mail: an SMTP server over TLS on 127.0.0.1 -------------------------------------------


@dataclass
class Mailbox:
    port: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    receivers: list[list[str]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    password: str = "app-password"
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


class _SMTPHandler(socketserver.StreamRequestHandler):
    """The part of SMTP smtplib's client speaks: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        receivers: list[str] = []
        self._say("220 127.0.0.1 ESMTP")
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-127.0.0.1", "250-AUTH PLAIN", "250 OK")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(line.split()[2]).decode().split("\0")
                box.logins.append((user, password))
                self._say("235 OK" if password == box.password else "535 Bad credentials")
            elif verb == "MAIL":
                box.senders.append(line[len("MAIL FROM:") :].strip("<> "))
                self._say("250 OK")
            elif verb == "RCPT":
                receivers.append(line[len("RCPT TO:") :].strip("<> "))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 Go on")
                lines = []
                while (data_line := self.rfile.readline()) != b".\r\n":
                    lines.append(data_line)
                box.raw.append(b"".join(lines))
                box.messages.append(email.message_from_bytes(box.raw[-1], policy=email.policy.SMTP))
                box.receivers.append(receivers)
                self._say("250 Queued")
                box.arrived.release()
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:
                self._say("250 OK")

    def _say(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (made by openssl), trusted by the tests."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def mailbox(certificate, monkeypatch) -> Iterator[Mailbox]:
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True

        def get_request(self):
            connection, address = self.socket.accept()
            return context.wrap_socket(connection, server_side=True), address

    server = Server(("127.0.0.1", 0), _SMTPHandler)
    box = Mailbox(port=server.server_address[1])
    server.mailbox = box  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield box
    server.shutdown()
    server.server_close()


def email_step(box: Mailbox, version: int = 1, **fields: Any) -> dict:
    step = {
        "type": f"roboflow_core/email_notification@v{version}",
        "subject": "Workflow alert",
        "sender_email": "camera@example.com",
        "receiver_email": ["ops@example.com", "lead@example.com"],
        "cc_receiver_email": "cc@example.com",
        "bcc_receiver_email": ["hidden@example.com"],
        "message": "Counted {{ $parameters.count }} <items>\nat {{ $parameters.place }}",
        "message_parameters": {"count": "$inputs.labels", "place": "$inputs.place"},
        "message_parameters_operations": {"count": [{"type": "SequenceLength"}]},
        "smtp_server": "127.0.0.1",
        "smtp_port": box.port,
        "sender_email_password": "$inputs.password",
        "fire_and_forget": False,
        **fields,
    }
    if version == 2:
        step.setdefault("email_provider", "Custom SMTP")
    return step


EMAIL_INPUTS = (parameter("labels"), parameter("place"), parameter("password"))
EMAIL_VALUES = {"labels": ["a", "b", "c"], "place": "Dock & Yard", "password": "app-password"}


def test_email_v1_sends_plain_text_with_attachments_to_every_receiver(outbound, mailbox):
    step = email_step(mailbox, attachments={"report.csv": "$inputs.csv"})
    workflow = compiled(step, *EMAIL_INPUTS, parameter("csv"))
    assert run(workflow, csv="x,y\n1,2\n", **EMAIL_VALUES) == SENT
    assert mailbox.logins == [("camera@example.com", "app-password")]
    assert mailbox.senders == ["camera@example.com"]
    assert mailbox.receivers == [
        ["ops@example.com", "lead@example.com", "cc@example.com", "hidden@example.com"]
    ]
    (message,) = mailbox.messages
    assert message["From"] == "camera@example.com"
    assert b"\nTo: ops@example.com,lead@example.com\r\n" in mailbox.raw[0]  # as written
    assert message["Cc"] == "cc@example.com"
    assert message["Bcc"] is None  # never shown to the other receivers
    assert message["Subject"] == "Workflow alert"
    text, attachment = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content() == "Counted 3 <items>\r\nat Dock & Yard"  # SMTP's line ends
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_payload(decode=True) == b"x,y\n1,2\n"


def test_email_v2_sends_html_with_an_inline_image_and_image_attachments(outbound, mailbox):
    step = email_step(
        mailbox,
        2,
        message="Look: {{ $parameters.frame }}\n{{ $parameters.place }}",
        message_parameters={"frame": "$inputs.image", "place": "$inputs.place"},
        message_parameters_operations={},
        attachments={"frame": "$inputs.image", "notes.txt": "$inputs.place"},
    )
    assert run(compiled(step, *EMAIL_INPUTS), **EMAIL_VALUES) == SENT
    (message,) = mailbox.messages
    assert message.get_content_type() == "multipart/related"
    body, inline, frame, notes = message.iter_parts()
    assert body.get_content_type() == "text/html"
    assert body.get_content() == (
        'Look: <img src="cid:image_frame" alt="frame" style="max-width: 600px; height: auto;">'
        "<br>\r\nDock &amp; Yard"
    )
    jpeg = cv2.imencode(".jpg", IMAGE, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    assert inline["Content-ID"] == "<image_frame>"
    assert inline.get_payload(decode=True) == jpeg
    assert (frame.get_filename(), frame.get_payload(decode=True)) == ("frame.jpg", jpeg)
    assert (notes.get_filename(), notes.get_payload(decode=True)) == ("notes.txt", b"Dock & Yard")


def test_email_v2_managed_provider_is_a_compile_error(outbound, mailbox):
    step = email_step(mailbox, 2)
    del step["email_provider"]  # Roboflow's default: its managed service
    with pytest.raises(ManifestError) as caught:
        compiled(step, *EMAIL_INPUTS)
    assert caught.value.place == "steps[0] 'notify' field 'email_provider'"
    assert caught.value.hint == (
        "set email_provider: Custom SMTP and give the step its own credentials"
    )


def test_email_v2_without_smtp_fields_is_an_error_status(outbound, mailbox):
    step = email_step(mailbox, 2, smtp_server=None)
    assert run(compiled(step, *EMAIL_INPUTS), **EMAIL_VALUES) == {
        "error_status": True,
        "throttling_status": False,
        "message": "Custom SMTP requires sender_email, smtp_server, and sender_email_password",
    }
    assert mailbox.messages == []


def test_email_wrong_password_is_an_error_status_without_the_password(outbound, mailbox, caplog):
    values = {**EMAIL_VALUES, "password": "wrong-secret"}
    result = run(compiled(email_step(mailbox), *EMAIL_INPUTS), **values)
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send e-mail. Internal error details: (535, b'Bad credentials')",
    }
    assert "wrong-secret" not in result["message"] + caplog.text
    assert mailbox.messages == []


def test_email_refused_connection(outbound, closed_port):
    step = email_step(Mailbox(port=closed_port))
    result = run(compiled(step, *EMAIL_INPUTS), **EMAIL_VALUES)
    assert result == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send e-mail. Internal error details: [Errno 111] Connection refused",
    }


def test_email_needs_a_receiver(outbound, mailbox):
    with pytest.raises(ManifestError, match="must have at least one receiver"):
        compiled(email_step(mailbox, receiver_email=[]), *EMAIL_INPUTS)


def test_email_fire_and_forget_and_cooldown(outbound, mailbox):
    workflow = compiled(
        email_step(mailbox, fire_and_forget=True, cooldown_seconds=600), *EMAIL_INPUTS
    )
    assert run(workflow, **EMAIL_VALUES) == BACKGROUND
    assert run(workflow, **EMAIL_VALUES) == THROTTLED
    assert mailbox.arrived.acquire(timeout=WAIT), "the e-mail never arrived"
    assert len(mailbox.messages) == 1


def test_a_wrong_server_certificate_is_refused(outbound, mailbox, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's authorities do not know ours
    result = run(compiled(email_step(mailbox), *EMAIL_INPUTS), **EMAIL_VALUES)
    assert result["error_status"] is True
    assert "CERTIFICATE_VERIFY_FAILED" in result["message"]
    assert mailbox.messages == []


def test_numpy_values_of_operations_are_sent_as_json(outbound, service):
    step = webhook(
        service.url,
        json_payload={"mean": "$inputs.values"},
        json_payload_operations={"mean": [{"type": "NumericSequenceAggregate", "function": "max"}]},
    )
    result = run(compiled(step, parameter("values")), values=np.array([1, 2, 3]).tolist())
    assert result == SENT
    assert service.received[0].body == b'{"mean": 3}'


def test_the_server_answers_403_with_the_operators_switch_in_the_hint(monkeypatch):
    from visionflow.server.errors import error_body, status_of

    monkeypatch.delenv(OUTBOUND_SWITCH, raising=False)
    with pytest.raises(OutboundSinkNotAllowedError) as caught:
        compiled(webhook("http://127.0.0.1:9"))
    assert status_of(caught.value) == 403
    assert error_body(caught.value)["error"] == {
        "code": "outbound_sink_not_allowed",
        "place": "steps[0] 'notify'",
        "message": "this step sends data to a webhook, off this machine, and outbound sinks "
        "are not enabled here",
        "hint": "the operator enables them by setting VISIONFLOW_ALLOW_OUTBOUND_SINKS=1 where "
        "visionflow runs (a document cannot)",
    }


# --- Roboflow's dataset upload, to a Roboflow-API-compatible server on 127.0.0.1 -------------


@pytest.fixture
def roboflow_api(service, monkeypatch) -> HTTPService:
    """The operator's service and key (a new key each test: workspaces are remembered)."""
    monkeypatch.setenv("VISIONFLOW_ROBOFLOW_API_URL", service.url)
    monkeypatch.setenv("VISIONFLOW_ROBOFLOW_API_KEY", f"KEY{uuid.uuid4().hex[:8]}")

    def answer(request: Received) -> tuple[int, dict]:
        if request.path.startswith("/?"):
            return 200, {"workspace": "my-ws"}
        if "/upload?" in request.path:
            return 200, {"success": True, "id": "IMG1"}
        return 200, {"success": True}

    service.answer = answer
    return service


def upload(version: int = 2, **fields: Any) -> dict:
    return {
        "type": f"roboflow_core/roboflow_dataset_upload@v{version}",
        "images": "$inputs.image",
        "target_project": "proj",
        "usage_quota_name": f"quota-{uuid.uuid4().hex[:8]}",  # each test its own counts
        "fire_and_forget": False,
        "image_name": "frame1",
        "registration_tags": ["a", "b"],
        "max_image_size": [256, 256],
        **fields,
    }


DETECTIONS = sv.Detections(
    xyxy=np.array([[10.0, 20.0, 110.0, 220.0], [300.0, 100.0, 500.0, 400.0]]),
    confidence=np.array([0.9, 0.5]),
    class_id=np.array([0, 1]),
    data={"class_name": np.array(["person", "rocket"]), "detection_id": np.array(["d1", "d2"])},
)
PREDICTIONS_INPUT = {
    "type": "WorkflowBatchInput",
    "name": "preds",
    "kind": ["object_detection_prediction"],
}


def key() -> str:
    return os.environ["VISIONFLOW_ROBOFLOW_API_KEY"]


def test_dataset_upload_registers_the_image_downscaled_with_tags_and_metadata(
    outbound, roboflow_api
):
    step = upload(metadata={"camera": "gate"})
    assert run(compiled(step)) == {
        "error_status": False,
        "message": "Successfully registered image",
    }
    ask, register = roboflow_api.received
    assert (ask.method, ask.path) == ("GET", f"/?api_key={key()}&nocache=true")
    assert register.method == "POST"
    assert register.path == (
        f"/dataset/proj/upload?api_key={key()}&batch=workflows_data_collector&tag=a&tag=b"
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in register.parts()}
    assert parts["name"].get_content() == "frame1.jpg"
    assert json.loads(parts["metadata"].get_content()) == {"camera": "gate"}
    assert parts["file"].get_filename() == "imageToUpload"
    assert parts["file"].get_content_type() == "image/jpeg"
    # 512 x 512 fits 256 x 256 at half size; JPEG quality 95 (v2's default): the same
    # bytes as Roboflow's engine uploaded for this image (31,976 bytes, sha256 d949b5b2...)
    expected = cv2.imencode(".jpg", cv2.resize(IMAGE, (256, 256)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert parts["file"].get_payload(decode=True) == expected[1].tobytes()


def test_dataset_upload_annotates_with_the_scaled_predictions(outbound, roboflow_api):
    step = upload(predictions="$inputs.preds")
    result = run(compiled(step, PREDICTIONS_INPUT), preds=[DETECTIONS])
    assert result == {
        "error_status": False,
        "message": "Successfully registered image and annotation",
    }
    annotate = roboflow_api.received[-1]
    assert (
        annotate.path
        == f"/dataset/proj/annotate/IMG1?api_key={key()}&name=frame1.json&prediction=true"
    )
    assert annotate.headers["Content-Type"] == "text/plain"
    # what Roboflow's engine sent for the same image and detections (boxes at half size)
    assert json.loads(annotate.body) == {
        "image": {"width": 256, "height": 256},
        "predictions": [
            {
                "width": 50.0,
                "height": 100.0,
                "x": 30.0,
                "y": 60.0,
                "confidence": 0.9,
                "class_id": 0,
                "class": "person",
                "detection_id": "d1",
            },
            {
                "width": 100.0,
                "height": 150.0,
                "x": 200.0,
                "y": 125.0,
                "confidence": 0.5,
                "class_id": 1,
                "class": "rocket",
                "detection_id": "d2",
            },
        ],
    }


def test_dataset_upload_v1_by_its_short_name_keeps_small_images_whole(outbound, roboflow_api):
    step = upload(1, type="RoboflowDatasetUpload", labeling_batch_prefix="cam")
    del step["max_image_size"], step["images"]
    step["image"] = "$inputs.image"  # Roboflow's other name for the field
    assert run(compiled(step))["message"] == "Successfully registered image"
    register = roboflow_api.received[-1]
    assert "&batch=cam&" in register.path
    jpeg = {p.get_param("name", header="content-disposition"): p for p in register.parts()}
    # v1: up to 512 x 512 (the image's own size) and JPEG quality 75
    expected = cv2.imencode(".jpg", IMAGE, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()
    assert jpeg["file"].get_payload(decode=True) == expected
    assert "metadata" not in jpeg


def test_dataset_upload_without_persisting_predictions_registers_the_image_only(
    outbound, roboflow_api
):
    step = upload(predictions="$inputs.preds", persist_predictions=False)
    result = run(compiled(step, PREDICTIONS_INPUT), preds=[DETECTIONS])
    assert result["message"] == "Successfully registered image"
    assert [r.method for r in roboflow_api.received] == ["GET", "POST"]


def test_dataset_upload_usage_quota(outbound, roboflow_api):
    workflow = compiled(upload(minutely_usage_limit=1))
    assert run(workflow)["message"] == "Successfully registered image"
    assert run(workflow) == {
        "error_status": False,
        "message": "Registration skipped due to usage quota exceeded",
    }
    # the workspace is asked once, the image registered once
    assert [r.method for r in roboflow_api.received] == ["GET", "POST"]


def test_a_duplicate_gives_its_quota_back(outbound, roboflow_api):
    roboflow_api.answer = lambda request: (
        (200, {"workspace": "my-ws"}) if request.method == "GET" else (200, {"duplicate": True})
    )
    workflow = compiled(upload(minutely_usage_limit=1))
    expected = {"error_status": False, "message": "Duplicated image"}
    assert [run(workflow), run(workflow)] == [expected, expected]


def test_dataset_upload_data_percentage_zero_skips_every_image(outbound, roboflow_api):
    assert run(compiled(upload(data_percentage=0))) == {
        "error_status": False,
        "message": "Registration skipped due to sampling settings",
    }
    assert roboflow_api.received == []


def test_dataset_upload_rejected_image(outbound, roboflow_api):
    roboflow_api.answer = lambda request: (
        (200, {"workspace": "my-ws"}) if request.method == "GET" else (200, {"success": False})
    )
    assert run(compiled(upload())) == {
        "error_status": True,
        "message": "Error while registration. Error type: UploadRejectedError. Details: "
        "Server rejected image: {'success': False}",
    }


def test_dataset_upload_errors_never_show_the_key(outbound, roboflow_api, caplog):
    roboflow_api.answer = lambda request: (403, {"error": "forbidden"})
    assert run(compiled(upload())) == {
        "error_status": True,
        "message": "Error while registration. Error type: ServiceError. Details: "
        "403 Client Error: Forbidden",
    }
    assert key() not in caplog.text


def test_dataset_upload_refused_connection(outbound, closed_port, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_ROBOFLOW_API_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("VISIONFLOW_ROBOFLOW_API_KEY", "KEY-refused")
    assert run(compiled(upload())) == {
        "error_status": True,
        "message": "Error while registration. Error type: ConnectError. Details: "
        "[Errno 111] Connection refused",
    }


def test_dataset_upload_in_the_background(outbound, roboflow_api):
    step = upload(fire_and_forget=True, labeling_batches_recreation_frequency="daily")
    assert run(compiled(step)) == {
        "error_status": False,
        "message": "Element registration happens in the background task",
    }
    _, register = roboflow_api.wait(2)
    today = datetime.date.today().strftime("%Y_%m_%d")
    assert f"&batch=workflows_data_collector_{today}&" in register.path


def test_dataset_upload_disabled(outbound, roboflow_api):
    assert run(compiled(upload(disable_sink=True))) == {
        "error_status": False,
        "message": "Sink was disabled by parameter `disable_sink`",
    }
    assert roboflow_api.received == []


def test_dataset_upload_needs_the_operators_key(outbound, monkeypatch):
    monkeypatch.delenv("VISIONFLOW_ROBOFLOW_API_KEY", raising=False)
    with pytest.raises(InitParameterError) as caught:
        compiled(upload())
    assert caught.value.place == "steps[0] 'notify'"
    assert "VISIONFLOW_ROBOFLOW_API_KEY" in caught.value.hint


def test_dataset_upload_annotation_outlines_masks_on_the_uploaded_image(outbound, roboflow_api):
    masks = np.zeros((2, 512, 512), bool)
    masks[0, 20:221, 10:111] = True
    masks[1, 100:401, 300:501] = True
    masks[1, 150:200, 350:400] = False  # a hole: the outer outline is kept
    segmented = sv.Detections(
        xyxy=DETECTIONS.xyxy,
        mask=masks,
        confidence=DETECTIONS.confidence,
        class_id=DETECTIONS.class_id,
        data=dict(DETECTIONS.data),
    )
    step = upload(predictions="$inputs.preds")
    inputs = {**PREDICTIONS_INPUT, "kind": ["instance_segmentation_prediction"]}
    assert run(compiled(step, inputs), preds=[segmented])["error_status"] is False
    # the outlines Roboflow's engine sent for the same masks (resized to 256 x 256)
    points = [p["points"] for p in json.loads(roboflow_api.received[-1].body)["predictions"]]
    assert points == [
        [{"x": 5.0, "y": 10.0}, {"x": 5.0, "y": 110.0}, {"x": 55.0, "y": 110.0},
         {"x": 55.0, "y": 10.0}],
        [{"x": 150.0, "y": 50.0}, {"x": 150.0, "y": 200.0}, {"x": 250.0, "y": 200.0},
         {"x": 250.0, "y": 50.0}],
    ]  # fmt: skip


# --- review of issue 12: secrets, background sends, cooldowns, project names ---------------


def test_webhook_header_value_that_cannot_be_sent_is_not_quoted(outbound, service, caplog):
    # httpx's own error quotes the value (b'Bearer hidden-token\nX'): a header may be a secret
    step = webhook(service.url, headers={"Authorization": "$inputs.auth"}, cooldown_seconds=0)
    workflow = compiled(step, parameter("auth"))
    for value in ("Bearer hidden-token\nX", "Bearer hidden-tokén"):
        assert run(workflow, auth=value) == {
            "error_status": True,
            "throttling_status": False,
            "message": "Failed to send webhook notification. Internal error details: header "
            "'Authorization' holds a line break or a character outside printable ASCII",
        }
    assert service.received == []
    assert "hidden-tok" not in caplog.text


def test_slack_token_that_cannot_be_sent_is_not_quoted(outbound, slack_api, caplog):
    workflow = compiled(slack(cooldown_seconds=0), parameter("token"), parameter("labels"))
    assert run(workflow, token="xoxb-hidden\r\nX", labels=[]) == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send Slack notification. Internal error details: header "
        "'Authorization' holds a line break or a character outside printable ASCII",
    }
    assert slack_api.received == []
    assert "xoxb-hidden" not in caplog.text


def test_request_logs_never_show_query_values(outbound, roboflow_api, caplog):
    # httpx logs each request's URL at INFO: the webhook's query and Roboflow's api_key
    caplog.set_level(logging.INFO)
    step = webhook(roboflow_api.url + "/hook", query_parameters={"api_key": "$inputs.key"})
    run(compiled(step, parameter("key")), key="hook-secret")
    assert run(compiled(upload()))["message"] == "Successfully registered image"
    assert len(roboflow_api.received) == 3
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests == [
        f'HTTP Request: POST {roboflow_api.url}/hook?[query hidden] "HTTP/1.0 200 OK"',
        f'HTTP Request: GET {roboflow_api.url}/?[query hidden] "HTTP/1.0 200 OK"',
        f"HTTP Request: POST {roboflow_api.url}/dataset/proj/upload?[query hidden] "
        '"HTTP/1.0 200 OK"',
    ]
    assert "hook-secret" not in caplog.text and key() not in caplog.text


def test_background_sends_are_bounded():
    from visionflow.blocks.roboflow.outbound import Background

    pool = Background(workers=1, pending=1)
    started, release, done = threading.Event(), threading.Event(), threading.Semaphore(0)

    def blocking() -> tuple[bool, str]:
        started.set()
        release.wait()
        done.release()
        return False, "sent"

    def failing() -> tuple[bool, str]:
        done.release()
        raise RuntimeError("a send that raises does not stop its worker")

    assert pool.submit(blocking)
    assert started.wait(WAIT)  # the worker is busy
    assert pool.submit(failing)  # one waits
    assert not pool.submit(blocking)  # the next is refused, not queued
    release.set()
    for _ in range(2):
        assert done.acquire(timeout=WAIT)
    assert pool.submit(lambda: (done.release(), (False, "sent"))[1])  # the worker lives on
    assert done.acquire(timeout=WAIT)
    assert all(thread.daemon for thread in pool.threads)


def test_a_full_background_queue_is_an_error_status(outbound, service, monkeypatch):
    from visionflow.blocks.roboflow import outbound as shared

    # a pool that takes no more sends (as one whose 64 places are taken)
    monkeypatch.setattr(shared, "BACKGROUND", shared.Background(workers=1, pending=0))
    workflow = compiled(webhook(service.url, fire_and_forget=True, cooldown_seconds=600))
    refused = {
        "error_status": True,
        "throttling_status": False,
        "message": "Notification not sent: too many notifications are waiting to be sent "
        "in the background",
    }
    assert run(workflow) == refused
    assert run(workflow) == refused  # a refused send does not start the cooldown
    assert service.received == []


def test_the_interpreter_exits_with_a_background_send_in_flight(tmp_path):
    # a webhook that never answers, asked to wait an hour: the process still ends at once
    script = tmp_path / "exits.py"
    script.write_text(
        "import os, socket, numpy\n"
        "os.environ['VISIONFLOW_ALLOW_OUTBOUND_SINKS'] = '1'\n"
        "os.environ['VISIONFLOW_OUTBOUND_SINKS_TO_LOCAL_ADDRESSES'] = '1'\n"
        "from visionflow import Workflow\n"
        "silent = socket.socket(); silent.bind(('127.0.0.1', 0)); silent.listen(8)\n"
        "url = 'http://127.0.0.1:%d' % silent.getsockname()[1]\n"
        "step = {'name': 's', 'type': 'roboflow_core/webhook_sink@v1', 'url': url,\n"
        "        'method': 'GET', 'request_timeout': 3600, 'cooldown_seconds': 0}\n"
        "w = Workflow.compile({'version': '1.4.0', 'steps': [step],\n"
        "    'inputs': [{'type': 'WorkflowImage', 'name': 'image'}],\n"
        "    'outputs': [{'type': 'JsonField', 'name': 'o', 'selector': '$steps.s.*'}]})\n"
        "for _ in range(3):\n"
        "    print(w.run(image=numpy.zeros((8, 8, 3), numpy.uint8))[0]['o']['message'])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Notification sent in the background task\n" * 3


def test_cooldown_is_claimed_at_once():
    # two runs of one step at the same time: only one may pass the cooldown
    from visionflow.blocks.roboflow.outbound import Cooldown

    store = Cooldown()
    undo = store.claim("k", 600)
    assert undo is not None
    assert store.claim("k", 600) is None  # claimed before anything was sent
    undo()  # the first sent nothing (its message failed): the cooldown is as before
    assert store.claim("k", 600) is not None
    assert store.claim("k", 0) is not None  # no cooldown: always


@pytest.mark.parametrize("project", ["proj/../../other", "proj?x=1", "..", "a b", ""])
def test_dataset_upload_refuses_a_project_that_is_not_a_name(outbound, roboflow_api, project):
    # the key is the operator's: a document may not steer it to another path of the service
    assert run(compiled(upload(target_project="$inputs.p"), parameter("p")), p=project) == {
        "error_status": True,
        "message": "Error while registration. Error type: ValueError. Details: "
        f"target_project {project!r} is not a project name (letters, digits, '-', '_', '.')",
    }
    assert roboflow_api.received == []


# --- destinations a document names: local and private addresses ----------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:{port}/x", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::ffff:127.0.0.1]:{port}/", "::ffff:127.0.0.1"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://0.0.0.0:{port}/", "0.0.0.0"),
    ],
)
def test_a_webhook_to_a_local_address_needs_the_operators_leave(
    outbound, service, monkeypatch, url, address
):
    # the words of Roboflow's engine with ALLOW_WEBHOOK_WORKFLOWS_SINK_TO_NON_GLOBAL_ADDRESSES
    # =False (its guard); here the guard is on unless the operator turns it off
    monkeypatch.delenv(LOCAL_SWITCH)
    port = service.url.rsplit(":", 1)[1]
    assert run(compiled(webhook(url.format(port=port)))) == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send webhook notification. Internal error details: "
        f"URL points to non-global address '{address}'.",
    }
    assert service.received == []


def test_a_webhook_to_a_name_of_a_local_address_is_refused(outbound, service, monkeypatch):
    monkeypatch.delenv(LOCAL_SWITCH)
    port = service.url.rsplit(":", 1)[1]
    # Roboflow's engine's words alike; the first address the resolver gives is named
    assert run(compiled(webhook(f"http://localhost:{port}/")))["message"] in [
        "Failed to send webhook notification. Internal error details: Host 'localhost' "
        f"resolves to non-global address '{address}'."
        for address in ("127.0.0.1", "::1")
    ]
    assert service.received == []


def test_a_webhook_url_must_be_http(outbound, service):
    assert run(compiled(webhook("ftp://example.com/x")))["message"] == (
        "Failed to send webhook notification. Internal error details: Webhook requires an "
        "HTTP(S) URL with a valid host"
    )


def test_an_email_to_a_local_server_needs_the_operators_leave(outbound, mailbox, monkeypatch):
    monkeypatch.delenv(LOCAL_SWITCH)
    assert run(compiled(email_step(mailbox), *EMAIL_INPUTS), **EMAIL_VALUES) == {
        "error_status": True,
        "throttling_status": False,
        "message": "Failed to send e-mail. Internal error details: "
        "URL points to non-global address '127.0.0.1'.",
    }
    assert mailbox.messages == []


def test_a_checked_address_is_the_only_one_connected_to(outbound, service):
    # what a public host gets: the request goes to the address checked, the host named
    import httpx

    from visionflow.blocks.roboflow.outbound_http import request

    port = service.url.rsplit(":", 1)[1]
    fields = {"method": "GET", "query_parameters": {}, "request_timeout": 5}
    url = httpx.URL(f"http://localhost:{port}/x")
    request(fields, url, "127.0.0.1", {"X-A": "1"}, {})
    assert (service.received[0].path, service.received[0].headers["Host"]) == (
        "/x",
        f"localhost:{port}",
    )
    assert service.received[0].headers["X-A"] == "1"
    service.answer = lambda received: (302, {})
    with pytest.raises(Exception, match=r"^Webhook redirects are not allowed$"):
        request(fields, url, "127.0.0.1", {}, {})


def test_a_checked_address_over_tls_checks_the_hosts_certificate(certificate, monkeypatch):
    import httpx

    from visionflow.blocks.roboflow.outbound_http import request

    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # not used: no proxy then
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        fields = {"method": "GET", "query_parameters": {}, "request_timeout": 5}
        port = server.server_port
        request(fields, httpx.URL(f"https://localhost:{port}/"), "127.0.0.1", {}, {})
        assert hosts == [f"localhost:{port}"]
        with pytest.raises(httpx.ConnectError, match="Hostname mismatch"):  # not its name
            request(fields, httpx.URL(f"https://other.test:{port}/"), "127.0.0.1", {}, {})
    finally:
        server.shutdown()
        server.server_close()


def test_smtp_to_a_checked_address_checks_the_hosts_certificate(mailbox):
    from visionflow.blocks.roboflow.outbound_email import PinnedSMTP

    context = ssl.create_default_context()
    with PinnedSMTP("localhost", mailbox.port, "127.0.0.1", context=context, timeout=5) as smtp:
        assert smtp.ehlo()[0] == 250
    with pytest.raises(ssl.SSLError):
        PinnedSMTP("other.test", mailbox.port, "127.0.0.1", context=context, timeout=5)
