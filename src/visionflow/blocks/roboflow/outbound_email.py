"""Roboflow's e-mail notification sinks (issue 12), v1 and v2's "Custom SMTP", sent with
the standard library's smtplib over TLS (SMTP_SSL, certificates checked against the
system's authorities, or ``SSL_CERT_FILE``). Refused unless the operator enables outbound
sinks (``outbound.py``).

Unlike Roboflow's block, Cc and Bcc receivers get the e-mail (Roboflow hands it only to the
``To`` receivers) and no ``Bcc`` header is written (it would show them to everyone).
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email import encoders
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, Literal

import cv2
from pydantic import Field, field_validator

from visionflow.blocks.api import BlockManifest, Selector
from visionflow.blocks.roboflow.outbound import (
    MANAGED,
    SENT,
    Notification,
    NotificationFields,
    NotSent,
    Send,
    failed,
    public_address,
    refuse_managed,
    render,
    render_with,
)
from visionflow.data.image import WorkflowImage

JPEG_QUALITY = 90  # Roboflow's, for images attached or shown in the e-mail
SMTP_TIMEOUT = 30  # seconds
Receivers = str | list[str]


def _receivers(value: Any) -> Any:
    if isinstance(value, list) and not value:
        raise ValueError("E-mail notification must have at least one receiver defined.")
    return value


class _EmailFields(NotificationFields):
    subject: str
    receiver_email: Selector(["string", "list_of_values"]) | Receivers  # type: ignore[valid-type]
    cc_receiver_email: Selector(["string", "list_of_values"]) | Receivers | None = None  # type: ignore[valid-type]
    bcc_receiver_email: Selector(["string", "list_of_values"]) | Receivers | None = None  # type: ignore[valid-type]
    smtp_port: int = 465

    receivers_given = field_validator("receiver_email")(_receivers)


class EmailNotification(Notification):
    """Sends ``message`` (its ``{{ $parameters.name }}`` filled in) as plain text to
    ``receiver_email`` (and Cc, Bcc) through the SMTP server ``smtp_server:smtp_port``
    (TLS), logged in as ``sender_email``; ``attachments`` (file name -> text or bytes) are
    attached."""

    class Manifest(_EmailFields):
        type: Literal["roboflow_core/email_notification@v1"]
        sender_email: Selector(["string"]) | str  # type: ignore[valid-type]
        attachments: dict[str, Selector(["string", "bytes"])] = Field(  # type: ignore[valid-type]
            default_factory=dict
        )
        smtp_server: Selector(["string"]) | str  # type: ignore[valid-type]
        sender_email_password: Selector(["string", "secret"]) | str  # type: ignore[valid-type]

    service = "an e-mail server"

    def run(self, **fields: Any) -> dict[str, Any]:
        def prepare() -> Send:
            text = render(fields["message"], fields["message_parameters"], self._chains)
            email = _email(fields, MIMEMultipart())
            email.attach(MIMEText(text, "plain"))
            _attach(email, {name: _bytes(v) for name, v in fields["attachments"].items()})
            return lambda: _send(fields, email)

        return _deliver(self, fields, prepare)


class EmailNotificationV2(Notification):
    """Sends ``message`` as an HTML e-mail through the SMTP server, as v1 does, with
    ``email_provider: Custom SMTP`` (the only provider here: Roboflow's managed one sends
    through Roboflow's platform): parameters escaped, line breaks kept, an image parameter
    shown in it (attached inline, JPEG), and ``attachments`` that may be images (sent as
    ``<name>.jpg``)."""

    class Manifest(_EmailFields):
        type: Literal["roboflow_core/email_notification@v2"]
        email_provider: Literal["Roboflow Managed API Key", "Custom SMTP"] = MANAGED
        sender_email: Selector(["string"]) | str | None = None  # type: ignore[valid-type]
        smtp_server: Selector(["string"]) | str | None = None  # type: ignore[valid-type]
        sender_email_password: Selector(["string", "secret"]) | str | None = None  # type: ignore[valid-type]
        attachments: dict[str, Selector(["string", "bytes", "image"])] = Field(  # type: ignore[valid-type]
            default_factory=dict
        )

    service = "an e-mail server"

    def setup(self, manifest: BlockManifest) -> None:
        refuse_managed(manifest, "email_provider", "e-mail", "Custom SMTP")
        super().setup(manifest)

    def run(self, **fields: Any) -> dict[str, Any]:
        def prepare() -> Send:
            if not all(fields[f] for f in ("sender_email", "smtp_server", "sender_email_password")):
                raise NotSent(
                    "Custom SMTP requires sender_email, smtp_server, and sender_email_password"
                )
            inline: dict[str, bytes] = {}
            text = render_with(
                fields["message"],
                fields["message_parameters"],
                self._chains,
                lambda name, value: _html_value(name, value, inline),
            )
            email = _email(fields, MIMEMultipart("related"))
            email.attach(MIMEText(text.replace("\n", "<br>\n"), "html"))
            for cid, jpeg in inline.items():
                image = MIMEImage(jpeg)
                image.add_header("Content-ID", f"<{cid}>")
                image.add_header("Content-Disposition", "inline")
                email.attach(image)
            _attach(email, dict(_attachment_v2(n, v) for n, v in fields["attachments"].items()))
            return lambda: _send(fields, email)

        return _deliver(self, fields, prepare)


def _deliver(sink: Notification, fields: dict[str, Any], prepare) -> dict[str, Any]:
    return sink.deliver(
        prepare,
        disable_sink=fields["disable_sink"],
        cooldown_seconds=fields["cooldown_seconds"],
        fire_and_forget=fields["fire_and_forget"],
    )


def _listed(value: Any) -> list[str]:
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]


def _email(fields: dict[str, Any], email: MIMEMultipart) -> MIMEMultipart:
    email["From"] = fields["sender_email"]
    email["To"] = ",".join(_listed(fields["receiver_email"]))
    if cc := _listed(fields["cc_receiver_email"]):
        email["Cc"] = ",".join(cc)
    email["Subject"] = fields["subject"]
    return email


def _attach(email: MIMEMultipart, attachments: dict[str, bytes]) -> None:
    for name, content in attachments.items():
        part = MIMEBase("application", "octet-stream")
        part.set_payload(content)
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=name)
        email.attach(part)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _jpeg(image: WorkflowImage) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image.numpy, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return encoded.tobytes()


def _attachment_v2(name: str, value: Any) -> tuple[str, bytes]:
    if isinstance(value, WorkflowImage):
        suffixed = name if name.lower().endswith((".jpg", ".jpeg")) else f"{name}.jpg"
        return suffixed, _jpeg(value)
    return name, _bytes(value)


def _html_value(name: str, value: Any, inline: dict[str, bytes]) -> str:
    if isinstance(value, WorkflowImage):
        cid = f"image_{name}"
        inline[cid] = _jpeg(value)
        return f'<img src="cid:{cid}" alt="{name}" style="max-width: 600px; height: auto;">'
    return html.escape(str(value))


def _send(fields: dict[str, Any], email: MIMEMultipart) -> tuple[bool, str]:
    sender = fields["sender_email"]
    receivers = [
        *_listed(fields["receiver_email"]),
        *_listed(fields["cc_receiver_email"]),
        *_listed(fields["bcc_receiver_email"]),
    ]
    try:
        host, port = fields["smtp_server"], fields["smtp_port"]
        context = ssl.create_default_context()
        address = public_address(host, port)
        with PinnedSMTP(host, port, address, context=context, timeout=SMTP_TIMEOUT) as server:
            server.login(sender, fields["sender_email_password"])
            server.sendmail(sender, receivers, email.as_string())
    except Exception as error:
        return failed("e-mail", error)
    return False, SENT


class PinnedSMTP(smtplib.SMTP_SSL):
    """SMTP over TLS to ``address`` (checked by ``public_address``; None: ``host`` as
    usual), the server's certificate checked for ``host``."""

    def __init__(self, host: str, port: int, address: str | None, **options: Any):
        self._address = address  # before connecting, which the constructor does
        super().__init__(host, port, **options)

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        # SMTP_SSL's TLS names the host given to connect (self._host), not this address
        return super()._get_socket(self._address or host, port, timeout)
