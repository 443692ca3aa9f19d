"""Describing blocks to workflow authors, from their manifests (the single source)."""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any

from visionflow.cli._printing import console, print_table, shown


def find_block(registry: Any, name: str) -> Any:
    """The LoadedBlock with this type name or alias, or an error suggesting close names."""
    from visionflow.errors import UnknownBlockTypeError
    from visionflow.suggestions import close_matches

    if name in registry.by_type:
        return registry.by_type[name]
    close = close_matches(name, list(registry.by_type), n=3)  # the server's /blocks/ too
    suggestion = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise UnknownBlockTypeError(
        f"no block has the type name or alias '{name}'",
        hint=f"{suggestion}`visionflow blocks` lists every block",
    )


# Where visionflow's own blocks are defined -> the group they are listed under (Roboflow's
# documentation's groups where a block has a Roboflow twin); the longest prefix wins.
MODULE_CATEGORIES = {
    "visionflow.blocks.core.models": "models",
    "visionflow.blocks.core.roboflow_": "models",
    "visionflow.blocks.core.flow": "flow control",
    "visionflow.blocks.core.expression": "formatters",
    "visionflow.blocks.core.crops": "image operations",
    "visionflow.blocks.core.ocr": "image operations",
    "visionflow.blocks.core.regions": "image operations",
    "visionflow.blocks.core.detections": "detections",
    "visionflow.blocks.core.consensus": "detections",
    "visionflow.blocks.core.collapse": "detections",
    "visionflow.blocks.core.visualization": "visualisations",
    "visionflow.blocks.core.functional": "functional dialect",
    "visionflow.blocks.deepomatic": "deepomatic dialect",
    "visionflow.blocks.roboflow.images": "image operations",
    "visionflow.blocks.roboflow.detections": "detections",
    "visionflow.blocks.roboflow.formatters": "formatters",
    "visionflow.blocks.roboflow.visualisations": "visualisations",
    "visionflow.blocks.roboflow.classical": "image operations",
    "visionflow.blocks.roboflow.image_measures": "image operations",
    "visionflow.blocks.roboflow.fusion": "detections",
    "visionflow.blocks.roboflow.measurements": "detections",
    "visionflow.blocks.roboflow.sinks": "sinks",
    "visionflow.blocks.roboflow.flow": "flow control",
    "visionflow.blocks.roboflow.inner_workflow": "flow control",
    "visionflow.blocks.roboflow.geometry": "image operations",
    "visionflow.blocks.roboflow.motion": "image operations",
    "visionflow.blocks.roboflow.mask_snap": "image operations",
    "visionflow.blocks.roboflow.ocr_stitching": "detections",
    "visionflow.blocks.roboflow.similarity": "detections",
    "visionflow.blocks.roboflow.compound_models": "models",
    "visionflow.blocks.roboflow.cache": "flow control",
    "visionflow.blocks.roboflow.aggregation": "analytics",
    "visionflow.blocks.roboflow.sampling": "analytics",
    "visionflow.blocks.roboflow.outbound": "sinks",
    "visionflow.blocks.roboflow.zone_visualisations": "visualisations",
    "visionflow.blocks.roboflow.video_analytics": "video",
    "visionflow.blocks.roboflow.video_buffers": "video",
    "visionflow.blocks.roboflow.video_tracks": "video",
    "visionflow.blocks.roboflow.trackers": "video",
    "visionflow.blocks.dynamic": "defined in the document",
}


CATEGORY_ORDER = (
    "models",
    "image operations",
    "detections",
    "flow control",
    "formatters",
    "analytics",
    "video",
    "visualisations",
    "sinks",
    "functional dialect",
    "deepomatic dialect",
    "defined in the document",
)


def category_rank(category: str) -> tuple[int, str]:
    """Where a group comes in the listing: the order above, then plugins by name."""
    known = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
    return known, category


def block_category(loaded: Any) -> str:
    """The block's own ``category``, else the group of the module defining it, else the
    plugin that brought it."""
    block = loaded.block_class
    if block.category:
        return block.category
    module = block.__module__
    found = [prefix for prefix in MODULE_CATEGORIES if module.startswith(prefix)]
    return MODULE_CATEGORIES[max(found, key=len)] if found else f"plugin {loaded.plugin}"


def block_summary(loaded: Any) -> dict[str, Any]:
    names = loaded.block_class.type_names()
    description = loaded.block_class.description()
    return {
        "type": names[0],
        "aliases": list(names[1:]),
        "summary": plain_text(first_sentence(description)),
        "category": block_category(loaded),
        "plugin": loaded.plugin,
    }


_CODE = re.compile(r"``(.+?)``")
_ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "cf")


def first_sentence(docstring: str) -> str:
    """The docstring's first sentence, whole: a period inside parentheses or code, or after
    "e.g.", ends nothing (a docstring's first line often stops mid-sentence)."""
    paragraph = " ".join(inspect.cleandoc(docstring).split("\n\n")[0].split())
    depth, in_code = 0, False
    for position, char in enumerate(paragraph):
        if paragraph.startswith("``", position):
            in_code = not in_code if position == 0 or paragraph[position - 1] != "`" else in_code
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "." and not depth and not in_code:
            following = paragraph[position + 1 : position + 2]
            word = paragraph[:position].rsplit(" ", 1)[-1].lower()
            if following in ("", " ") and word not in _ABBREVIATIONS:
                return paragraph[: position + 1]
    return paragraph


def plain_text(text: str) -> str:
    """Docstring markup (``code``) as plain text."""
    return _CODE.sub(r"\1", text)


