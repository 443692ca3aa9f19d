"""Roboflow's Twilio SMS sinks (issue 12): v1, and v2's "Custom Twilio", through Twilio's
Messages API with httpx. Refused unless the operator enables outbound sinks
(``outbound.py``); Twilio's address is the operator's to set (``VISIONFLOW_TWILIO_API_URL``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import field_validator

from visionflow.blocks.api import BlockManifest, Selector
from visionflow.blocks.roboflow.outbound import (
    MANAGED,
    SENT,
    SHARED_COOLDOWN,
    TWILIO_API_URL,
    Notification,
    NotificationFields,
    NotSent,
    Send,
    ServiceError,
    bounded_cooldown,
    failed,
    refuse_managed,
    render,
    secret_key,
    service_url,
)

if TYPE_CHECKING:
    import httpx  # imported when a step sends: loading the blocks stays light

TRUNCATION_MARKER = "[...]"
SMS_LIMIT, MMS_LIMIT = 160, 1600  # characters (Twilio v2)


def _send_sms(
    sid: str, token: str, sender: str, receiver: str, text: str, media: list[str] | None
) -> tuple[bool, str]:
    import httpx

    form: dict[str, Any] = {"To": receiver, "From": sender, "Body": text}
    if media:
        form["MediaUrl"] = media
    try:
        response = httpx.post(
            f"{service_url(TWILIO_API_URL)}/2010-04-01/Accounts/{quote(sid, safe='')}"
            "/Messages.json",
            data=form,
            auth=(sid, token),
            headers={"Accept": "application/json"},
            timeout=30,
        )
        if response.status_code >= 400:
            raise ServiceError(_twilio_error(response))
    except Exception as error:
        return failed("Twilio SMS notification", error)
    return False, SENT


def _twilio_error(response: httpx.Response) -> str:
    try:
        said = response.json().get("message") or response.reason_phrase
    except (ValueError, AttributeError):
        said = response.reason_phrase
    return f"HTTP {response.status_code} error: Unable to create record: {said}"


def _truncated(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1 - len(TRUNCATION_MARKER)]} {TRUNCATION_MARKER}"


class TwilioSMSNotification(Notification):
    """Sends ``message`` (its ``{{ $parameters.name }}`` filled in, cut to ``length_limit``
    characters ending in ``[...]``) as an SMS through Twilio's Messages API."""

    class Manifest(NotificationFields):
        type: Literal["roboflow_core/twilio_sms_notification@v1"]
        twilio_account_sid: Selector(["string", "secret"]) | str  # type: ignore[valid-type]
        twilio_auth_token: Selector(["string", "secret"]) | str  # type: ignore[valid-type]
        sender_number: Selector(["string"]) | str  # type: ignore[valid-type]
        receiver_number: Selector(["string"]) | str  # type: ignore[valid-type]
        cooldown_session_key: str
        length_limit: int | Selector(["integer"]) = 160  # type: ignore[valid-type]

        cooldown_in_bounds = field_validator("cooldown_seconds")(bounded_cooldown)

        @field_validator("length_limit")
        @classmethod
        def _positive(cls, value: Any) -> Any:
            if isinstance(value, int) and value <= 0:
                raise ValueError("Length limit for SMS must be greater than 0")
            return value

    service = "Twilio"

    def run(self, **fields: Any) -> dict[str, Any]:
        sid, token = fields["twilio_account_sid"], fields["twilio_auth_token"]

        def prepare() -> Send:
            text = render(fields["message"], fields["message_parameters"], self._chains)
            text = _truncated(text, fields["length_limit"])
            sender, receiver = fields["sender_number"], fields["receiver_number"]
            return lambda: _send_sms(sid, token, sender, receiver, text, None)

        return self.deliver(
            prepare,
            disable_sink=fields["disable_sink"],
            cooldown_seconds=fields["cooldown_seconds"],
            fire_and_forget=fields["fire_and_forget"],
            cooldown=(
                SHARED_COOLDOWN,
                ("twilio", secret_key(sid, token), fields["cooldown_session_key"]),
            ),
        )


class TwilioSMSNotificationV2(Notification):
    """Sends ``message`` (up to 1,600 characters) as an SMS, or an MMS with ``media_url``
    (URLs), through Twilio's Messages API, with ``sms_provider: Custom Twilio`` (the only
    provider here: Roboflow's managed one sends through Roboflow's platform). An image given
    as ``media_url`` is refused (``error_status``): Roboflow uploads it to a public file
    host, which visionflow does not; a message over 160 characters is sent as it is
    (Roboflow adds a placeholder image from that host to make it an MMS)."""

    class Manifest(NotificationFields):
        type: Literal["roboflow_core/twilio_sms_notification@v2"]
        sms_provider: Literal["Roboflow Managed API Key", "Custom Twilio"] = MANAGED
        receiver_number: Selector(["string"]) | str  # type: ignore[valid-type]
        media_url: (
            Selector(["string", "list_of_values", "image"]) | str | list[str] | None  # type: ignore[valid-type]
        ) = None
        twilio_account_sid: Selector(["string", "secret"]) | str | None = None  # type: ignore[valid-type]
        twilio_auth_token: Selector(["string", "secret"]) | str | None = None  # type: ignore[valid-type]
        sender_number: Selector(["string"]) | str | None = None  # type: ignore[valid-type]

    service = "Twilio"

    def setup(self, manifest: BlockManifest) -> None:
        refuse_managed(manifest, "sms_provider", "SMS", "Custom Twilio")
        super().setup(manifest)

    def run(self, **fields: Any) -> dict[str, Any]:
        def prepare() -> Send:
            sid, token = fields["twilio_account_sid"], fields["twilio_auth_token"]
            if not sid or not token or not fields["sender_number"]:
                raise NotSent(
                    "Custom Twilio requires twilio_account_sid, twilio_auth_token, "
                    "and sender_number"
                )
            media = _media_urls(fields["media_url"])
            text = render(fields["message"], fields["message_parameters"], self._chains)
            text = _truncated(text, MMS_LIMIT)
            sender, receiver = fields["sender_number"], fields["receiver_number"]
            return lambda: _send_sms(sid, token, sender, receiver, text, media)

        return self.deliver(
            prepare,
            disable_sink=fields["disable_sink"],
            cooldown_seconds=fields["cooldown_seconds"],
            fire_and_forget=fields["fire_and_forget"],
        )


def _media_urls(media: Any) -> list[str] | None:
    items = media if isinstance(media, list | tuple) else [] if media is None else [media]
    if any(not isinstance(item, str) for item in items):
        raise NotSent(
            "media_url holds an image; visionflow sends only media URLs (it does not "
            "upload images to a public file host as Roboflow does)"
        )
    return list(items) or None
