"""The errors a user of visionflow can cause, each with a stable ``code``.

Every error names the place (``steps[3] 'crop' field 'image'``), what was expected and
what was found, and a hint. Compile errors are raised before anything runs.
"""

from __future__ import annotations

from typing import Self


class WorkflowError(Exception):
    """Root of every error visionflow raises on purpose."""

    code = "workflow_error"

    def __init__(self, message: str, *, place: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.place = place
        self.hint = hint
        # further errors found in the same pass (each step's fields are all checked before
        # a compile fails), reported after this one
        self.also: list[WorkflowError] = []

    def __str__(self) -> str:
        # Rendered from the fields as they are now, so a re-placed error reads right.
        text = f"{self.place}: {self.message}" if self.place else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def at(self, place: str, *, within: bool = True) -> Self:
        """This error (same class, code and fields) placed at ``place``, for re-raising.

        With ``within`` the place it had stays, inside ``place``; without, it is replaced.

        >>> error = ManifestError("unknown field 'x'", place="field 'args'")
        >>> str(error.at("steps[0] 'crop'"))
        "steps[0] 'crop' field 'args': unknown field 'x'"
        """
        self.place = f"{place} {self.place}" if within and self.place else place
        return self

    def to_dict(self) -> dict:
        """The error as JSON-friendly data (what the CLI and server report)."""
        found = {"code": self.code, "place": self.place, "message": self.message, "hint": self.hint}
        if self.also:
            found["also"] = [error.to_dict() for error in self.also]
        return found


# --- compile time -----------------------------------------------------------------------


class CompilationError(WorkflowError):
    """The definition is wrong; raised before anything runs."""

    code = "compilation_error"


class DefinitionError(CompilationError):
    """The document is not a readable definition (syntax, structure, duplicate names)."""

    code = "invalid_definition"


class DuplicateNameError(DefinitionError):
    code = "duplicate_name"


class UnknownBlockTypeError(CompilationError):
    code = "unknown_block_type"


class BlockLoadingError(CompilationError):
    """A plugin or block class could not be loaded or is malformed."""

    code = "block_loading_error"


class ManifestError(CompilationError):
    """A step's fields do not match its block's manifest (unknown, missing or invalid)."""

    code = "invalid_step_field"


class SelectorError(CompilationError):
    """A selector points at an input, step or output that does not exist."""

    code = "invalid_selector"


class KindMismatchError(CompilationError):
    code = "kind_mismatch"


class CycleError(CompilationError):
    code = "cycle"


class DimensionalityError(CompilationError):
    code = "dimensionality_mismatch"


class LineageError(CompilationError):
    code = "lineage_mismatch"


class FlowControlError(CompilationError):
    code = "invalid_flow_control"


class InitParameterError(CompilationError):
    code = "missing_init_parameter"


class ExpressionError(CompilationError):
    """An expression does not parse or uses something the language does not allow."""

    code = "invalid_expression"


# --- run time ---------------------------------------------------------------------------


class RuntimeInputError(WorkflowError):
    """The values given to ``Workflow.run`` do not fit the workflow's inputs."""

    code = "invalid_runtime_input"


class StepExecutionError(WorkflowError):
    """A step raised while running; names the step, its type and the cause."""

    code = "step_execution_error"

    def __init__(self, step: str, block_type: str, cause: BaseException, index=None):
        self.step = step
        self.block_type = block_type
        self.cause = cause
        self.index = index
        where = f" for element {index}" if index is not None else ""
        # a block's own WorkflowError keeps its hint as this error's hint (not in the text)
        hint = cause.hint if isinstance(cause, WorkflowError) else None
        text = _without_hint(cause) if hint else str(cause)
        super().__init__(
            f"step '{step}' ({block_type}) failed{where}: {type(cause).__name__}: {text}",
            place=f"steps '{step}'",
            hint=hint,
        )


def _without_hint(error: WorkflowError) -> str:
    return f"{error.place}: {error.message}" if error.place else error.message


class ExpressionEvaluationError(WorkflowError):
    """An expression failed on the values it was given (e.g. comparing None with 3)."""

    code = "expression_evaluation_error"


# --- models -------------------------------------------------------------------------------


class ModelError(WorkflowError):
    """A model cannot be found, loaded or declared as given."""

    code = "model_error"


class ModelNotFoundError(ModelError, CompilationError):
    """A step names a model id that is neither declared under ``models:`` nor in the zoo."""

    code = "model_not_found"


class ModelCallError(WorkflowError):
    """A model call failed (after its retries); names the model id."""

    code = "model_call_failed"


class ModelTimeoutError(ModelCallError):
    code = "model_timeout"


class ModelOverloadedError(ModelCallError):
    """The model's queue is full: the call is refused at once instead of waiting."""

    code = "model_overloaded"


class CustomCodeNotAllowedError(CompilationError):
    """The document carries Python code (dynamic blocks, custom steps, imported functions),
    or names a model file on this machine's disk, and whoever compiles it did not allow
    custom code (the HTTP server, by default)."""

    code = "custom_code_not_allowed"


class DocumentLimitError(DefinitionError):
    """A document is larger, deeper or longer-named than any workflow needs (the limits of
    ``visionflow.dialects.limits``); refused before the costly work."""

    code = "document_too_large"


# --- image sources (data/sources.py) --------------------------------------------------------


class ImageTooLargeError(RuntimeInputError):
    """An image over the pixel limit (read from its header), or a file/download over the
    byte limit."""

    code = "image_too_large"


class InputSourceNotAllowedError(RuntimeInputError):
    """An image named by a path or URL that whoever compiled the workflow does not allow
    (a server without --allow-files / --allow-urls); the same words whether or not it exists."""

    code = "input_source_not_allowed"


# --- model serving (models/pool.py) ---------------------------------------------------------


class ModelBatchExceedsQueueError(ModelCallError):
    """A call holds more elements than the model's ``queue_size``: unlike
    ``ModelOverloadedError``, waiting can never help; the batch must be split."""

    code = "batch_exceeds_queue"


class EnvironmentAccessNotAllowedError(CustomCodeNotAllowedError):
    """A step would read this machine's environment variables (Roboflow's environment
    secrets store) in a document that is not trusted (a server answers 403, as for custom
    code), or where Roboflow's switch turns that off."""

    code = "environment_access_not_allowed"


class FileWriteNotAllowedError(CustomCodeNotAllowedError):
    """A step would write files on this machine (Roboflow's local file sink) in a document
    that is not trusted (a server answers 403, as for custom code), where Roboflow's switch
    turns that off, or to a path outside its target directory (or the allowed one)."""

    code = "file_write_not_allowed"


class OutboundSinkNotAllowedError(CustomCodeNotAllowedError):
    """A step would send data off this machine (Roboflow's webhook, e-mail, Slack, Twilio,
    dataset upload or S3 sinks) and the operator has not enabled outbound sinks
    (``VISIONFLOW_ALLOW_OUTBOUND_SINKS``); a document cannot enable them (a server answers
    403, as for custom code)."""

    code = "outbound_sink_not_allowed"


class StreamPipelineError(WorkflowError):
    """A video pipeline cannot be set up as asked: no image input to give frames to (or
    several and none chosen), no image output to write as video, a sink that cannot open."""

    code = "invalid_stream_pipeline"


# --- video and streams (streams/sources.py) -------------------------------------------------


class SourceError(WorkflowError):
    """A video source cannot be opened or read: a missing or undecodable file, a folder
    with no images, a stream or camera that does not answer; ``place`` names the source."""

    code = "video_source_error"


# --- running on Ray (distributed/) ----------------------------------------------------------


class RayNotInstalledError(WorkflowError):
    """``--ray`` was asked for and Ray is not installed: the ``ray`` extra installs it."""

    code = "ray_not_installed"


class ClusterUnreachableError(WorkflowError):
    """No Ray cluster answers at the address given; ``place`` is that address."""

    code = "ray_cluster_unreachable"


class RayScalingError(WorkflowError):
    """A Ray scaling figure given on the command line is out of range (fewer than one
    actor, a minimum above the maximum); ``place`` names the figure."""

    code = "invalid_ray_scaling"


class UnknownProviderError(ModelError, CompilationError):
    """A model's ``providers`` names an execution provider visionflow does not know."""

    code = "unknown_provider"


class ModelFormatError(ModelError, CompilationError):
    """A model's outputs do not have the shapes its declared ``format`` means."""

    code = "model_format_mismatch"


class ModelDownloadsOffError(ModelError, CompilationError):
    """A model named by an ``http(s)://`` URL, in a process whose operator has not allowed
    model downloads."""

    code = "model_downloads_off"
