"""Blocks from plugins (env vars, entry points) and direct classes; init parameters."""

from __future__ import annotations

import sys
import textwrap
from typing import Any, Literal

import pytest

from visionflow import Block, Output, Selector, Workflow
from visionflow.blocks.loader import forget_loaded_blocks
from visionflow.errors import BlockLoadingError, InitParameterError
from visionflow.kinds import is_known
from visionflow.workflow import clear_cache

PLUGIN_SOURCE = '''
from typing import Any, Literal
from visionflow import Block, Output, Selector

class Greeting(Block):
    """Greets someone, with the greeting word from an init parameter."""

    class Manifest(Block.Manifest):
        type: Literal["{plugin}/greet@v1"]
        who: Selector(kinds=["string"]) | str

    outputs = [Output("text", kinds=["{kind}"])]
    init_parameters = ["word"]

    def run(self, who: Any) -> dict:
        return {{"text": f"{{self.word}}, {{who}}!"}}

def load_blocks():
    return [Greeting]

def load_kinds():
    return ["{kind}"]

REGISTERED_INITIALIZERS = {initializers}
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Writes a plugin module to a temporary folder on sys.path; returns its name."""

    def write(name: str, initializers: str = "{}") -> str:
        source = PLUGIN_SOURCE.format(plugin=name, kind=f"{name}_text", initializers=initializers)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    forget_loaded_blocks()
    clear_cache()
    yield write
    forget_loaded_blocks()
    clear_cache()
    for name in [m for m in sys.modules if m.startswith("vfplug")]:
        del sys.modules[name]


def greet(plugin_name: str) -> dict:
    return {
        "inputs": [{"type": "parameter", "name": "who"}],
        "steps": [{"type": f"{plugin_name}/greet@v1", "name": "greet", "who": "$inputs.who"}],
        "outputs": [{"type": "JsonField", "name": "text", "selector": "$steps.greet.text"}],
    }


def test_plugin_named_in_visionflow_plugins(plugin, monkeypatch):
    name = plugin("vfplug_a", initializers="{'word': 'Hello'}")
    monkeypatch.setenv("VISIONFLOW_PLUGINS", name)
    assert Workflow.compile(greet(name)).run(who="Ada") == [{"text": "Hello, Ada!"}]
    assert is_known("vfplug_a_text")  # the plugin's kind was registered


def test_plugin_named_in_workflows_plugins(plugin, monkeypatch):
    name = plugin("vfplug_b", initializers="{'word': lambda: 'Hi'}")  # a callable default
    monkeypatch.delenv("VISIONFLOW_PLUGINS", raising=False)
    monkeypatch.setenv("WORKFLOWS_PLUGINS", f" {name} ,")
    assert Workflow.compile(greet(name)).run(who="Bob") == [{"text": "Hi, Bob!"}]


def test_plugin_found_through_an_entry_point(plugin, tmp_path, monkeypatch):
    name = plugin("vfplug_c", initializers="{'word': 'Hey'}")
    dist = tmp_path / "vfplug_c-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vfplug-c\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[visionflow.plugins]\nvfplug_c = {name}\n")
    monkeypatch.delenv("VISIONFLOW_PLUGINS", raising=False)
    assert Workflow.compile(greet(name)).run(who="Cy") == [{"text": "Hey, Cy!"}]


def test_init_parameters_resolve_qualified_then_plugin_default_then_plain(plugin, monkeypatch):
    name = plugin("vfplug_d", initializers="{'word': 'Default'}")
    monkeypatch.setenv("VISIONFLOW_PLUGINS", name)
    run = lambda params: Workflow.compile(greet(name), init_parameters=params).run(who="Di")  # noqa: E731
    assert run({f"{name}.word": "Qualified", "word": "Plain"}) == [{"text": "Qualified, Di!"}]
    assert run({"word": "Plain"}) == [{"text": "Default, Di!"}]


def test_plain_init_parameter_used_when_plugin_has_no_default(plugin, monkeypatch):
    name = plugin("vfplug_e")
    monkeypatch.setenv("VISIONFLOW_PLUGINS", name)
    result = Workflow.compile(greet(name), init_parameters={"word": "Plain"}).run(who="Ed")
    assert result == [{"text": "Plain, Ed!"}]


def test_missing_init_parameter_is_a_compile_error(plugin, monkeypatch):
    name = plugin("vfplug_f")
    monkeypatch.setenv("VISIONFLOW_PLUGINS", name)
    with pytest.raises(InitParameterError) as caught:
        Workflow.compile(greet(name))
    assert caught.value.place == "steps[0] 'greet'"
    assert "'word'" in caught.value.message and f"{name}.word" in caught.value.hint


def test_missing_plugin_module_is_a_clear_error(monkeypatch):
    forget_loaded_blocks()
    monkeypatch.setenv("VISIONFLOW_PLUGINS", "vfplug_does_not_exist")
    with pytest.raises(BlockLoadingError, match="'vfplug_does_not_exist' could not be imported"):
        Workflow.compile({"inputs": []}, cache=False)
    forget_loaded_blocks()


class WholeImageCrop(Block):
    """Replaces the core DynamicCrop: one 'crop' per image, the whole image."""

    class Manifest(Block.Manifest):
        type: Literal["DynamicCrop"]
        images: Selector(kinds=["image"])
        predictions: Selector()

    outputs = [Output("crops", kinds=["image"])]
    output_dimensionality_offset = 1

    def run(self, images: Any, predictions: Any) -> list[dict]:
        return [{"crops": images}]


def test_block_classes_passed_directly_override_same_named_blocks(test_blocks, astronaut):
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "test/fixed_boxes@v1",
                "name": "detect",
                "image": "$inputs.image",
                "boxes": [[0, 0, 5, 5], [1, 1, 9, 9]],
                "classes": ["a", "b"],
            },
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
        ],
        "outputs": [{"type": "JsonField", "name": "crops", "selector": "$steps.crop.crops"}],
    }
    crops = Workflow.compile(definition, blocks=[*test_blocks, WholeImageCrop]).run(image=astronaut)
    assert [crop.width for crop in crops[0]["crops"]] == [512]
    core = Workflow.compile(definition, blocks=test_blocks).run(image=astronaut)
    assert [crop.width for crop in core[0]["crops"]] == [5, 8]


def test_malformed_block_class_is_rejected():
    class NoType:
        """Not a Block at all."""

    with pytest.raises(BlockLoadingError, match=r"not a subclass of visionflow\.Block"):
        Workflow.compile({"inputs": []}, blocks=[NoType], cache=False)


class MisspeltKindReader(Block):
    """Counts the letters of a text, but names the text's kind 'strng'."""

    class Manifest(Block.Manifest):
        type: Literal["test/misspelt_kind@v1"]
        text: Selector(kinds=["strng"])

    outputs = [Output("length", kinds=["integer"])]

    def run(self, text: str) -> dict:
        return {"length": len(text)}


def test_a_field_of_an_unknown_kind_fails_when_the_block_loads():
    with pytest.raises(BlockLoadingError) as caught:  # no step uses the block
        Workflow.compile({"inputs": []}, blocks=[MisspeltKindReader], cache=False)
    assert caught.value.message == (
        f"block MisspeltKindReader from {MisspeltKindReader.__module__}: "
        "field 'text' accepts unknown kinds ['strng']"
    )
    assert "register_kind" in caught.value.hint


def test_an_output_of_an_unknown_kind_fails_when_the_block_loads():
    class Measure(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/measure@v1"]

        outputs = [Output("size", kinds=["integer", "millimetre"])]

    with pytest.raises(BlockLoadingError) as caught:
        Workflow.compile({"inputs": []}, blocks=[Measure], cache=False)
    assert caught.value.message == (
        f"block Measure from {Measure.__module__}: output 'size' has unknown kinds ['millimetre']"
    )


KIND_USER_SOURCE = """
from typing import Literal
from visionflow import Block, Output, Selector

class Shout(Block):
    class Manifest(Block.Manifest):
        type: Literal["{plugin}/shout@v1"]
        text: Selector(kinds=["{kind}"])

    outputs = [Output("text", kinds=["{kind}"])]

    def run(self, text):
        return {{"text": text.upper()}}

def load_blocks():
    return [Shout]
"""


def test_a_plugin_may_use_the_kinds_of_a_plugin_loaded_after_it(plugin, tmp_path, monkeypatch):
    maker = plugin("vfplug_h", initializers="{'word': 'Hello'}")  # registers 'vfplug_h_text'
    source = KIND_USER_SOURCE.format(plugin="vfplug_g", kind="vfplug_h_text")
    (tmp_path / "vfplug_g.py").write_text(source)
    monkeypatch.setenv("VISIONFLOW_PLUGINS", f"vfplug_g,{maker}")
    definition = greet(maker)
    definition["steps"].append(
        {"type": "vfplug_g/shout@v1", "name": "shout", "text": "$steps.greet.text"}
    )
    definition["outputs"] = [{"type": "JsonField", "name": "text", "selector": "$steps.shout.text"}]
    assert Workflow.compile(definition).run(who="Ada") == [{"text": "HELLO, ADA!"}]


def test_a_plugin_block_of_an_unknown_kind_fails_at_load(plugin, tmp_path, monkeypatch):
    source = KIND_USER_SOURCE.format(plugin="vfplug_i", kind="vfplug_nobody_text")
    (tmp_path / "vfplug_i.py").write_text(source)
    monkeypatch.setenv("VISIONFLOW_PLUGINS", "vfplug_i")
    with pytest.raises(BlockLoadingError) as caught:
        Workflow.compile({"inputs": []})
    assert caught.value.message == (
        "block Shout from vfplug_i: output 'text' has unknown kinds ['vfplug_nobody_text']"
    )
