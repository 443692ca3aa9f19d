"""What Roboflow's outbound sinks share (issue 12): the operator's switch, the service
addresses, cooldown, fire-and-forget and message templates.

Sending data off the machine is the operator's decision, never the document's: every
outbound sink is refused at compile time (and again when it runs) unless the environment
variable ``VISIONFLOW_ALLOW_OUTBOUND_SINKS`` is ``1`` where visionflow runs. A destination a
document names (a webhook's URL, an SMTP server) must be a public address unless the
operator also sets ``VISIONFLOW_OUTBOUND_SINKS_TO_LOCAL_ADDRESSES=1``. Secrets given to a
sink (tokens, passwords) are never logged nor put in outputs or errors.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import roboflow_operations
from visionflow.errors import ManifestError, OutboundSinkNotAllowedError

if TYPE_CHECKING:
    import httpx

OUTBOUND_SWITCH = "VISIONFLOW_ALLOW_OUTBOUND_SINKS"
# where a document names the destination (webhook, SMTP server), a local or private address
# (this machine, its network, cloud metadata) is refused unless the operator allows it
LOCAL_SWITCH = "VISIONFLOW_OUTBOUND_SINKS_TO_LOCAL_ADDRESSES"
# the services' addresses, the operator's to change (a relay, a test server on 127.0.0.1)
SLACK_API_URL = ("VISIONFLOW_SLACK_API_URL", "https://slack.com/api")
TWILIO_API_URL = ("VISIONFLOW_TWILIO_API_URL", "https://api.twilio.com")

# Roboflow's messages, word for word: a workflow may branch on them
SENT = "Notification sent successfully"
IN_BACKGROUND = "Notification sent in the background task"
COOLDOWN = "Sink cooldown applies"
DISABLED = "Sink was disabled by parameter `disable_sink`"
BACKGROUND_FULL = (
    "Notification not sent: too many notifications are waiting to be sent in the background"
)

# {{ $parameters.name }} in a message (Roboflow's template syntax)
PARAMETER = re.compile(r"({{\s*\$parameters\.(\w+)\s*}})")

Send = Callable[[], tuple[bool, str]]
"""Sends one notification: (error_status, message); never raises."""

_log = logging.getLogger(__name__)


class _QueryHidden(logging.Filter):
    """httpx logs each request's URL at INFO; its query may hold a key (Roboflow's
    ``api_key``, a webhook's parameters) and its user part a password: both left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 1 and hasattr(args[1], "netloc"):
            url = args[1]  # an httpx.URL
            shown = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
            record.args = (args[0], shown + ("?[query hidden]" if url.query else ""), *args[2:])
        return True


logging.getLogger("httpx").addFilter(_QueryHidden())


class NotSent(Exception):
    """Raised by a sink's ``prepare``: nothing is sent, the step gives ``error_status`` True
    with this message (and its cooldown does not start)."""


class Background:
    """Fire-and-forget sends, off the run's thread (Roboflow's thread pool executor), with
    two differences: at most ``pending`` sends wait (past that one is refused, so a slow
    service cannot make a video's sends pile up in memory), and the workers are daemon
    threads (the interpreter exits without waiting for sends in flight, which may wait on
    their service for minutes)."""

    def __init__(self, workers: int, pending: int) -> None:
        self._queue: queue.Queue[Send] = queue.Queue(maxsize=max(pending, 1))
        self._pending, self._workers = pending, workers
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def submit(self, send: Send) -> bool:
        """False when the send is refused (too many wait)."""
        self._start()
        if self._pending == 0:
            return False
        try:
            self._queue.put_nowait(send)
        except queue.Full:
            return False
        return True

    def _start(self) -> None:
        with self._lock:  # started with the first send: importing the blocks starts nothing
            # a forked process has none of its parent's threads: it starts its own
            self.threads = [thread for thread in self.threads if thread.is_alive()]
            while len(self.threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"visionflow-sink-{len(self.threads)}", daemon=True
                )
                thread.start()
                self.threads.append(thread)

    def _work(self) -> None:
        while True:
            send = self._queue.get()
            try:
                send()
            except Exception as error:  # sends catch their own; the type only (no secret)
                _log.warning("a background send failed: %s", type(error).__name__)
            del send  # what it sends (an image) is not kept while the worker waits


BACKGROUND = Background(workers=4, pending=64)


def outbound_enabled() -> bool:
    return _switched_on(OUTBOUND_SWITCH)


