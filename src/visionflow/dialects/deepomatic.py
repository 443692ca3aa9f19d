"""The Deepomatic-style dialect: ``entries``, ``steps`` with ``inputs``/``args``, ``outcomes``.

Each Image entry becomes an image input plus an entry step (its default region), each
Text/Number entry a parameter (string/float); each step one native step of the blocks in
``visionflow.blocks.deepomatic`` at the same position under ``steps``, so compile errors
found later (an unknown model) name the step as the document does; each outcome a step
and an output, and the ``FlowContainer`` output shows what every step made.

The dialect only translates and checks: names, inputs, arguments, cycles, and the types
of the concepts that steps read and outcomes report (``blocks/deepomatic/checks.py``); a
router is told which Inference steps write the concept it routes by, so that it checks
its labels against their models' when it is set up.
With ``custom_nodes`` listed, a step of any other type is a class of those files, found
when the step is set up (and only with ``allow_custom_code``): nothing of them runs or is
read back here. A relative path is taken from ``base_dir`` (the document's folder) or,
without one, the current directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from visionflow.blocks.deepomatic import step_library
from visionflow.blocks.deepomatic.base import validated_args
from visionflow.blocks.deepomatic.checks import (
    StepInfo,
    check_concepts,
    check_input_count,
    dependency_order,
    label_sources,
)
from visionflow.blocks.deepomatic.custom import (
    CustomStep,
    DeclaredConcept,
    custom_step_files,
    validated_custom_args,
)
from visionflow.blocks.deepomatic.logic import Counter
from visionflow.blocks.deepomatic.routing import PredictionRouter, branch_output
from visionflow.definition import MAX_NAME, Definition
from visionflow.dialects.limits import check_name
from visionflow.errors import (
    DefinitionError,
    DuplicateNameError,
    SelectorError,
    UnknownBlockTypeError,
)
from visionflow.selectors import input_selector, step_selector
from visionflow.suggestions import close_matches

FLOW_CONTAINER = "FlowContainer"
DATA_TYPES = {"Image": None, "Text": "string", "Number": "float"}
SECTIONS = ("entries", "outcomes", "steps", "models", "settings", "custom_nodes")
TOP_LEVEL = {"version", "workflow_name", "workflow", *SECTIONS}
STEP_KEYS = {"name", "type", "inputs", "args"}
VERSIONS = ("1.0", "1.1", "1.2")
"""The versions of Deepomatic's workflow configuration format this dialect reads."""
OUTCOME_KEYS = {"name", "output_of", "concept", "regions"}


def parse_deepomatic(document: dict[str, Any], *, base_dir: str | Path | None = None) -> Definition:
    """The canonical Definition of a Deepomatic-style document (flat or under ``workflow:``)."""
    sections = _sections(document)
    version, workflow_name = _metadata(document)
    raw_entries = _listed(sections.get("entries"), "entries")
    raw_steps = _listed(sections.get("steps"), "steps")
    raw_outcomes = _listed(sections.get("outcomes"), "outcomes")
    _check_names(raw_entries, raw_steps, raw_outcomes)
    entries = _entries(raw_entries)
    custom = custom_step_files(sections.get("custom_nodes"), Path(base_dir or Path.cwd()))
    steps = [_step(position, raw, custom) for position, raw in enumerate(raw_steps)]
    by_name = {step.name: step for step in steps}
    for step in steps:
        _wire_inputs(step, by_name, entries)
    order = dependency_order(steps)
    outcomes = [_outcome(p, raw, by_name, entries) for p, raw in enumerate(raw_outcomes)]
    check_concepts(steps, order, outcomes, entries)
    for step in steps:
        if step.block is PredictionRouter:
            step.extra["label_sources"] = label_sources(step, by_name, [step.args.routing_name])
        elif step.block is Counter and step.args.label_names and step.args.concept_names_to_count:
            counted = step.args.concept_names_to_count
            step.extra["label_sources"] = label_sources(step, by_name, counted)
    metadata = {"version": version, "workflow_name": workflow_name}
    return _definition(metadata, sections, entries, steps, order, outcomes)


# --- reading the document ------------------------------------------------------------------


