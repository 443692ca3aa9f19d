"""Roboflow's webhook and Slack sinks (issue 12), sent with httpx. Refused unless the
operator enables outbound sinks (``outbound.py``); Slack's address is the operator's to set
(``VISIONFLOW_SLACK_API_URL``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from visionflow.blocks.api import BlockManifest, Selector
from visionflow.blocks.roboflow.outbound import (
    SENT,
    SHARED_COOLDOWN,
    SLACK_API_URL,
    Notification,
    NotificationFields,
    OutboundSink,
    Scalar,
    Send,
    ServiceError,
    apply_chains,
    bounded_cooldown,
    checked,
    compile_chains,
    failed,
    public_address,
    render,
    secret_key,
    sendable,
    service_url,
)

if TYPE_CHECKING:
    import httpx  # imported when a step sends: loading the blocks stays light


# --- webhook --------------------------------------------------------------------------------

_PAYLOADS = ("json_payload", "multi_part_encoded_files", "form_data")


class WebhookSink(OutboundSink):
    """Sends an HTTP request (GET, POST or PUT) with ``query_parameters``, ``headers`` and a
    body: ``multi_part_encoded_files`` (with ``form_data``) as multipart, else ``form_data``
    as a form, else ``json_payload`` as JSON (``{}`` when empty, as Roboflow sends it). Each
    payload's values may go through Roboflow operations (``*_operations``). A status of 400
    or more, or no answer within ``request_timeout`` seconds, is ``error_status`` True."""

    class Manifest(BlockManifest):
        type: Literal["roboflow_core/webhook_sink@v1"]
        url: Selector(["string"]) | str  # type: ignore[valid-type]
        method: Literal["GET", "POST", "PUT"]
        query_parameters: dict[str, Selector() | Scalar | list[Scalar]] = Field(
            default_factory=dict
        )
        headers: dict[str, Selector() | Scalar] = Field(default_factory=dict)
        json_payload: dict[str, Selector() | Scalar | dict | list] = Field(default_factory=dict)
        json_payload_operations: dict[str, list[Any]] = Field(default_factory=dict)
        multi_part_encoded_files: dict[str, Selector() | Scalar | dict | list] = Field(
            default_factory=dict
        )
        multi_part_encoded_files_operations: dict[str, list[Any]] = Field(default_factory=dict)
        form_data: dict[str, Selector() | Scalar | dict | list] = Field(default_factory=dict)
        form_data_operations: dict[str, list[Any]] = Field(default_factory=dict)
        request_timeout: int | Selector(["integer"]) = 2  # type: ignore[valid-type]
        fire_and_forget: bool | Selector(["boolean"]) = True  # type: ignore[valid-type]
        disable_sink: bool | Selector(["boolean"]) = False  # type: ignore[valid-type]
        cooldown_seconds: int | Selector(["integer"]) = 5  # type: ignore[valid-type]

    service = "a webhook"
    _chains: dict[str, dict[str, Any]] = {}

    def setup(self, manifest: BlockManifest) -> None:
        super().setup(manifest)
        self._chains = {
            name: compile_chains(getattr(manifest, f"{name}_operations"), f"{name}_operations")
            for name in _PAYLOADS
        }

    def run(self, **fields: Any) -> dict[str, Any]:
        def prepare() -> Send:
            payloads = {name: apply_chains(fields[name], self._chains[name]) for name in _PAYLOADS}
            return lambda: _send_webhook(fields, **payloads)

        return self.deliver(
            prepare,
            disable_sink=fields["disable_sink"],
            cooldown_seconds=fields["cooldown_seconds"],
            fire_and_forget=fields["fire_and_forget"],
        )


def _send_webhook(
    fields: dict[str, Any],
    json_payload: dict[str, Any],
    multi_part_encoded_files: dict[str, Any],
    form_data: dict[str, Any],
) -> tuple[bool, str]:
    import httpx

    try:
        body: dict[str, Any] = {"data": _form(form_data)} if form_data else {}
        headers = sendable({name: _text(value) for name, value in fields["headers"].items()})
        if multi_part_encoded_files:
            body["files"] = {n: (n, _file(v)) for n, v in multi_part_encoded_files.items()}
        elif not form_data:  # requests' rule: a JSON body only without form or files
            body["content"] = json.dumps(json_payload, allow_nan=False, default=_plain)
            headers.setdefault("Content-Type", "application/json")
        url = httpx.URL(fields["url"])
        if url.scheme not in ("http", "https") or not url.host:
            raise ServiceError("Webhook requires an HTTP(S) URL with a valid host")
        port = url.port or (443 if url.scheme == "https" else 80)
        request(fields, url, public_address(url.host, port), headers, body)
    except Exception as error:  # any failure is the step's error_status, not a failed run
        return failed("webhook notification", error)
    return False, SENT


def request(
    fields: dict[str, Any],
    url: httpx.URL,
    address: str | None,
    headers: dict[str, str],
    body: dict[str, Any],
) -> None:
    """Sends the webhook's request. ``address`` None: as Roboflow's requests does (redirects
    followed, proxies from the environment). Else to that checked address only: the host
    named in the Host header and in TLS (SNI, certificate), no proxy, no redirect."""
    import httpx

    extensions: dict[str, Any] = {}
    if address is not None:
        headers = {"Host": url.netloc.decode("ascii"), **headers}
        extensions["sni_hostname"] = url.host
        url = url.copy_with(host=address)
    options: dict[str, Any] = {"follow_redirects": address is None}
    if address is not None:  # no proxy from the environment; its certificates still count
        options.update(trust_env=False, verify=httpx.create_ssl_context())
    with httpx.Client(**options) as client:
        response = client.request(
            fields["method"],
            url,
            params=_form(fields["query_parameters"]),
            headers=headers,
            timeout=fields["request_timeout"],
            extensions=extensions,
            **body,
        )
    if address is not None and 300 <= response.status_code < 400:
        raise ServiceError("Webhook redirects are not allowed")  # Roboflow's guard's words
    checked(response)


def _text(value: Any) -> str:
    # requests writes True as "True" (httpx would write "true")
    return value if isinstance(value, str) else str(value)


def _form(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: [_text(v) for v in value] if isinstance(value, list | tuple) else _text(value)
        for name, value in values.items()
    }


def _file(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | int | float):
        return str(value).encode("utf-8")
    raise TypeError(
        f"a {type(value).__name__} cannot be sent as a file; convert it first "
        "(e.g. with the operation ConvertImageToJPEG)"
    )


def _plain(value: Any) -> Any:
    """numpy values (what operations may give) as JSON values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# --- Slack ----------------------------------------------------------------------------------


