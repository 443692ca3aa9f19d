"""The block contract: a pydantic ``Manifest``, declared ``outputs`` and ``run``.

A block never sees the engine: it gets plain values (or ``Batch`` objects when it asks for
them) and returns a dict, a list of dicts (when it raises dimensionality) or a
``FlowControl`` (flow-control blocks).
"""

from __future__ import annotations

import functools
import inspect
import threading
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from visionflow.kinds import WILDCARD
from visionflow.selectors import SELECTOR_PATTERN, STEP_REFERENCE_PATTERN

T = TypeVar("T")


@dataclass(frozen=True)
class SelectorInfo:
    """Marks a manifest field as accepting selectors of the given kinds."""

    kinds: frozenset[str]
    step_reference: bool = False
    scalar_only: bool = False
    """Takes parameters only: a batch-oriented value here is a compile error (Roboflow's
    parameter fields, e.g. a model's ``confidence``)."""


def Selector(kinds: Sequence[str] | None = None, scalar_only: bool = False) -> Any:
    """A manifest field type that accepts ``$inputs.x`` / ``$steps.s.out`` of these kinds.

    >>> class Manifest(Block.Manifest):
    ...     image: Selector(kinds=["image"])
    ...     threshold: Selector(kinds=["float"]) | float = 0.5

    ``scalar_only=True``: the field takes one value for the whole run (an input parameter
    or a scalar step output), never a batch.
    """
    info = SelectorInfo(frozenset(kinds or [WILDCARD]), scalar_only=scalar_only)
    return Annotated[str, info, Field(pattern=SELECTOR_PATTERN)]


StepSelector = Annotated[
    str, SelectorInfo(frozenset(), step_reference=True), Field(pattern=STEP_REFERENCE_PATTERN)
]
"""The type of a flow-control field's items: ``next_steps: list[StepSelector]``."""


@dataclass(frozen=True)
class Output:
    """One named output of a block and the kinds of value it holds."""

    name: str
    kinds: Sequence[str] = (WILDCARD,)

    def __post_init__(self):
        object.__setattr__(self, "kinds", tuple(self.kinds))


@dataclass
class FlowControl:
    """What a flow-control block returns: the steps to run next for this element."""

    next_steps: list[str] = field(default_factory=list)


class Batch(Generic[T]):
    """A flat batch of values and their index tuples.

    ``(2,)`` is the third image, ``(2, 4)`` its fifth crop.

    >>> batch = Batch([10, 20], [(0,), (1,)])
    >>> list(batch), batch.indices[1]
    ([10, 20], (1,))
    """

    __slots__ = ("indices", "values")

    def __init__(self, values: list[T], indices: list[tuple[int, ...]]):
        self.values = values
        self.indices = indices

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[T]:
        return iter(self.values)

    def __getitem__(self, position: int) -> T:
        return self.values[position]

    def items(self) -> Iterator[tuple[tuple[int, ...], T]]:
        return zip(self.indices, self.values, strict=True)

    def __repr__(self) -> str:
        return f"Batch({self.values!r}, indices={self.indices!r})"


class BlockManifest(BaseModel):
    """Base of every block's manifest: a step's ``name`` and ``type`` plus its fields."""

    # defer_build: a manifest's validator is built when a step first needs it, not when its
    # block is imported: a document uses a few of the ~200 blocks the registry loads
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    name: str = Field(min_length=1)
    type: str

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        """Pydantic's, one thread at a time: a deferred manifest is built on its first use,
        and a server's threads may first use one at once (pydantic before 2.14 did not
        serialise rebuilds). One frame deeper than pydantic's, for its namespace lookup."""
        with _building:
            return super().model_rebuild(
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=_parent_namespace_depth + (_parent_namespace_depth > 0),
                _types_namespace=_types_namespace,
            )


_building = threading.RLock()  # reentrant: building one manifest may build another