def _sections(document: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(document) - TOP_LEVEL)
    if unknown:
        raise DefinitionError(
            f"unknown section '{unknown[0]}'",
            place=unknown[0],
            hint=f"a Deepomatic workflow has: {', '.join(sorted(TOP_LEVEL))}",
        )
    nested = document.get("workflow")
    if nested is None:
        return document
    if not isinstance(nested, dict):
        raise DefinitionError("'workflow' must be a mapping of entries, outcomes and steps")
    both = [name for name in SECTIONS if name in nested and name in document]
    if both:
        raise DefinitionError(
            f"'{both[0]}' is given both at the top level and under 'workflow'", place=both[0]
        )
    extra = sorted(set(nested) - set(SECTIONS))
    if extra:
        raise DefinitionError(
            f"unknown section '{extra[0]}'",
            place=f"workflow.{extra[0]}",
            hint=f"'workflow' holds: {', '.join(SECTIONS)}",
        )
    return {**document, **nested}


def _metadata(document: dict[str, Any]) -> tuple[str, str]:
    """``version`` and ``workflow_name``: the mandatory metadata every Deepomatic workflow
    file starts with (the configuration format's version, quoted as Deepomatic writes it)."""
    version = document.get("version")
    if "version" not in document:
        raise DefinitionError(
            "a Deepomatic workflow needs 'version', the version of its configuration format",
            place="version",
            hint=f'add version: "{VERSIONS[-1]}" at the top of the file',
        )
    number = isinstance(version, int | float) and not isinstance(version, bool)
    text = str(version) if number else version
    if text not in VERSIONS:
        raise DefinitionError(
            f"version {version!r} is not a Deepomatic workflow format version",
            place="version",
            hint=f'known versions: {", ".join(VERSIONS)} (write it quoted: "{VERSIONS[-1]}")',
        )
    name = document.get("workflow_name")
    if not isinstance(name, str) or not name.strip():
        found = "none" if name is None else repr(name)
        raise DefinitionError(
            f"a Deepomatic workflow needs a 'workflow_name', a non-empty text (found {found})",
            place="workflow_name",
            hint="e.g. workflow_name: my first workflow",
        )
    check_name(name, "workflow_name")
    return text, name


