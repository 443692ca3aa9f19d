"""Compiler stage: lineage and dimensionality of every value, and flow-control gates.

A batch-oriented value has a lineage: the origins of its nesting levels (``("$inputs",)``
for an input batch, ``("$inputs", "crop")`` for crops made by step ``crop``). A step may
only combine values whose lineages agree, and its fields' levels must fit the block's
declared dimensionality offsets.
"""

from __future__ import annotations

from visionflow.blocks.api import manifest_selectors
from visionflow.compiler.graph import Reference, StepGraph
from visionflow.compiler.plan import (
    INPUTS_LINEAGE,
    FieldBinding,
    Gate,
    Lineage,
    SelectorBinding,
    Source,
)
from visionflow.definition import InputDefinition
from visionflow.errors import DimensionalityError, FlowControlError, LineageError
from visionflow.selectors import unescape_literals


def input_source(item: InputDefinition) -> Source:
    if not item.is_batch_oriented:
        return Source("input", item.name, None, 0, (), item.kinds)
    return Source(
        "input",
        item.name,
        None,
        item.dimensionality,
        input_lineage(item.dimensionality),
        item.kinds,
    )


def input_lineage(dimensionality: int) -> Lineage:
    return (
        INPUTS_LINEAGE,
        *(f"{INPUTS_LINEAGE}/{level}" for level in range(2, dimensionality + 1)),
    )


def describe_lineage(lineage: Lineage) -> str:
    if not lineage:
        return "a scalar"
    if lineage[-1].startswith(INPUTS_LINEAGE):
        return f"the input batch (level {len(lineage)})"
    return f"the elements made by step '{lineage[-1]}' (level {len(lineage)})"


