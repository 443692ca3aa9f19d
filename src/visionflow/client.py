"""A client for a visionflow server (``visionflow serve``).

>>> from visionflow import Client
>>> with Client("http://127.0.0.1:9001") as client:  # doctest: +SKIP
...     client.register("faces", "examples/face_emotion.yaml")
...     client.run(name="faces", inputs={"image": Path("photo.jpg")})
[{'faces': {...}, 'emotions': [...], 'annotated': {...}}]

Images may be numpy arrays (BGR, sent as lossless PNG), ``WorkflowImage``s, local files
(``pathlib.Path``), bytes, base64 text, or ``{"type": "url" | "file", "value": ...}`` for
the server to fetch where it allows that. The server's errors are raised as
``ServerError``: a ``WorkflowError`` with the server's code, place, message and hint.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from visionflow.errors import WorkflowError

API_KEY_HEADER = "X-API-Key"
_DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")
WORKFLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A registered workflow's name (``fullmatch``); the server's registry uses this one too."""


class ServerError(WorkflowError):
    """An error the server answered with; ``status`` is the HTTP status."""

    def __init__(self, status: int, details: dict[str, Any]):
        self.status = status
        self.details = details
        self.code = details.get("code") or "server_error"
        super().__init__(
            details.get("message") or f"HTTP {status}",
            place=details.get("place"),
            hint=details.get("hint"),
        )
        others = details.get("also")
        if isinstance(others, list):  # the other wrong steps of a document
            self.also = [ServerError(status, other) for other in others if isinstance(other, dict)]