def _listed(value: Any, section: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DefinitionError(f"'{section}' must be a list of mappings", place=section)
    return value


def _entries(raw_entries: list[dict[str, Any]]) -> dict[str, str]:
    """Entry name -> data type, in document order."""
    entries: dict[str, str] = {}
    for position, raw in enumerate(raw_entries):
        place = _place("entries", position, raw)
        extra = sorted(set(raw) - {"name", "data_type"})
        if extra:
            raise DefinitionError(
                f"unknown field '{extra[0]}'", place=place, hint="an entry has name and data_type"
            )
        data_type = raw.get("data_type")
        if not isinstance(data_type, str) or data_type not in DATA_TYPES:
            raise DefinitionError(
                f"data_type must be one of {', '.join(DATA_TYPES)} (found {data_type!r})",
                place=f"{place} field 'data_type'",
            )
        entries[raw.get("name")] = data_type
    if not entries:
        raise DefinitionError("a Deepomatic workflow needs at least one entry", place="entries")
    return entries


def _check_names(entries: list[dict], steps: list[dict], outcomes: list[dict]) -> None:
    seen: dict[str, str] = {}
    named = [("entries", p, raw) for p, raw in enumerate(entries)]
    named += [("steps", p, raw) for p, raw in enumerate(steps)]
    named += [("outcomes", p, raw) for p, raw in enumerate(outcomes)]
    for section, position, raw in named:
        name, place = raw.get("name"), _place(section, position, raw)
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(
                "every entry, step and outcome needs a non-empty name", place=place
            )
        check_name(name, f"{place} field 'name'")
        if "." in name or name == FLOW_CONTAINER:
            raise DefinitionError(
                f"the name '{name}' is not allowed",
                place=place,
                hint=f"names may not contain dots, and '{FLOW_CONTAINER}' names the results",
            )
        if name in seen:
            raise DuplicateNameError(
                f"the name '{name}' is used twice (also by {seen[name]})",
                place=place,
                hint="entries, steps and outcomes share one set of names (case sensitive)",
            )
        seen[name] = place


# --- steps ---------------------------------------------------------------------------------


def _step(position: int, raw: dict[str, Any], custom: list[tuple[str, str]]) -> StepInfo:
    place = _place("steps", position, raw)
    extra = sorted(set(raw) - STEP_KEYS)
    if extra:
        raise DefinitionError(
            f"unknown field '{extra[0]}'",
            place=place,
            hint="a step has name, type, inputs and args",
        )
    step_type, args = raw.get("type"), raw.get("args") or {}
    inputs = raw.get("inputs") or []
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise DefinitionError(
            "'inputs' must be a list of entry and step names", place=f"{place} field 'inputs'"
        )
    if not isinstance(args, dict):
        raise DefinitionError("'args' must be a mapping", place=f"{place} field 'args'")
    library = step_library()
    if isinstance(step_type, str) and step_type in library:
        block = library[step_type]
        return StepInfo(
            position, raw["name"], step_type, block, validated_args(block, args, place), inputs
        )
    if isinstance(step_type, str) and custom:  # a class of a custom step file (looked up later)
        return StepInfo(
            position,
            raw["name"],
            step_type,
            CustomStep,
            validated_custom_args(args, place),
            inputs,
            custom,
        )
    known = f"built-in steps: {', '.join(library)}; a custom step is a class of a file listed "
    known += "under custom_nodes"
    if step_type is None:
        raise UnknownBlockTypeError("the step has no 'type'", place=place, hint=known)
    close = close_matches(str(step_type), list(library), n=3, cutoff=0.5)
    raise UnknownBlockTypeError(
        f"unknown step type {step_type!r}",
        place=f"{place} field 'type'",
        hint=(f"did you mean {', '.join(map(repr, close))}? " if close else "") + known,
    )


def _wire_inputs(step: StepInfo, steps: dict[str, StepInfo], entries: dict[str, str]) -> None:
    """Each input name -> a region selector (steps, Image entries, branches) or an entry value."""
    for position, name in enumerate(step.input_names):
        place = f"{step.place} inputs[{position}]"
        if entries.get(name) in ("Text", "Number"):
            step.values[name] = input_selector(name)
            continue
        selector, source = _region_source(name, steps, entries, place)
        step.region_inputs.append(selector)
        step.region_names.append(name)
        if source:
            step.depends_on.add(source)
    check_input_count(step, entries)
    if step.block is Counter:
        step.extra["entry_regions"] = step_selector(_counted_entry(step, entries), "regions")
    for name in step.value_entries():
        if entries.get(name) not in ("Text", "Number"):
            raise SelectorError(
                f"'{name}' is not a Text or Number entry",
                place=f"{step.place} args 'value_entry'",
                hint=f"Text/Number entries: {', '.join(_value_entries(entries)) or 'none'}",
            )
        step.values[name] = input_selector(name)


def _counted_entry(step: StepInfo, entries: dict[str, str]) -> str:
    images = [name for name, data_type in entries.items() if data_type == "Image"]
    entry = step.args.entry
    if entry is None and len(images) == 1:
        return images[0]
    if entry in images:
        return entry
    raise SelectorError(
        "say which Image entry gets the count"
        if entry is None
        else f"'{entry}' is not an Image entry",
        place=f"{step.place} args 'entry'",
        hint=f"Image entries: {', '.join(images) or 'none'}",
    )


def _region_source(
    name: str, steps: dict[str, StepInfo], entries: dict, place: str
) -> tuple[str, str | None]:
    if name in steps:
        return step_selector(name, "regions"), name
    if entries.get(name) == "Image":
        return step_selector(name, "regions"), None
    router, _, label = name.rpartition(":")
    if router in steps and steps[router].block is PredictionRouter:
        values = steps[router].args.routing_values
        if label in values:
            return step_selector(router, branch_output(values.index(label))), router
        raise SelectorError(
            f"router '{router}' has no branch '{label}'",
            place=place,
            hint=f"its routing_values are: {', '.join(values)}",
        )
    close = close_matches(name, [*steps, *entries], n=3, cutoff=0.5)
    raise SelectorError(
        f"'{name}' is neither an entry nor a step",
        place=place,
        hint=f"did you mean {', '.join(map(repr, close))}?"
        if close
        else "inputs name entries, steps or router branches (<router>:<label>)",
    )


# --- outcomes and the Definition -------------------------------------------------------------


def _outcome(
    position: int, raw: dict[str, Any], steps: dict[str, StepInfo], entries: dict
) -> dict[str, Any]:
    place = _place("outcomes", position, raw)
    extra = sorted(set(raw) - OUTCOME_KEYS)
    if extra:
        raise DefinitionError(
            f"unknown field '{extra[0]}'",
            place=place,
            hint=f"an outcome has {', '.join(sorted(OUTCOME_KEYS))}",
        )
    concept = raw.get("concept")
    try:
        concept = DeclaredConcept.model_validate(concept)
    except ValidationError:
        raise DefinitionError(
            "'concept' must be {name, type} with type Boolean, Text or Number "
            f"(found {concept!r})",
            place=f"{place} field 'concept'",
        ) from None
    output_of = raw.get("output_of")
    if not isinstance(output_of, str) or output_of not in steps:
        close = close_matches(str(output_of), list(steps), n=3, cutoff=0.5)
        raise SelectorError(
            f"'output_of' names {output_of!r}, which is not a step",
            place=f"{place} field 'output_of'",
            hint=f"did you mean {', '.join(map(repr, close))}?"
            if close
            else "name one of the steps",
        )
    regions = raw.get("regions") or []
    regions = regions if isinstance(regions, list) else [regions]
    if not all(isinstance(name, str) for name in regions):
        raise DefinitionError(
            "'regions' must be a name or a list of names (entries, steps, router branches)",
            place=f"{place} field 'regions'",
        )
    selectors = [
        _region_source(name, steps, entries, f"{place} field 'regions'[{i}]")[0]
        for i, name in enumerate(regions)
    ]
    return {
        "name": raw["name"],
        "place": place,
        "output_of": output_of,
        "concept": concept,
        "regions": selectors,
    }


def _definition(metadata, sections, entries, steps, order, outcomes) -> Definition:
    native = [step.native_step() for step in steps]
    inputs = []
    for name, data_type in entries.items():
        if data_type == "Image":
            inputs.append({"type": "image", "name": name})
            native.append(
                {"type": "deepomatic/entry@v1", "name": name, "image": input_selector(name)}
            )
        else:
            inputs.append({"type": "parameter", "name": name, "kind": [DATA_TYPES[data_type]]})
    for outcome in outcomes:
        native.append(
            {
                "type": "deepomatic/outcome@v1",
                "name": outcome["name"],
                "output_of": step_selector(outcome["output_of"], "regions"),
                "concept": outcome["concept"].model_dump(),
                "regions": outcome["regions"],
            }
        )
    images = [name for name, data_type in entries.items() if data_type == "Image"]
    native.append(
        {
            "type": "deepomatic/flow_container@v1",
            "name": FLOW_CONTAINER,
            "workflow_name": metadata["workflow_name"],
            "images": {name: input_selector(name) for name in images},
            "entry_regions": {name: step_selector(name, "regions") for name in images},
            "values": {name: input_selector(name) for name in _value_entries(entries)},
            "value_types": {name: entries[name] for name in _value_entries(entries)},
            "steps": {name: step_selector(name, "regions") for name in order},
        }
    )
    outputs = [
        {"type": "JsonField", "name": o["name"], "selector": step_selector(o["name"], "outcome")}
        for o in outcomes
    ]
    outputs.append(
        {
            "type": "JsonField",
            "name": FLOW_CONTAINER,
            "selector": step_selector(FLOW_CONTAINER, "flow_container"),
        }
    )
    return Definition(
        version=metadata["version"],
        inputs=inputs,
        steps=native,
        outputs=outputs,
        models=_mapping(sections, "models"),
        settings=_mapping(sections, "settings"),
    )


def _mapping(sections: dict[str, Any], section: str) -> dict[str, Any]:
    value = sections.get(section) or {}
    if not isinstance(value, dict):
        raise DefinitionError(
            f"'{section}' must be a mapping, found {type(value).__name__}", place=section
        )
    return dict(value)


def _place(section: str, position: int, raw: dict[str, Any]) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    named = isinstance(name, str) and len(name) <= MAX_NAME
    return f"{section}[{position}] '{name}'" if named else f"{section}[{position}]"


def _value_entries(entries: dict[str, str]) -> list[str]:
    return [name for name, data_type in entries.items() if data_type != "Image"]
