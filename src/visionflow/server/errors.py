"""Every failure as an HTTP answer: a status and ``{"error": {code, place, message, hint}}``.

Errors the user causes keep the engine's own ``WorkflowError`` (compile errors, runtime
input errors, a failing step named by the step); the server adds its own for what only a
server can refuse (size limits, keys, unknown names). Nothing ever answers with a traceback:
an unexpected exception goes to the server's log and is reported as ``internal_error``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from visionflow import errors
from visionflow.models.library import TooManyModelsError


class RequestError(errors.WorkflowError):
    """The HTTP request itself is wrong (shape, limits, key, names)."""

    code = "invalid_request"
    status = 422


class MalformedJsonError(RequestError):
    code = "malformed_json"
    status = 400


class RequestTooLargeError(RequestError):
    code = "request_too_large"
    status = 413


class BatchTooLargeError(RequestError):
    code = "batch_too_large"
    status = 413


class ApiKeyError(RequestError):
    code = "invalid_api_key"
    status = 401


class NotFoundError(RequestError):
    code = "not_found"
    status = 404


class WorkflowExistsError(RequestError):
    code = "workflow_exists"
    status = 409


def status_of(error: errors.WorkflowError) -> int:
    """The HTTP status for an error: 4xx for what the caller can fix, 5xx for the server."""
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, TooManyModelsError):  # every loaded model busy: retry later
        return 503
    if isinstance(error, errors.StepExecutionError):
        if isinstance(error.cause, errors.ModelBatchExceedsQueueError):
            return 413  # more elements than the model ever queues: retrying cannot help
        # a model that is overloaded or slow is the server's state, not the request's fault
        if isinstance(error.cause, errors.ModelOverloadedError | TooManyModelsError):
            return 503
        if isinstance(error.cause, errors.ModelTimeoutError):
            return 504
        return 422
    if isinstance(error, errors.CustomCodeNotAllowedError | errors.InputSourceNotAllowedError):
        return 403  # the image-source errors are the engine's: documents' defaults meet them too
    if isinstance(error, errors.ImageTooLargeError):
        return 413
    if isinstance(error, errors.ModelBatchExceedsQueueError):
        return 413
    if isinstance(error, errors.ModelCallError):
        return 502
    return 422  # compile errors, runtime input errors, expression errors


_SERVER_STATES = (errors.ModelOverloadedError, errors.ModelTimeoutError, TooManyModelsError)
_LIFTED_CAUSES = (*_SERVER_STATES, errors.ModelBatchExceedsQueueError)


def error_body(error: errors.WorkflowError, **extra: Any) -> dict[str, Any]:
    details = error.to_dict()
    if isinstance(error, errors.StepExecutionError):
        details.update(step=error.step, block_type=error.block_type)
        if isinstance(error.cause, _LIFTED_CAUSES):  # one code to act on, wherever it arose
            details["code"] = error.cause.code
        if isinstance(error.cause, errors.ModelBatchExceedsQueueError):
            details["hint"] = error.cause.hint  # how to split the batch
    # the library's hint names its API (an outbound sink's names the operator's switch: kept)
    if isinstance(error, errors.CustomCodeNotAllowedError) and not isinstance(
        error, errors.OutboundSinkNotAllowedError
    ):
        details["hint"] = (
            "this server refuses it; its operator can allow it with --allow-custom-code "
            "(only where documents come from people they trust)"
        )
    return {**extra, "error": details}


def error_response(error: errors.WorkflowError, **extra: Any) -> JSONResponse:
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(error_body(error, **extra), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.WorkflowError, _workflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    # anything else: app.UnexpectedErrors answers 500 and keeps the connection


async def _workflow_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.WorkflowError)
    return error_response(error)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return error_response(request_error_from(error.errors()))


def request_error_from(problems: Any) -> RequestError:
    """The first problem pydantic found in a request body, as the user reads it."""
    first = problems[0]
    place = ".".join(str(part) for part in first.get("loc", ())) or "body"
    if first.get("type") == "json_invalid":
        context = first.get("ctx", {}).get("error", "")
        position = first.get("loc", ("body", "?"))[-1]
        return MalformedJsonError(
            f"the request body is not valid JSON: {context} at character {position}",
            place="body",
            hint="send a JSON object; check quotes, commas and brackets",
        )
    return RequestError(
        f"{first.get('msg', 'invalid value')} (found {_short(first.get('input'))})",
        place=place,
        hint="see /docs for the shape of this request and an example",
    )


def _unreadable_json(cause: BaseException) -> MalformedJsonError:
    # the first clause only: json's advice on raising its limits is for the server's code
    reason = "it is nested too deeply" if isinstance(cause, RecursionError) else str(cause)
    reason = reason.split(";")[0]
    return MalformedJsonError(
        f"the request body could not be read as JSON: {reason}",
        place="body",
        hint="send a JSON object nested a few levels deep, with numbers of at most 4300 digits",
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if isinstance(error.__cause__, errors.WorkflowError):  # FastAPI wraps errors of body reading
        return error_response(error.__cause__)
    if error.status_code == 400 and error.__cause__ is not None:  # json.loads gave up
        return error_response(_unreadable_json(error.__cause__))
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    body = {
        "error": {
            "code": code,
            "place": request.url.path,
            "message": str(error.detail),
            "hint": "see /docs for the endpoints" if error.status_code in (404, 405) else None,
        }
    }
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def unexpected_error_body(path: str, error: BaseException | None) -> dict[str, Any]:
    """An unexpected failure: named, never with its traceback (that goes to the log)."""
    return {
        "error": {
            "code": "internal_error",
            "place": path,
            "message": f"the server failed: {type(error).__name__}: {error}",
            "hint": "this is a bug in visionflow or a plugin; the server log has the details",
        }
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