class Client:
    """Talks to one server; reuses its connections (use it as a context manager, or close)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:9001",
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
    ):
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- running and checking ---------------------------------------------------------

    def run(
        self,
        workflow: Any = None,
        *,
        name: str | None = None,
        version: int | None = None,
        dialect: str | None = None,
        inputs: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        channel_order: str = "bgr",
    ) -> list[dict[str, Any]]:
        """The serialised results, one dict per input element.

        ``files`` (input name -> path, bytes, or a list of them) are uploaded as a
        multipart form instead of base64 inside the JSON. Image arrays are BGR, as
        OpenCV's; ``channel_order="rgb"`` for RGB arrays (Pillow's, matplotlib's), as
        ``Workflow.run`` takes them.
        """
        from visionflow.data.image import as_channel_order

        as_channel_order(None, channel_order, "channel_order")  # an unknown order: an error
        encoded = _encoded(inputs or {}, rgb=channel_order.lower() == "rgb")
        body = {**_source(workflow, name, version, dialect), "inputs": encoded}
        if not files:
            return self._call("POST", "/run", json=body)["outputs"]
        import json

        parts = [
            (input_name, (f"{input_name}-{n}", _file_bytes(item)))
            for input_name, given in files.items()
            for n, item in enumerate(given if isinstance(given, list) else [given])
        ]
        answer = self._call("POST", "/run/upload", data={"request": json.dumps(body)}, files=parts)
        return answer["outputs"]

    def validate(
        self,
        workflow: Any = None,
        *,
        name: str | None = None,
        version: int | None = None,
        dialect: str | None = None,
        raise_errors: bool = False,
    ) -> dict[str, Any]:
        """``{"valid": True, "inputs", "outputs"}`` or ``{"valid": False, "error": {...}}``
        (raised as ``ServerError`` with ``raise_errors=True``)."""
        response = self._send("POST", "/validate", json=_source(workflow, name, version, dialect))
        answer = response.json()
        if response.status_code == 200 or ("valid" in answer and not raise_errors):
            return answer
        raise ServerError(response.status_code, answer.get("error") or {})

    def graph(
        self,
        workflow: Any = None,
        *,
        name: str | None = None,
        version: int | None = None,
        dialect: str | None = None,
    ) -> dict[str, Any]:
        """The compiled workflow's nodes and edges, with kinds."""
        return self._call("POST", "/graph", json=_source(workflow, name, version, dialect))

    def describe(self) -> dict[str, Any]:
        """Every block (with its manifest JSON Schema), every kind, the dialects."""
        return self._call("GET", "/describe")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def metrics(self) -> str:
        """The Prometheus exposition text."""
        response = self._send("GET", "/metrics")
        _raise_for(response)
        return response.text

    # --- registered workflows ---------------------------------------------------------

    def register(self, name: str, workflow: Any, *, dialect: str | None = None) -> dict:
        """Register a new workflow under ``name`` (version 1)."""
        body = {"name": name, "workflow": _document(workflow), "dialect": dialect}
        return self._call("POST", "/workflows", json=body)

    def add_version(self, name: str, workflow: Any, *, dialect: str | None = None) -> dict:
        body = {"workflow": _document(workflow), "dialect": dialect}
        return self._call("POST", f"{_workflow_path(name)}/versions", json=body)

    def workflows(self) -> list[dict[str, Any]]:
        return self._call("GET", "/workflows")["workflows"]

    def get_workflow(self, name: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version is not None else None
        return self._call("GET", _workflow_path(name), params=params)

    def delete(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", _workflow_path(name))

    # --- video pipelines ---------------------------------------------------------------

    def start_pipeline(
        self,
        sources: list[str | int],
        *,
        workflow: Any = None,
        name: str | None = None,
        version: int | None = None,
        dialect: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Start a pipeline on the server: a workflow (inline, or registered by ``name``) on
        the frames of ``sources`` (files inside the server's allowed folders, stream URLs
        where allowed, camera indexes where allowed); ``options`` as the server takes them
        (``max_fps``, ``every_nth``, ``latest_only``, ``image_input``, ``parameters``,
        ``preview_output``). Returns its status, with its ``id``."""
        body: dict[str, Any] = {"sources": list(sources), "dialect": dialect, **options}
        if workflow is not None:
            body["workflow"] = _document(workflow)
        if name is not None:
            _workflow_path(name)  # the same check as for a registered workflow's address
            body |= {"name": name, "version": version}
        return self._call("POST", "/pipelines", json=body)

    def pipelines(self) -> list[dict[str, Any]]:
        """The server's pipelines: running, and those ended in the last minutes."""
        return self._call("GET", "/pipelines")["pipelines"]

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return self._call("GET", _pipeline_path(pipeline_id))

    def stop_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """Stop it after its batch in progress; it stays listed, stopped."""
        return self._call("POST", f"{_pipeline_path(pipeline_id)}/stop")

    def delete_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """Stop it and forget it."""
        return self._call("DELETE", _pipeline_path(pipeline_id))

    def follow_pipeline(self, pipeline_id: str, *, queue: int = 256) -> Iterator[dict[str, Any]]:
        """Its results, one dict per frame (as the JSON-lines sink writes them), until it
        ends or stops; ``{"dropped": n, ...}`` where this client fell ``queue`` lines behind."""
        path = f"{_pipeline_path(pipeline_id)}/results"
        try:
            with self._http.stream("GET", path, params={"queue": queue}, timeout=None) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    _raise_for(answer)
                for line in answer.iter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.TransportError as error:
            raise _unreachable(self._http.base_url, error) from None

    def _call(self, method: str, path: str, **options: Any) -> Any:
        response = self._send(method, path, **options)
        _raise_for(response)
        return response.json()

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TransportError as error:
            raise _unreachable(self._http.base_url, error) from None


def _unreachable(url: Any, error: Exception) -> ServerError:
    return ServerError(
        0,
        {
            "code": "server_unreachable",
            "place": str(url),
            "message": f"no answer from the server: {type(error).__name__}: {error}",
            "hint": "check the URL, and that `visionflow serve` runs there",
        },
    )


def _pipeline_path(pipeline_id: str) -> str:
    if not isinstance(pipeline_id, str) or not WORKFLOW_NAME.fullmatch(pipeline_id):
        raise WorkflowError(
            f"{pipeline_id!r} is not a pipeline id",
            place="pipeline_id",
            hint="use the id start_pipeline() or pipelines() gave",
        )
    return f"/pipelines/{quote(pipeline_id, safe='')}"


def _workflow_path(name: str) -> str:
    # checked here: "x/../victim" in a URL would reach another workflow's address
    if not isinstance(name, str) or not WORKFLOW_NAME.fullmatch(name):
        raise WorkflowError(
            f"{name!r} is not a valid workflow name",
            place="name",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return f"/workflows/{quote(name, safe='')}"


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        details = response.json().get("error") or {}
    except ValueError:
        details = {"message": response.text[:500]}
    raise ServerError(response.status_code, details)


def _source(workflow: Any, name: str | None, version: int | None, dialect: str | None) -> dict:
    if name is not None:
        return {"name": name, "version": version}
    return {"workflow": _document(workflow), "dialect": dialect}


def _document(workflow: Any) -> Any:
    """A dict or text as it is; a path to a local file as the file's text."""
    if isinstance(workflow, os.PathLike) or (
        isinstance(workflow, str)
        and "\n" not in workflow
        and Path(workflow).suffix in _DOCUMENT_SUFFIXES
        and Path(workflow).is_file()
    ):
        return Path(workflow).read_text(encoding="utf-8")
    return workflow


def _encoded(value: Any, place: str = "inputs", rgb: bool = False) -> Any:
    """Input values as JSON: images as base64 text, arrays of numbers as lists; image
    arrays given in RGB order (``rgb``) turned to BGR first."""
    import numpy as np

    from visionflow.data.image import WorkflowImage, is_pil_image

    if isinstance(value, dict):
        inside = "inputs '{}'" if place == "inputs" else place + "['{}']"
        return {key: _encoded(item, inside.format(key), rgb) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encoded(item, f"{place}[{n}]", rgb) for n, item in enumerate(value)]
    if isinstance(value, WorkflowImage):
        value, rgb = value.numpy, False  # BGR already, as every image inside visionflow
    if is_pil_image(value):  # a Pillow image, read as the engine would (it says its order)
        from visionflow.data.image import pixels_from_pil

        value, rgb = pixels_from_pil(value, place, _servers_limit()), False
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint8 and value.ndim == 4:
            return [_encoded(image, f"{place}[{n}]", rgb) for n, image in enumerate(value)]
        if value.ndim >= 2 and (value.dtype.kind == "f" or value.dtype in (np.uint8, np.uint16)):
            # the engine's rules for pixels (shape, empty images, uint16 scaled, floats in
            # [0, 1]) applied here, as a WorkflowError: OpenCV cannot encode the others, and
            # as lists they would be a large JSON the server refuses anyway
            from visionflow.data.image import pixels_from_array

            if value.ndim == 4:
                return [_encoded(image, f"{place}[{n}]", rgb) for n, image in enumerate(value)]
            if rgb and value.ndim == 3 and value.shape[2] in (3, 4):
                value = np.ascontiguousarray(value[:, :, 2::-1])  # RGB(A) -> BGR, alpha dropped
            pixels = pixels_from_array(value, place, _servers_limit())
            # gray travels as gray (a third of the bytes): the server repeats it alike
            return _png_base64(value if value.ndim == 2 and value.dtype == np.uint8 else pixels)
        return value.tolist()
    if isinstance(value, os.PathLike | bytes):
        return base64.b64encode(_file_bytes(value)).decode("ascii")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _servers_limit() -> Any:
    from visionflow.data.sources import ImagePolicy

    return ImagePolicy(max_pixels=2**62)  # the pixel limit is the server's to hold


def _png_base64(pixels: Any) -> str:
    import cv2

    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"could not encode an array of shape {pixels.shape} as PNG")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def _file_bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else Path(value).read_bytes()
