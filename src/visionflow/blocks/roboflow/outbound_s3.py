"""Roboflow's S3 sink (issue 12), sent with boto3 (the ``sinks`` extra, imported only when a
step is compiled). Refused unless the operator enables outbound sinks (``outbound.py``).

The operator chooses where the data goes: ``VISIONFLOW_S3_ENDPOINT_URL`` (an S3-compatible
server), else boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else Amazon S3;
the region is the step's ``aws_region``, else boto3's ``AWS_DEFAULT_REGION``. The
credentials are the step's own, as in Roboflow: the server's ambient AWS credentials are
never used (a document would otherwise write into the operator's buckets), and the secret
never appears in a log, an output or an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any, Literal

from pydantic import field_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.roboflow.outbound import check_outbound
from visionflow.blocks.roboflow.sinks import (
    at_least_one_entry,
    check_texts,
    entries_limit,
    log_entry,
    log_extension,
    stamped_name,
)
from visionflow.errors import BlockLoadingError, ManifestError, RuntimeInputError

ENDPOINT_URL = "VISIONFLOW_S3_ENDPOINT_URL"
# Roboflow's content types, by extension
CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "txt": "text/plain",
}
# S3's answers that a retry cannot change (Roboflow's list)
FINAL_ERRORS = frozenset(
    {
        "InvalidAccessKeyId",
        "AccessDenied",
        "NoSuchBucket",
        "InvalidBucketName",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
RETRIES = 3  # Roboflow's: after the first try, 1 s, 2 s then 4 s apart
RETRY_DELAY = 1.0
INVALID_JSON = "Invalid JSON content"  # Roboflow's message, word for word

_log = logging.getLogger(__name__)


class S3Sink(Block):
    """Uploads ``content`` (text: CSV, JSON or plain) to ``bucket_name`` as objects named
    ``<s3_prefix>/<file_name_prefix>_<YYYY_MM_DD_HH_MM_SS_microseconds>.<file_type>``
    (no ``<s3_prefix>/`` when the prefix is empty), with the file type's content type.

    ``separate_files``: one object per element, the content as given. ``append_log``: the
    step's entries go to one object, uploaded whole (all its entries) at each run, until it
    holds ``max_entries_per_file`` entries; then a new object starts. Appended entries end
    in a newline, a CSV entry loses its header line when appended, and JSON is written one
    document a line (``.jsonl``, ``application/x-ndjson``). Outputs ``error_status`` and
    ``message``, as Roboflow's block: an upload S3 refuses (a missing bucket, wrong keys) or
    that cannot reach the server (after 3 retries, 1, 2 and 4 s apart) is ``error_status``
    True with the reason, not a failed run. ``aws_access_key_id`` and
    ``aws_secret_access_key`` are required (the server's own AWS credentials are not used).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/s3_sink@v1"]
        content: Selector(["string"])  # type: ignore[valid-type]
        file_type: Literal["csv", "json", "txt"] = "csv"
        output_mode: Literal["append_log", "separate_files"]
        bucket_name: Selector(["string"]) | str  # type: ignore[valid-type]
        s3_prefix: Selector(["string"]) | str = ""  # type: ignore[valid-type]
        file_name_prefix: Selector(["string"]) | str = "workflow_output"  # type: ignore[valid-type]
        max_entries_per_file: int | Selector(["string"]) = 1024  # type: ignore[valid-type]
        aws_access_key_id: Selector(["secret", "string"]) | str | None = None  # type: ignore[valid-type]
        aws_secret_access_key: Selector(["secret", "string"]) | str | None = None  # type: ignore[valid-type]
        aws_region: Selector(["string"]) | str | None = None  # type: ignore[valid-type]

        _at_least_one = field_validator("max_entries_per_file")(at_least_one_entry)

    outputs = [Output("error_status", kinds=["boolean"]), Output("message", kinds=["string"])]
    service = "an S3 bucket"

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        # the append log of this step instance (Roboflow keeps it per block instance too):
        # runs may be concurrent, so it changes under a lock
        self._lock = threading.Lock()
        self._entries: list[str] = []
        self._key: str | None = None
        self._client: tuple[str, Any] | None = None  # (whose, boto3 client), the last used

    def setup(self, manifest: BlockManifest) -> None:
        check_outbound(self.service)
        for field in ("aws_access_key_id", "aws_secret_access_key"):
            if not getattr(manifest, field):
                raise ManifestError(
                    f"{field} is not given; the S3 sink needs the step's own credentials "
                    "(the server's AWS credentials are not used)",
                    place=f"field '{field}'",
                    hint=f"give {field} from a workflow input or an environment secrets store step",
                )
        try:
            import boto3
        except ImportError:
            raise BlockLoadingError(  # placed at the step by the compiler
                "roboflow_core/s3_sink@v1 needs boto3, which is not installed",
                hint="pip install 'visionflow[sinks]'",
            ) from None
        self._boto3 = boto3

    def run(
        self,
        content: str,
        file_type: str,
        output_mode: str,
        bucket_name: str,
        s3_prefix: str,
        file_name_prefix: str,
        max_entries_per_file: int | str,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_region: str | None = None,
    ) -> dict[str, Any]:
        check_outbound(self.service)  # the switch may change after compile
        check_texts(
            content=content,
            bucket_name=bucket_name,
            s3_prefix=s3_prefix,
            file_name_prefix=file_name_prefix,
        )
        if not aws_access_key_id or not aws_secret_access_key:
            raise RuntimeInputError(
                "aws_access_key_id and aws_secret_access_key must both be given; the S3 "
                "sink does not use the server's AWS credentials",
                place="field 'aws_access_key_id'",
                hint="give both credentials as workflow inputs or from a secrets store step",
            )
        secrets = (str(aws_access_key_id), str(aws_secret_access_key))
        if output_mode == "separate_files":
            key = _new_key(s3_prefix, file_name_prefix, file_type)
            body, content_type = content, CONTENT_TYPES[file_type]
            return self._upload(secrets, aws_region, bucket_name, key, body, content_type)
        limit = entries_limit(max_entries_per_file)
        with self._lock:  # the upload too: a later run's object may not be overtaken
            starts = self._key is None or len(self._entries) >= limit
            entry = log_entry(content, file_type, continued=not starts)
            if entry is None:
                _log.warning("S3 sink: the content is not JSON; nothing uploaded")
                return _result(True, INVALID_JSON)
            if starts:
                extension = log_extension(file_type)
                self._key, self._entries = _new_key(s3_prefix, file_name_prefix, extension), []
            self._entries.append(entry)
            body = "".join(self._entries)
            content_type = CONTENT_TYPES[log_extension(file_type)]
            return self._upload(secrets, aws_region, bucket_name, self._key, body, content_type)

    def _upload(
        self,
        secrets: tuple[str, str],
        region: str | None,
        bucket: str,
        key: str,
        body: str,
        content_type: str,
    ) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        def hidden(error: Exception) -> str:
            return _without(str(error), secrets)

        try:
            client = self._s3(secrets, region)
        except Exception as error:  # e.g. a region boto3 refuses: no retry changes it
            last = hidden(error)
            _log.warning("S3 upload not made: %s", last)
            return _result(True, last)
        last = ""
        for attempt in range(1 + RETRIES):
            if attempt:
                time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            try:
                client.put_object(
                    Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type
                )
                return _result(False, f"Data saved successfully to s3://{bucket}/{key}")
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                last = hidden(error)
                _log.warning("S3 upload failed (try %d): %s", attempt + 1, last)
                if code in FINAL_ERRORS:
                    break
            except ParamValidationError as error:  # a bucket name S3 cannot take: final
                last = hidden(error)
                _log.warning("S3 upload refused: %s", last)
                break
            except BotoCoreError as error:  # the server not reached: tried again
                last = hidden(error)
                _log.warning("S3 upload failed (try %d): %s", attempt + 1, last)
            except Exception as error:  # anything else is the step's error_status, not a crash
                last = hidden(error)
                _log.warning("S3 upload failed: %s", last)
                break
        return _result(True, last)

    def _s3(self, secrets: tuple[str, str], region: str | None) -> Any:
        """A boto3 client for these credentials, region and the operator's endpoint: the
        last one made is kept (making one takes a while), known by the credentials' hash."""
        from botocore.config import Config

        endpoint = os.environ.get(ENDPOINT_URL) or None
        whose = hashlib.sha256(repr((secrets, region, endpoint)).encode("utf-8")).hexdigest()
        kept = self._client
        if kept is not None and kept[0] == whose:
            return kept[1]
        client = self._boto3.session.Session().client(
            "s3",
            aws_access_key_id=secrets[0],
            aws_secret_access_key=secrets[1],
            region_name=region or None,
            endpoint_url=endpoint,
            # the retries are this block's (Roboflow's three), not boto3's on top of them
            config=Config(retries={"mode": "legacy", "max_attempts": 0}),
        )
        self._client = (whose, client)
        return client


def _new_key(s3_prefix: str, file_name_prefix: str, extension: str) -> str:
    name = stamped_name(file_name_prefix.rstrip("/"), extension)
    return f"{s3_prefix.rstrip('/')}/{name}" if s3_prefix else name


def _without(text: str, secrets: tuple[str, str]) -> str:
    """``text`` with the credentials masked, should a library ever quote them (a text of
    under 8 characters is left: masking it would garble words, and it hides little)."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _result(error: bool, message: str) -> dict[str, Any]:
    return {"error_status": error, "message": message}
