"""The selector grammar: written, read and escaped by selectors.py, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import visionflow
from visionflow.selectors import (
    escape_literals,
    input_selector,
    looks_like_selector,
    parse_selector,
    step_name,
    step_selector,
    unescape_literals,
)


def test_selectors_written_here_read_back():
    assert input_selector("image") == "$inputs.image"
    assert step_selector("detect", "predictions") == "$steps.detect.predictions"
    assert step_selector("detect") == "$steps.detect"
    read = parse_selector(step_selector("crop", "crops"))
    assert (read.source, read.name, read.output, read.origin) == (
        "steps",
        "crop",
        "crops",
        "$steps.crop",
    )
    assert parse_selector(input_selector("my image")).origin == "$inputs.my image"
    assert parse_selector(step_selector("gate")).is_step_reference


def test_flow_control_targets_name_steps_with_or_without_the_prefix():
    assert step_name("$steps.crop") == "crop"
    assert step_name("crop") == "crop"


def test_escaped_literals_read_back_as_the_same_values():
    values = ["$5", "5", "$$", {"price": "$inputs.x"}, [1, None, "$steps.a.b"]]
    escaped = escape_literals(values)
    assert escaped == ["$$5", "5", "$$$", {"price": "$$inputs.x"}, [1, None, "$$steps.a.b"]]
    assert not any(looks_like_selector(text) for text in ("$$5", "$$$", "$$inputs.x"))
    assert unescape_literals(escaped) == values


# Building, recognising or matching selector text anywhere else repeats the grammar.
_GRAMMAR_OUTSIDE = re.compile(
    r'f"\$(inputs|steps|outputs)\.'  # a selector (or graph node) built by hand
    r'|(startswith|removeprefix)\("\$'  # a selector recognised by hand
    r"|\^\\\$"  # a regular expression for selectors
)


def test_no_module_but_selectors_knows_the_grammar():
    package = Path(visionflow.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "selectors.py" or path.parent != package
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _GRAMMAR_OUTSIDE.search(line)
    ]
    assert found == []