class SlackNotification(Notification):
    """Posts ``message`` (its ``{{ $parameters.name }}`` filled in) to a Slack ``channel``
    (chat.postMessage); with ``attachments`` (name -> text or bytes) the files are uploaded
    (files.getUploadURLExternal, the upload, files.completeUploadExternal) with the message
    as their comment. Slack's answer ``ok: false`` is ``error_status`` True with its error."""

    class Manifest(NotificationFields):
        type: Literal["roboflow_core/slack_notification@v1"]
        slack_token: Selector(["string", "secret"]) | str  # type: ignore[valid-type]
        channel: Selector(["string"]) | str  # type: ignore[valid-type]
        attachments: dict[str, Selector(["string", "bytes"])] = Field(  # type: ignore[valid-type]
            default_factory=dict
        )
        cooldown_session_key: str

        cooldown_in_bounds = field_validator("cooldown_seconds")(bounded_cooldown)

    service = "Slack"

    def run(self, **fields: Any) -> dict[str, Any]:
        def prepare() -> Send:
            text = render(fields["message"], fields["message_parameters"], self._chains)
            return lambda: _send_slack(fields, text)

        key = ("slack", secret_key(fields["slack_token"]), fields["cooldown_session_key"])
        return self.deliver(
            prepare,
            disable_sink=fields["disable_sink"],
            cooldown_seconds=fields["cooldown_seconds"],
            fire_and_forget=fields["fire_and_forget"],
            cooldown=(SHARED_COOLDOWN, key),
        )


def _send_slack(fields: dict[str, Any], text: str) -> tuple[bool, str]:
    import httpx

    try:
        with httpx.Client(
            base_url=service_url(SLACK_API_URL) + "/",
            headers=sendable({"Authorization": f"Bearer {fields['slack_token']}"}),
            timeout=30,
        ) as client:
            channel, attachments = fields["channel"], fields["attachments"]
            if not attachments:
                _slack_call(client, "chat.postMessage", json={"channel": channel, "text": text})
            else:
                _slack_upload(client, channel, text, attachments)
    except Exception as error:
        return failed("Slack notification", error)
    return False, SENT


def _slack_call(client: httpx.Client, method: str, **body: Any) -> dict[str, Any]:
    response = client.post(method, **body)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if answer.get("ok"):
        return answer
    if answer.get("error"):  # Slack says why
        raise ServiceError(answer["error"])
    checked(response)
    raise ServiceError("Not Available.")


def _slack_upload(
    client: httpx.Client, channel: str, text: str, attachments: dict[str, Any]
) -> None:
    import httpx

    uploaded = []
    for title, content in attachments.items():
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        # the file name Slack's SDK gives content uploaded without one
        form = {"filename": "Uploaded file", "length": len(data)}
        target = _slack_call(client, "files.getUploadURLExternal", data=form)
        # the upload address is Slack's to give; it takes the bytes, without the token
        checked(
            httpx.post(
                target["upload_url"],
                content=data,
                headers={"Content-Type": "application/octet-stream"},
                timeout=30,
            )
        )
        uploaded.append({"id": target["file_id"], "title": title})
    _slack_call(
        client,
        "files.completeUploadExternal",
        data={"files": json.dumps(uploaded), "channel_id": channel, "initial_comment": text},
    )