class Block:
    """Base class of every block.

    Subclasses declare a ``Manifest`` (a ``Block.Manifest`` subclass whose ``type`` is a
    ``Literal`` of the block's type name and aliases), ``outputs`` and ``run(**fields)``.
    Optional class attributes tune how the engine calls it (see the attributes below).
    """

    Manifest: ClassVar[type[BlockManifest]] = BlockManifest
    outputs: ClassVar[list[Output]] = []
    accepts_batches: ClassVar[bool] = False
    """run() gets ``Batch`` objects for batch-oriented fields (a list or dict of selectors: a
    list or dict of ``Batch``) and returns one result per element."""
    batch_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields that always arrive as a ``Batch``: a scalar given to one is cast to a batch
    (Roboflow's auto batch casting), repeated for each element the step runs on, or once
    when the step is fed no batch (its outputs then stay scalars). With
    ``accepts_batches``: Roboflow's parameters accepting batches; on a block that gathers
    (``output_dimensionality_offset = -1``): its parameters enforcing auto batch casting."""
    accepts_empty: ClassVar[bool] = False
    """run() is called even when inputs are masked out; they arrive as None."""
    output_dimensionality_offset: ClassVar[int] = 0
    """+1: returns a list of results per element (e.g. a crop per box); -1: gathers children."""
    input_dimensionality_offsets: ClassVar[dict[str, int]] = {}
    """Fields this many levels deeper than the others; each arrives as a Batch per element."""
    dimensionality_reference: ClassVar[str | None] = None
    """A field of ``input_dimensionality_offsets`` (one level deeper) whose elements the
    results follow (Roboflow's dimensionality reference property): run() gets its children
    as a Batch per element and returns a list with one result per child, and the outputs are
    at the children's level, aligned with them."""
    category: ClassVar[str] = ""
    """The group ``visionflow blocks`` lists the block under (e.g. "image operations");
    empty: worked out from where the block is defined (a plugin: the plugin's name)."""
    init_parameters: ClassVar[list[str]] = []
    """Names of values the block needs from its environment, given to ``__init__``."""
    outputs_read: frozenset[str] | None = None
    """The outputs of this step that anything reads (set by the compiler before ``setup``;
    None: unknown, so all). A block may skip making an output nobody reads, giving None."""

    def __init__(self, **init_parameters: Any):
        for name, value in init_parameters.items():
            setattr(self, name, value)

    def setup(self, manifest: BlockManifest) -> None:
        """Called once per step at compile time, after the plan is checked.

        Override to prepare what the step needs before anything runs (e.g. load its
        model); raise a ``WorkflowError`` to make a problem a compile error of the step.
        """
        return None

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        """The outputs for one step; override when they depend on the step's fields."""
        return list(cls.outputs)

    def run(self, **fields: Any) -> dict | list | FlowControl:
        raise TypeError(f"block {type(self).__name__} does not define run()")

    # --- introspection used by the loader and the compiler -------------------------------

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        """The block's type name first, then its aliases (from the ``type`` Literal)."""
        annotation = cls.Manifest.model_fields["type"].annotation
        return (
            tuple(typing.get_args(annotation))
            if typing.get_origin(annotation) is typing.Literal
            else ()
        )

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")


Block.Manifest = BlockManifest


@functools.cache
def manifest_selectors(manifest_class: type[BlockManifest]) -> dict[str, list[SelectorInfo]]:
    """For each field of a manifest class, the selectors it accepts (cached per class)."""
    return {
        name: selector_infos(info)
        for name, info in manifest_class.model_fields.items()
        if name not in ("name", "type")
    }


def is_flow_control_block(block_class: type[Block]) -> bool:
    """A block is flow control when one of its fields takes step references."""
    infos = manifest_selectors(block_class.Manifest).values()
    return any(info.step_reference for field in infos for info in field)


def selector_infos(field_info: Any) -> list[SelectorInfo]:
    """Every SelectorInfo of a manifest field (pydantic keeps top-level ones in .metadata)."""
    found = [meta for meta in field_info.metadata if isinstance(meta, SelectorInfo)]
    return found + _infos_in_annotation(field_info.annotation)


def _infos_in_annotation(annotation: Any) -> list[SelectorInfo]:
    found = [
        meta for meta in getattr(annotation, "__metadata__", ()) if isinstance(meta, SelectorInfo)
    ]
    for argument in typing.get_args(annotation):
        if argument is not None and not isinstance(argument, str | int | float):
            found.extend(_infos_in_annotation(argument))
    return found