class StepLayout:
    """Dimensionality and lineage of one step, worked out from its references."""

    def __init__(
        self,
        graph: StepGraph,
        sources: dict[str, Source],
        controllers: dict[str, StepLayout] | None = None,
    ):
        self.graph = graph
        self.block = graph.step.loaded.block_class
        self.offsets = self.block.input_dimensionality_offsets
        self.output_offset = self.block.output_dimensionality_offset
        self.bound = [(ref, _source_of(ref, sources)) for ref in graph.references]
        self.controllers = controllers or {}
        self.follows: str | None = None
        self._refuse_batches_in_scalar_fields()
        self._work_out_levels()
        self._follow_a_deeper_reference()

    @property
    def place(self) -> str:
        return self.graph.step.place

    def _refuse_batches_in_scalar_fields(self) -> None:
        """A field declared ``scalar_only`` takes one value for the whole run (Roboflow's rule)."""
        declared = manifest_selectors(self.block.Manifest)
        for ref, src in self.bound:
            infos = declared.get(ref.field, ())
            if src.dimensionality > 0 and infos and all(info.scalar_only for info in infos):
                raise DimensionalityError(
                    f"field '{ref.field}' takes one value for the whole run (a parameter), but "
                    f"'{ref.selector.text}' is batch-oriented ({describe_lineage(src.lineage)})",
                    place=f"{self.place} field '{ref.field}'",
                    hint="give it a WorkflowParameter input or a literal value",
                )

    def _work_out_levels(self) -> None:
        batch_refs = [(ref, src) for ref, src in self.bound if src.dimensionality > 0]
        base = max(
            (src.dimensionality - self.offsets.get(ref.field, 0) for ref, src in batch_refs),
            default=0,
        )
        self.base_lineage = self._base_lineage(batch_refs, base)
        if not batch_refs and self.controllers:
            # Roboflow's rule (execution engine 1.8): a step fed no batch but chosen by a
            # flow-control step runs per element of that step, once for each one chosen
            self.base_lineage = self._controllers_lineage()
            base = len(self.base_lineage)
        if self.output_offset == -1 and base == 0 and not self._casts_scalars():
            raise DimensionalityError(
                "this block gathers the elements of a batch, but none of its inputs is a batch",
                place=self.place,
                hint="connect a batch-oriented value (an image, or values made per crop)",
            )
        # Roboflow's rules (execution engine 1.6): a gathering step fed only scalars cast to
        # batches stays at level 0 ("bounces off the ground"); a step making several outputs
        # from scalars makes a batch of its own, outside the input batch (lineage: the step)
        self.level = max(base - 1, 0) if self.output_offset == -1 else base
        self.lineage = self.base_lineage[: self.level]
        if self.output_offset == 1:
            self.output_lineage = (*self.base_lineage, self.graph.step.name)
        else:
            self.output_lineage = self.base_lineage[: max(base + min(self.output_offset, 0), 0)]

    def _follow_a_deeper_reference(self) -> None:
        """Roboflow's dimensionality reference one level deeper: results per child of it."""
        field = self.block.dimensionality_reference
        if field is None or self.offsets.get(field, 0) != 1:
            return  # a reference at the step's own level is how steps run anyway
        deeper = [src for ref, src in self.bound if ref.field == field]
        if self.output_offset != 0 or not deeper or deeper[0].dimensionality != self.level + 1:
            raise DimensionalityError(
                f"field '{field}', the block's dimensionality reference, must be given values "
                f"one level deeper than the step's other inputs (level {self.level + 1})",
                place=f"{self.place} field '{field}'",
                hint="feed it the per-crop / per-detection values made from the other inputs",
            )
        self.follows = field
        self.output_lineage = deeper[0].lineage[: self.level + 1]

    def _casts_scalars(self) -> bool:
        """Whether a field of ``batch_fields`` is given a scalar (cast to a batch)."""
        fields = self.block.batch_fields
        return any(ref.field in fields and src.dimensionality == 0 for ref, src in self.bound)

    def _base_lineage(self, batch_refs, base: int) -> Lineage:
        if not batch_refs:
            return ()
        reference, ref_source = max(
            batch_refs, key=lambda item: item[1].dimensionality - self.offsets.get(item[0].field, 0)
        )
        base_lineage = ref_source.lineage[:base]
        for ref, src in batch_refs:
            offset = self.offsets.get(ref.field, 0)
            if offset and src.dimensionality - offset != base:
                raise DimensionalityError(
                    f"field '{ref.field}' must be {offset} level deeper than the step's other "
                    f"inputs (level {base + offset}), but '{ref.selector.text}' is at level "
                    f"{src.dimensionality}",
                    place=f"{self.place} field '{ref.field}'",
                    hint="feed it the per-crop / per-detection values made from the other inputs",
                )
            own = src.lineage[: min(base, src.dimensionality)]
            if own != base_lineage[: len(own)]:
                raise LineageError(
                    f"field '{ref.field}' ('{ref.selector.text}') comes from "
                    f"{describe_lineage(src.lineage)}, but field '{reference.field}' "
                    f"('{reference.selector.text}') comes from "
                    f"{describe_lineage(ref_source.lineage)}",
                    place=f"{self.place} field '{ref.field}'",
                    hint="values of different origins (e.g. crops of two different detectors) "
                    "cannot be combined element by element",
                )
        return base_lineage

    def _controllers_lineage(self) -> Lineage:
        """The deepest lineage of the flow-control steps choosing this one; the others
        must be its parents (a step runs at one level)."""
        chosen = max(self.controllers, key=lambda name: self.controllers[name].level)
        deepest = self.controllers[chosen].lineage
        for name, layout in self.controllers.items():
            if layout.lineage != deepest[: layout.level]:
                raise FlowControlError(
                    f"step '{name}' decides per element of {describe_lineage(layout.lineage)}, "
                    f"but step '{chosen}', which also chooses it, decides per element of "
                    f"{describe_lineage(deepest)}",
                    place=self.place,
                    hint="choose a step fed no batch from flow-control steps of one origin",
                )
        return deepest

    def bindings(self) -> list[FieldBinding]:
        modes = {ref.selector.text: self._binding(ref, src) for ref, src in self.bound}
        manifest = self.graph.step.manifest
        fields: list[FieldBinding] = []
        for name in type(manifest).model_fields:
            if name in ("name", "type"):
                continue
            value = getattr(manifest, name)
            used = {ref.selector.text for ref in self.graph.references if ref.field == name}
            if not used:
                fields.append(FieldBinding(name, literal=unescape_literals(value)))
            elif isinstance(value, str):
                fields.append(FieldBinding(name, selector=modes[value]))
            else:
                fields.append(
                    FieldBinding(
                        name,
                        literal=value,  # a template: selectors and $$ resolved per element
                        compound={text: modes[text] for text in used},
                    )
                )
        return fields

    def _binding(self, ref: Reference, src: Source) -> SelectorBinding:
        dims = src.dimensionality
        if dims == 0 and ref.field in self.block.batch_fields:
            return self._cast(ref, src)
        if dims == 0:
            mode = "scalar"
        elif dims == self.level:
            mode = "direct"
        elif dims < self.level:
            mode = "broadcast"
        elif dims == self.level + 1:
            mode = "grouped"
        else:
            raise DimensionalityError(
                f"'{ref.selector.text}' is at level {dims}, more than one level deeper than the "
                f"step (level {self.level})",
                place=f"{self.place} field '{ref.field}'",
                hint="collapse the extra level first (DimensionCollapse)",
            )
        return SelectorBinding(ref.selector.text, src, mode)

    def _cast(self, ref: Reference, src: Source) -> SelectorBinding:
        """A scalar given to a batch field: one copy per element of the step, or per child
        of each element where the field takes children (Roboflow's auto batch casting)."""
        takes_children = self.output_offset == -1 or self.offsets.get(ref.field, 0) == 1
        if not takes_children:
            return SelectorBinding(ref.selector.text, src, "cast")
        if self.output_offset == -1:
            deeper = self.base_lineage[: self.level + 1]
        else:  # the children the step's other deeper fields are given, if any
            deeper = next(
                (
                    other.lineage[: self.level + 1]
                    for field_ref, other in self.bound
                    if self.offsets.get(field_ref.field, 0) == 1
                    and other.dimensionality == self.level + 1
                ),
                (),
            )
        group = deeper if len(deeper) == self.level + 1 else ()
        return SelectorBinding(ref.selector.text, src, "cast_grouped", group)

    def step_source(self, output: str | None, kinds: frozenset[str]) -> Source:
        return Source(
            "step",
            self.graph.step.name,
            output,
            len(self.output_lineage),
            self.output_lineage,
            kinds,
        )