def _switched_on(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes")


def public_address(host: str, port: int) -> str | None:
    """Where a destination a document names is reached. None: the operator allows local
    addresses (connect as usual). Else the host is resolved once, every address it has
    must be public (not loopback, private, link-local as cloud metadata's 169.254.169.254,
    shared or reserved), and the first is given: the caller connects to it, so a second
    look-up cannot lead elsewhere (Roboflow's webhook guard, which newer Roboflow turns on
    with ALLOW_WEBHOOK_WORKFLOWS_SINK_TO_NON_GLOBAL_ADDRESSES=False)."""
    if _switched_on(LOCAL_SWITCH):
        return None
    if _is_address(host):  # Roboflow's guard's words (an operator's switch may allow it)
        if not _is_public(host):
            raise ServiceError(f"URL points to non-global address '{host}'.")
        return host
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ServiceError(f"Could not resolve host: {host}") from None
    addresses = [str(entry[4][0]) for entry in found]
    for address in addresses:
        if not _is_public(address):
            raise ServiceError(f"Host '{host}' resolves to non-global address '{address}'.")
    return addresses[0]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_public(address: str) -> bool:
    parsed = ipaddress.ip_address(address.split("%")[0])  # an IPv6 zone is no part of it
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return parsed.is_global and not parsed.is_multicast


def check_outbound(service: str) -> None:
    if outbound_enabled():
        return
    raise OutboundSinkNotAllowedError(
        f"this step sends data to {service}, off this machine, and outbound sinks are "
        "not enabled here",
        hint=f"the operator enables them by setting {OUTBOUND_SWITCH}=1 where visionflow "
        "runs (a document cannot)",
    )


def service_url(setting: tuple[str, str]) -> str:
    """A service's base address: the operator's environment variable, else the default."""
    variable, default = setting
    return (os.environ.get(variable) or default).rstrip("/")


class Cooldown:
    """When each key last sent; a send within ``seconds`` of the last one is throttled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}

    def claim(self, key: Hashable, seconds: float) -> Callable[[], None] | None:
        """None when ``key`` sent less than ``seconds`` ago; else marks it as sending now, at
        once (two runs at the same time cannot both pass), and gives what undoes that (for
        a send that did not happen)."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < seconds:
                return None
            self._last[key] = now
            if len(self._last) > 4096:  # keys of long-finished cooldowns are dropped
                self._forget(now)

        def undo() -> None:
            with self._lock:
                if self._last.get(key) == now:
                    if last is None:
                        del self._last[key]
                    else:
                        self._last[key] = last

        return undo

    def _forget(self, now: float) -> None:
        for key in [k for k, when in self._last.items() if now - when > COOLDOWN_LIMIT]:
            del self._last[key]


def compile_chains(operations: dict[str, list[Any]], field: str) -> dict[str, Any]:
    """Each name's Roboflow operation chain, compiled once (a name absent from the data
    is ignored when the step runs, as Roboflow ignores it)."""
    return {
        name: roboflow_operations(chain, f"{field}.{name}", ())
        for name, chain in operations.items()
        if chain
    }


def apply_chains(values: dict[str, Any], chains: dict[str, Any]) -> dict[str, Any]:
    return {name: chains[name](v) if name in chains else v for name, v in values.items()}


def render(message: str, parameters: dict[str, Any], chains: dict[str, Any]) -> str:
    """``message`` with each ``{{ $parameters.name }}`` of a given parameter replaced by its
    value (after its operation chain) as text; other placeholders stay as written."""
    return render_with(message, parameters, chains, lambda name, value: str(value))


def render_with(
    message: str, parameters: dict[str, Any], chains: dict[str, Any], as_text: Callable
) -> str:
    used = {name for _, name in PARAMETER.findall(message) if name in parameters}
    texts = {name: as_text(name, *_chained(name, parameters, chains)) for name in used}
    for placeholder, name in PARAMETER.findall(message):
        if name in texts:
            message = message.replace(placeholder, texts[name])
    return message


def _chained(name: str, parameters: dict[str, Any], chains: dict[str, Any]) -> tuple[Any]:
    value = parameters[name]
    return (chains[name](value) if name in chains else value,)


def run_in_background(send: Send) -> bool:
    """False when it was refused (too many sends wait): nothing is sent."""
    return BACKGROUND.submit(send)


def failed_quietly(message: str) -> tuple[bool, str]:
    """A failure given as it is (its text holds no secret), logged."""
    _log.warning(message)
    return True, message


def failed(what: str, error: Exception | str) -> tuple[bool, str]:
    """Roboflow's failure message; callers give errors whose text holds no secret (no URL,
    no credentials)."""
    _log.warning("Could not send %s. Error: %s", what, error)
    return True, f"Failed to send {what}. Internal error details: {error}"


class OutboundSink(Block):
    """A sink that sends to a service off the machine. Subclasses name the ``service`` and
    give ``send`` (what to send, built from the step's fields) to ``deliver``."""

    service: ClassVar[str] = "a service"
    outputs = [
        Output("error_status", kinds=["boolean"]),
        Output("throttling_status", kinds=["boolean"]),
        Output("message", kinds=["string"]),
    ]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._cooldown = Cooldown()  # per step, as Roboflow's block keeps its last send

    def setup(self, manifest: BlockManifest) -> None:
        self.check_enabled()

    def check_enabled(self) -> None:
        check_outbound(self.service)  # at compile time, and again when it runs

    def deliver(
        self,
        prepare: Callable[[], Send],
        *,
        disable_sink: bool,
        cooldown_seconds: float,
        fire_and_forget: bool,
        cooldown: tuple[Cooldown, Hashable] | None = None,
    ) -> dict[str, Any]:
        """Roboflow's order: disabled, cooldown, prepare (templates, operations), then
        send now or in the background."""
        self.check_enabled()  # the switch may change after compile
        if disable_sink:
            return _result(False, DISABLED)
        store, key = cooldown or (self._cooldown, None)
        undo = store.claim(key, cooldown_seconds)
        if undo is None:
            return _result(False, COOLDOWN, throttled=True)
        try:
            send = prepare()
        except NotSent as refusal:  # as Roboflow: a message that fails to render sent nothing
            undo()
            return _result(True, str(refusal))
        except BaseException:
            undo()
            raise
        if fire_and_forget:
            if run_in_background(send):
                return _result(False, IN_BACKGROUND)
            undo()
            return _result(True, BACKGROUND_FULL)
        return _result(*send())


def _result(error: bool, message: str, throttled: bool = False) -> dict[str, Any]:
    return {"error_status": error, "throttling_status": throttled, "message": message}


# --- what notifications share (e-mail, Slack, Twilio) ---------------------------------------

Scalar = str | int | float | bool
MANAGED = "Roboflow Managed API Key"
COOLDOWN_LIMIT = 15 * 60  # Slack's and Twilio v1's cooldown is kept this long (Roboflow's cache)


class ServiceError(Exception):
    """A service answered that it did not do it; the text is what it said (no URL)."""


_SENDABLE = re.compile(r"[\t\x20-\x7e]*")


def sendable(headers: dict[str, str]) -> dict[str, str]:
    """The headers, checked here: httpx's error for a value it cannot send quotes the value,
    which may be a secret (a token)."""
    for name, value in headers.items():
        if not _SENDABLE.fullmatch(value):
            raise ServiceError(
                f"header '{name}' holds a line break or a character outside printable ASCII"
            )
    return headers


def checked(response: httpx.Response) -> httpx.Response:
    # requests' words without the URL, whose query may hold a key
    if response.status_code >= 400:
        side = "Client" if response.status_code < 500 else "Server"
        raise ServiceError(f"{response.status_code} {side} Error: {response.reason_phrase}")
    return response


def bounded_cooldown(value: Any) -> Any:
    if isinstance(value, int) and not 0 <= value <= COOLDOWN_LIMIT:
        raise ValueError(f"`cooldown_seconds` must be in range [0, {COOLDOWN_LIMIT}]")
    return value


def secret_key(*secrets: str) -> str:
    # cooldowns are kept per credentials, by their hashes (the secrets themselves not kept)
    return ":".join(hashlib.sha256(s.encode("utf-8")).hexdigest() for s in secrets)


# Slack and Twilio v1 keep cooldowns per credentials and session key, across steps and
# compiled workflows (Roboflow keeps them in its shared cache)
SHARED_COOLDOWN = Cooldown()


class NotificationFields(BlockManifest):
    """The fields every notification shares (message template, cooldown, background)."""

    message: str
    message_parameters: dict[str, Selector() | Scalar] = Field(default_factory=dict)
    message_parameters_operations: dict[str, list[Any]] = Field(default_factory=dict)
    fire_and_forget: bool | Selector(["boolean"]) = True  # type: ignore[valid-type]
    disable_sink: bool | Selector(["boolean"]) = False  # type: ignore[valid-type]
    cooldown_seconds: int | Selector(["integer"]) = 5  # type: ignore[valid-type]


class Notification(OutboundSink):
    """A sink sending a message made from a template: its operation chains compiled once."""

    _chains: dict[str, Any] = {}

    def setup(self, manifest: BlockManifest) -> None:
        super().setup(manifest)
        self._chains = compile_chains(
            manifest.message_parameters_operations, "message_parameters_operations"
        )


def refuse_managed(manifest: BlockManifest, field: str, what: str, custom: str) -> None:
    """Roboflow's managed provider sends through Roboflow's platform: a compile error."""
    if getattr(manifest, field) == MANAGED:
        raise ManifestError(
            f"{field} '{MANAGED}' sends the {what} through Roboflow's hosted service, "
            "which visionflow does not call",
            place=f"field '{field}'",
            hint=f"set {field}: {custom} and give the step its own credentials",
        )