def styled_text(text: str) -> Any:
    """Docstring markup as a rich Text: code spans styled, their backticks gone."""
    from rich.text import Text

    styled = Text()
    last = 0
    for match in _CODE.finditer(text):
        styled.append(text[last : match.start()])
        styled.append(match.group(1), style="cyan")
        last = match.end()
    styled.append(text[last:])
    return styled


def block_details(loaded: Any) -> dict[str, Any]:
    """What a workflow author needs to know about a block, as JSON-ready data."""
    from visionflow.blocks.api import Block

    block = loaded.block_class
    fields = block.Manifest.model_fields.items()
    # an overridden describe_outputs makes the outputs (or their kinds) depend on the step
    depends = block.describe_outputs.__func__ is not Block.describe_outputs.__func__
    return {
        **block_summary(loaded),
        "description": inspect.cleandoc(block.description()),
        "fields": [
            field_details(name, info) for name, info in fields if name not in ("name", "type")
        ],
        "outputs": [{"name": output.name, "kinds": list(output.kinds)} for output in block.outputs],
        "outputs_depend_on_fields": depends,
        "accepts_batches": block.accepts_batches,
        "batch_fields": sorted(block.batch_fields),
        "accepts_empty": block.accepts_empty,
        "output_dimensionality_offset": block.output_dimensionality_offset,
        "input_dimensionality_offsets": dict(block.input_dimensionality_offsets),
        "dimensionality_reference": block.dimensionality_reference,
        "init_parameters": list(block.init_parameters),
    }


def field_details(name: str, info: Any) -> dict[str, Any]:
    """One manifest field: its type, default, and the selectors it accepts."""
    from visionflow.blocks.api import SelectorInfo, selector_infos

    selectors = selector_infos(info)
    # pydantic moves a top-level Annotated's metadata from the annotation to .metadata
    top = next((meta for meta in info.metadata if isinstance(meta, SelectorInfo)), None)
    details = {
        "name": name,
        "aliases": field_aliases(name, info),
        "type": _selector_text(top) if top else type_text(info.annotation),
        "required": info.is_required(),
        "selector_kinds": sorted({k for s in selectors if not s.step_reference for k in s.kinds}),
        "step_reference": any(s.step_reference for s in selectors),
        # Roboflow's parameter fields: a batch-oriented value there is a compile error
        "parameter_only": bool(selectors) and all(s.scalar_only for s in selectors),
    }
    if not details["required"]:
        details["default"] = info.get_default(call_default_factory=True)
    return details


def field_aliases(name: str, info: Any) -> list[str]:
    """The other names a field answers to (e.g. Roboflow's ``image`` for ``images``)."""
    from pydantic import AliasChoices

    alias = info.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
    return [choice for choice in choices if isinstance(choice, str) and choice != name]


def type_text(annotation: Any) -> str:
    """A manifest field's type as a workflow author reads it: ``selector | float``."""
    from visionflow.blocks.api import SelectorInfo

    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        info = next((m for m in annotation.__metadata__ if isinstance(m, SelectorInfo)), None)
        return _selector_text(info) if info else type_text(arguments[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(argument) for argument in arguments)
    if origin is typing.Literal:
        return " | ".join(repr(argument) for argument in arguments)
    if origin is not None:
        inner = ", ".join(type_text(argument) for argument in arguments)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if annotation is typing.Any:
        return "any"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _selector_text(info: Any) -> str:
    return "step" if info.step_reference else "selector"


def print_block(details: dict[str, Any]) -> None:
    from rich.text import Text

    out = console()
    title = Text(details["type"], style="bold")
    if details["aliases"]:
        title.append(f"  (aliases: {', '.join(details['aliases'])})")
    title.append(f"  from {details['plugin']}", style="dim")
    out.print(title)
    # paragraphs re-flowed to the terminal's width (docstrings wrap at the source's width)
    paragraphs = details["description"].split("\n\n")
    out.print(styled_text("\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)))
    print_table(
        "fields",
        ["field", "type", "required / default", "selector kinds"],
        [
            [
                " or ".join([field["name"], *field["aliases"]]),
                field["type"],
                "required" if field["required"] else f"default {shown(field['default'])}",
                _accepted_selectors(field),
            ]
            for field in details["fields"]
        ],
    )
    outputs = [[output["name"], ", ".join(output["kinds"])] for output in details["outputs"]]
    if outputs:
        print_table("outputs", ["output", "kinds"], outputs)
    else:
        out.print("outputs: none")
    if details["outputs_depend_on_fields"]:
        out.print("outputs depend on the step's fields; the kinds above are the defaults")
    offsets = details["input_dimensionality_offsets"]
    for line in [
        f"accepts batches: {_yes(details['accepts_batches'])}",
        "batch fields (a parameter given there is cast to a batch): "
        + (", ".join(details["batch_fields"]) or "none"),
        f"accepts empty inputs: {_yes(details['accepts_empty'])}",
        f"output dimensionality offset: {_offset(details['output_dimensionality_offset'])}",
        "input dimensionality offsets: "
        + (", ".join(f"{name} {_offset(offset)}" for name, offset in offsets.items()) or "none"),
        "dimensionality reference (one result per child of it): "
        + (details["dimensionality_reference"] or "none"),
        f"init parameters: {', '.join(details['init_parameters']) or 'none'}",
    ]:
        out.print(Text(line))


def _accepted_selectors(field: dict[str, Any]) -> str:
    if field["step_reference"]:
        return "steps to run next ($steps.<name>)"
    kinds = ", ".join(field["selector_kinds"]) or "—"
    return f"{kinds} (parameter)" if field["parameter_only"] else kinds


def _offset(offset: int) -> str:
    return f"{offset:+d}" if offset else "0"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