def _source_of(ref: Reference, sources: dict[str, Source]) -> Source:
    selector = ref.selector
    source = sources[selector.origin]
    if selector.source == "inputs":
        return source
    return Source(
        "step",
        selector.name,
        selector.output,
        source.dimensionality,
        source.lineage,
        ref.kinds,
    )


def gates_of(
    name: str, layout: StepLayout, graphs: dict[str, StepGraph], layouts: dict[str, StepLayout]
) -> list[Gate]:
    """The flow-control steps that choose whether ``name`` runs, checked for level."""
    gates: list[Gate] = []
    for controller in graphs[name].controllers:
        graph = graphs[controller]
        decider = layouts[controller]
        if _decides_per_child(decider, layout):
            gates.append(Gate(controller, decider.level))  # it filters the children
            continue
        if decider.level > layout.level or layout.lineage[: decider.level] != decider.lineage:
            raise FlowControlError(
                f"step '{controller}' decides per element of {describe_lineage(decider.lineage)}, "
                f"but its target '{name}' runs on {describe_lineage(layout.lineage)}",
                place=f"{graph.step.place} field '{graph.target_fields[name]}'",
                hint="a flow-control step can only choose steps at its own level or deeper",
            )
        gates.append(Gate(controller, decider.level))
    return gates


def _decides_per_child(decider: StepLayout, layout: StepLayout) -> bool:
    """A gate on a step that gathers children (a -1 step, or one with a field one level
    deeper), deciding per child it gathers (Roboflow: the children it does not choose are
    left out of the step's Batch)."""
    if decider.level != layout.level + 1:
        return False
    gathered = {
        src.lineage[: decider.level]
        for _, src in layout.bound
        if src.dimensionality == layout.level + 1
    }
    return decider.lineage in gathered
