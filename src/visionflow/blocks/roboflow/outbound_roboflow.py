"""Roboflow's dataset upload sink (issue 12), v1 and v2: each image (downscaled to fit
``max_image_size``, JPEG) is registered in a project of a Roboflow-API-compatible service,
with the step's predictions as its annotation. Refused unless the operator enables
outbound sinks (``outbound.py``); the service's address and key are the operator's
(``VISIONFLOW_ROBOFLOW_API_URL``, ``VISIONFLOW_ROBOFLOW_API_KEY``), never the document's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field

from visionflow.blocks.api import BlockManifest, Output, Selector
from visionflow.blocks.core._expressions import roboflow_operations
from visionflow.blocks.roboflow.outbound import (
    BACKGROUND_FULL,
    DISABLED,
    OutboundSink,
    checked,
    failed_quietly,
    run_in_background,
    service_url,
)
from visionflow.data import detections as det
from visionflow.errors import InitParameterError

if TYPE_CHECKING:
    import httpx

ROBOFLOW_API_URL = ("VISIONFLOW_ROBOFLOW_API_URL", "https://api.roboflow.com")
ROBOFLOW_API_KEY = "VISIONFLOW_ROBOFLOW_API_KEY"
# Roboflow's messages, word for word
SKIPPED_BY_SAMPLING = "Registration skipped due to sampling settings"
SKIPPED_BY_QUOTA = "Registration skipped due to usage quota exceeded"
IN_BACKGROUND_REGISTRATION = "Element registration happens in the background task"
DUPLICATED = "Duplicated image"
IMAGE_ONLY = "Successfully registered image"
WITH_ANNOTATION = "Successfully registered image and annotation"
WORKSPACE_KEPT = 900  # seconds a key's workspace name is remembered (Roboflow's cache)
PREDICTION_KINDS = [
    "object_detection_prediction",
    "instance_segmentation_prediction",
    "keypoint_detection_prediction",
    "classification_prediction",
]
Frequency = Literal["never", "daily", "weekly", "monthly"]
Percentage = Annotated[float, Field(ge=0, le=100)]
Scalar = str | int | float | bool


class _UploadFields(BlockManifest):
    images: Selector(["image"]) = Field(validation_alias=AliasChoices("images", "image"))  # type: ignore[valid-type]
    predictions: Selector(PREDICTION_KINDS) | None = None  # type: ignore[valid-type]
    target_project: Selector(["roboflow_project"]) | str  # type: ignore[valid-type]
    minutely_usage_limit: int = 10
    hourly_usage_limit: int = 100
    daily_usage_limit: int = 1000
    usage_quota_name: str
    registration_tags: list[Selector(["string"]) | str] | Selector(["list_of_values"]) = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    disable_sink: bool | Selector(["boolean"]) = False  # type: ignore[valid-type]
    fire_and_forget: bool | Selector(["boolean"]) = True  # type: ignore[valid-type]
    labeling_batch_prefix: Selector(["string"]) | str = "workflows_data_collector"  # type: ignore[valid-type]
    labeling_batches_recreation_frequency: Frequency = "never"
    image_name: Selector(["string"]) | str | None = None  # type: ignore[valid-type]


class RoboflowDatasetUpload(OutboundSink):
    """Registers each image (and, with ``persist_predictions``, its predictions as an
    annotation) in ``target_project`` of the operator's Roboflow service, tagged
    ``registration_tags``, in the labeling batch ``labeling_batch_prefix`` (with the day,
    week or month's date per ``labeling_batches_recreation_frequency``), within the usage
    limits per minute, hour and day of ``usage_quota_name``. Outputs ``error_status`` and
    ``message`` (Roboflow's words)."""

    class Manifest(_UploadFields):
        type: Literal["roboflow_core/roboflow_dataset_upload@v1", "RoboflowDatasetUpload"]
        max_image_size: tuple[int, int] = (512, 512)
        compression_level: int = Field(75, gt=0, le=100)
        persist_predictions: bool = True

    service = "Roboflow's platform"
    outputs = [Output("error_status", kinds=["boolean"]), Output("message", kinds=["string"])]

    def setup(self, manifest: BlockManifest) -> None:
        super().setup(manifest)
        if not _api_key():
            raise InitParameterError(
                "this step uploads to a Roboflow project and no Roboflow API key is set",
                hint=f"the operator sets {ROBOFLOW_API_KEY} (and {ROBOFLOW_API_URL[0]} for a "
                "service other than Roboflow's) where visionflow runs",
            )

    def run(self, **fields: Any) -> dict[str, Any]:
        return self.register(fields, data_percentage=100, metadata=None)

    def register(
        self, fields: dict[str, Any], data_percentage: float, metadata: dict | None
    ) -> dict[str, Any]:
        self.check_enabled()
        if fields["disable_sink"]:
            return _result(False, DISABLED)
        if random.random() >= data_percentage / 100:
            return _result(False, SKIPPED_BY_SAMPLING)
        registration = _Registration(fields, _api_key(), metadata)
        if fields["fire_and_forget"]:
            if run_in_background(registration):
                return _result(False, IN_BACKGROUND_REGISTRATION)
            return _result(True, BACKGROUND_FULL)
        return _result(*registration())


class RoboflowDatasetUploadV2(RoboflowDatasetUpload):
    """Registers images as v1 does, ``data_percentage`` of them (0 to 100, drawn at
    random), with ``metadata`` (name -> value) on each; ``persist_predictions`` may be a
    parameter; larger images (1920 x 1080) and JPEG quality 95 by default."""

    class Manifest(_UploadFields):
        type: Literal["roboflow_core/roboflow_dataset_upload@v2"]
        data_percentage: Percentage | Selector(["float"]) = 100  # type: ignore[valid-type]
        max_image_size: tuple[int, int] = (1920, 1080)
        compression_level: int = Field(95, gt=0, le=100)
        persist_predictions: bool | Selector(["boolean"]) = True  # type: ignore[valid-type]
        metadata: dict[str, Selector() | Scalar] = Field(default_factory=dict)

    def run(self, **fields: Any) -> dict[str, Any]:
        return self.register(fields, fields["data_percentage"], fields["metadata"])


def _result(error: bool, message: str) -> dict[str, Any]:
    return {"error_status": error, "message": message}


def _api_key() -> str:
    return os.environ.get(ROBOFLOW_API_KEY, "")


# --- one registration -----------------------------------------------------------------------


class _Registration:
    """Registers one image; calling it gives (error_status, message), never raises."""

    def __init__(self, fields: dict[str, Any], key: str, metadata: dict | None):
        self.fields, self.key, self.metadata = fields, key, metadata

    def __call__(self) -> tuple[bool, str]:
        import httpx

        fields = self.fields
        with httpx.Client(base_url=service_url(ROBOFLOW_API_URL), timeout=30) as client:
            try:
                _project_name(fields["target_project"])
                workspace = _workspace(client, self.key)
            except Exception as error:
                return failed_quietly(_registration_error(error))
            quota = (workspace, fields["target_project"], fields["usage_quota_name"])
            if not _QUOTAS.take(quota, _limits(fields)):
                return False, SKIPPED_BY_QUOTA
            try:
                status = self._register(client)
            except Exception as error:
                _QUOTAS.give_back(quota)
                return failed_quietly(_registration_error(error))
            if status == DUPLICATED:
                _QUOTAS.give_back(quota)
            return False, status

    def _register(self, client: httpx.Client) -> str:
        fields = self.fields
        project = _project_name(fields["target_project"])
        image_id = fields["image_name"] or str(uuid.uuid4())
        jpeg, scale, size = _prepared(
            fields["images"].numpy, fields["max_image_size"], fields["compression_level"]
        )
        prediction = fields["predictions"] if fields["persist_predictions"] else None
        if isinstance(prediction, sv.Detections):
            prediction = _scaled(prediction, scale, size)
        annotation = _annotation(prediction)
        params: list[tuple[str, str]] = [
            ("api_key", self.key),
            (
                "batch",
                _batch_name(
                    fields["labeling_batch_prefix"], fields["labeling_batches_recreation_frequency"]
                ),
            ),
        ]
        if (inference_id := _inference_id(fields["predictions"])) is not None:
            params.append(("inference_id", str(inference_id)))
        params += [("tag", str(tag)) for tag in fields["registration_tags"]]
        form = {"name": f"{image_id}.jpg"}
        if self.metadata is not None:
            form["metadata"] = json.dumps(self.metadata)
        answer = _answer(
            client.post(
                f"/dataset/{project}/upload",
                params=params,
                data=form,
                files={"file": ("imageToUpload", jpeg, "image/jpeg")},
            )
        )
        if answer.get("duplicate"):
            return DUPLICATED
        if not answer.get("success"):
            raise UploadRejectedError(f"Server rejected image: {answer}")
        if annotation is None:
            return IMAGE_ONLY
        content, extension = annotation
        answer = _answer(
            client.post(
                f"/dataset/{project}/annotate/{answer['id']}",
                params=[
                    ("api_key", self.key),
                    ("name", f"{image_id}.{extension}"),
                    ("prediction", "true"),
                ],
                content=content.encode("utf-8"),
                headers={"Content-Type": "text/plain"},
            )
        )
        if "error" in answer or not answer.get("success"):
            raise UploadRejectedError(
                f"Failed to save annotation for {image_id}. API response: {answer}"
            )
        return WITH_ANNOTATION


def _project_name(project: str) -> str:
    # the key is the operator's: a document's project may not steer it to another path
    if not _PROJECT.fullmatch(project) or set(project) == {"."}:
        raise ValueError(
            f"target_project {project!r} is not a project name (letters, digits, '-', '_', '.')"
        )
    return project


_PROJECT = re.compile(r"[A-Za-z0-9_.-]+")


class UploadRejectedError(Exception):
    """The service answered but did not take the image or its annotation."""


def _answer(response: httpx.Response) -> dict[str, Any]:
    return checked(response).json()


def _registration_error(error: Exception) -> str:
    return f"Error while registration. Error type: {type(error).__name__}. Details: {error}"


_WORKSPACES: dict[str, tuple[str, float]] = {}  # key's hash -> (workspace, when asked)
_WORKSPACES_LOCK = threading.Lock()


def _workspace(client: httpx.Client, key: str) -> str:
    """The workspace the key belongs to (``GET /?api_key=``), remembered a while."""
    key_hash = hashlib.sha256(key.encode("utf-8")).hexdigest()
    with _WORKSPACES_LOCK:
        known = _WORKSPACES.get(key_hash)
    if known and time.monotonic() - known[1] < WORKSPACE_KEPT:
        return known[0]
    workspace = _answer(client.get("/", params=[("api_key", key), ("nocache", "true")])).get(
        "workspace"
    )
    if not workspace:
        raise UploadRejectedError("Empty workspace encountered, check your API key.")
    with _WORKSPACES_LOCK:
        _WORKSPACES[key_hash] = (workspace, time.monotonic())
    return workspace


# --- usage quotas ---------------------------------------------------------------------------


def _limits(fields: dict[str, Any]) -> dict[str, int]:
    return {
        "minute": fields["minutely_usage_limit"],
        "hour": fields["hourly_usage_limit"],
        "day": fields["daily_usage_limit"],
    }


_PERIODS = {"minute": "%Y%m%d%H%M", "hour": "%Y%m%d%H", "day": "%Y%m%d"}


class _Quotas:
    """Registrations counted per (workspace, project, quota name) and current minute, hour
    and day; a registration takes one of each, or none when one is used up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple, int] = {}

    def take(self, quota: tuple, limits: dict[str, int]) -> bool:
        keys = self._keys(quota)
        with self._lock:
            if any(self._used.get(keys[p], 0) >= limits[p] for p in _PERIODS):
                return False
            for key in keys.values():
                self._used[key] = self._used.get(key, 0) + 1
            return True

    def give_back(self, quota: tuple) -> None:
        with self._lock:
            for key in self._keys(quota).values():
                if self._used.get(key, 0) > 0:
                    self._used[key] -= 1

    @staticmethod
    def _keys(quota: tuple) -> dict[str, tuple]:
        now = datetime.now(UTC)
        return {period: (*quota, now.strftime(form)) for period, form in _PERIODS.items()}


_QUOTAS = _Quotas()


# --- the image and its annotation -----------------------------------------------------------


def _prepared(
    pixels: np.ndarray, max_size: tuple[int, int], quality: int
) -> tuple[bytes, tuple[float, float], tuple[int, int]]:
    """JPEG of the image downscaled (never up) to fit ``max_size`` (width, height), the
    aspect kept as Roboflow keeps it; the x and y scales and the final (width, height)."""
    height, width = pixels.shape[:2]
    max_width, max_height = max_size
    if width > max_width or height > max_height:
        ratio = width / height
        if ratio >= max_width / max_height:
            size = (max_width, int(max_width / ratio))
        else:
            size = (int(max_height * ratio), max_height)
        pixels = cv2.resize(pixels, size)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    final = (pixels.shape[1], pixels.shape[0])
    return encoded.tobytes(), (final[0] / width, final[1] / height), final


def _scaled(
    detections: sv.Detections, scale: tuple[float, float], size: tuple[int, int]
) -> sv.Detections:
    """The detections on the uploaded image: boxes and keypoints scaled (rounded), masks
    resized to it, its size as their image's."""
    if len(detections) == 0:
        return detections
    scaled = detections[np.arange(len(detections))]  # a copy
    factors = np.array([scale[0], scale[1], scale[0], scale[1]])
    scaled.xyxy = (detections.xyxy.astype(np.float64) * factors).round()
    if det.KEYPOINTS_XY in scaled.data:
        points = np.asarray(scaled.data[det.KEYPOINTS_XY], dtype=np.float64)
        scaled.data[det.KEYPOINTS_XY] = (points * np.array(scale)).round()
    scaled.data[det.IMAGE_DIMENSIONS] = np.array([[size[1], size[0]]] * len(scaled))
    if scaled.mask is not None and scaled.mask.shape[1:] != (size[1], size[0]):
        scaled.mask = np.array(
            [
                cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
                for m in scaled.mask
            ]
        )
    return scaled


def _annotation(prediction: Any) -> tuple[str, str] | None:
    """The annotation file (content, extension), or None where none is registered."""
    if prediction is None:
        return None
    if isinstance(prediction, sv.Detections):
        if len(prediction) == 0:
            return None
        serialised = _to_dictionary()(prediction)
        if prediction.mask is not None:  # each instance's outline; one without is left out
            outlines = [_outline(mask) for mask in prediction.mask]
            serialised["predictions"] = [
                {**entry, "points": outline}
                for entry, outline in zip(serialised["predictions"], outlines, strict=True)
                if outline
            ]
        return json.dumps(serialised), "json"
    if isinstance(prediction, dict):
        if "predicted_classes" in prediction:
            return ",".join(prediction["predicted_classes"]), "txt"
        if "top" in prediction:
            return str(prediction["top"]), "txt"
    return None


@functools.cache
def _to_dictionary():
    # Roboflow's own serialisation of detections is its DetectionsToDictionary operation
    return roboflow_operations([{"type": "DetectionsToDictionary"}], "predictions", ())


def _outline(mask: np.ndarray) -> list[dict[str, float]]:
    polygons = sv.mask_to_polygons(mask.astype(bool))
    if not polygons:
        return []
    largest = max(polygons, key=lambda p: cv2.contourArea(p.astype(np.float32)))  # Roboflow's pick
    return [{"x": float(x), "y": float(y)} for x, y in largest]


def _inference_id(prediction: Any) -> Any:
    if isinstance(prediction, dict):
        return prediction.get("inference_id")
    if isinstance(prediction, sv.Detections) and len(prediction) > 0:
        ids = prediction.data.get("inference_id")
        return None if ids is None else np.asarray(ids).tolist()[0]
    return None


def _batch_name(prefix: str, frequency: str) -> str:
    today = datetime.today()
    if frequency == "never":
        return prefix
    if frequency == "weekly":
        today -= timedelta(days=today.weekday())
    elif frequency == "monthly":
        today = today.replace(day=1)
    return f"{prefix}_{today.strftime('%Y_%m_%d')}"
