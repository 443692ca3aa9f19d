"""Custom steps: classes of a Python file listed under ``custom_nodes``, built like
Deepomatic's ``CustomNode(config, node_name, input_nodes, concepts)`` and called as
``process(context, regions)``; custom code, so refused unless ``allow_custom_code``."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow import Workflow
from visionflow.dialects.deepomatic import parse_deepomatic
from visionflow.errors import (
    CustomCodeNotAllowedError,
    DefinitionError,
    StepExecutionError,
    UnknownBlockTypeError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

STEPS = '''\
from visionflow.blocks.deepomatic import CustomNode


class Checkpoint(CustomNode):
    """True on the whole image when at least `minimum` regions came in."""

    def process(self, context, regions):
        enough = len(regions) >= self.config["minimum"] + context.entries.get("extra", 0)
        whole = context.inputs["image"][0]
        return [whole.add_concept("enough", enough)]


class Seen(CustomNode):
    """Records how it was built (its own constructor, with Deepomatic's arguments)."""

    def __init__(self, config, node_name, input_nodes, concepts):
        self.built = (node_name, input_nodes, [c["name"] for c in concepts])

    def process(self, context, regions):
        return [r.add_concept("built", repr(self.built)) for r in regions]


class Broken(CustomNode):
    def process(self, context, regions):
        ratio = len(regions) / 0
        return regions


class Undeclared(Seen):
    def process(self, context, regions):
        return [r.add_concept("surprise", 1) for r in regions]


class WrongValue(CustomNode):
    def process(self, context, regions):
        made = []
        for region in regions:
            made.append(region.add_concept("built", 3))
        return made


class NotAList(CustomNode):
    def process(self, context, regions):
        return regions[0]


class NoProcess(CustomNode):
    pass


class NotNode:
    def process(self, context, regions):
        return regions
'''


def line_of(text: str, after: str | None = None) -> int:
    """The line of STEPS that reads ``text`` (stripped), the first after ``after``'s."""
    lines = [line.strip() for line in STEPS.splitlines()]
    start = lines.index(after) if after else 0
    return lines.index(text, start) + 1


def write_steps(folder: Path, text: str = STEPS, name: str = "steps.py") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def workflow_document(custom_nodes: str, step_type: str = "Checkpoint", **args) -> dict:
    concept = {"Checkpoint": ("enough", "Boolean")}.get(step_type, ("built", "Text"))
    return {
        "version": "1.2",
        "workflow_name": "custom",
        "custom_nodes": custom_nodes,
        "entries": [{"name": "image", "data_type": "Image"}],
        "outcomes": [
            {
                "name": "result",
                "output_of": "custom",
                "concept": {"name": concept[0], "type": concept[1]},
            }
        ],
        "steps": [
            {
                "name": "faces",
                "type": "Inference",
                "inputs": ["image"],
                "args": {"model_id": "mediapipe/face_detection_short_range"},
            },
            {
                "name": "custom",
                "type": step_type,
                "inputs": ["faces", "image"],
                "args": {
                    "minimum": 1,
                    "concepts": [{"name": concept[0], "type": concept[1]}],
                    **args,
                },
            },
        ],
    }


@pytest.fixture(scope="module")
def steps_file(tmp_path_factory) -> Path:
    return write_steps(tmp_path_factory.mktemp("custom"))


def test_a_custom_step_makes_a_checkpoint(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file)))
    assert workflow.run(image=astronaut)[0]["result"]["value"] is True


def test_a_custom_step_is_built_with_its_name_inputs_and_concepts(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file), "Seen"))
    result = workflow.run(image=astronaut)[0]["result"]
    assert result["values"] == ["('custom', ['faces', 'image'], ['built'])"] * 2


def test_its_concepts_are_marked_as_made_by_the_step(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file)))
    container = workflow.run(image=astronaut)[0]["FlowContainer"]
    whole = container["entries"][0]["regions"][0]
    assert [(c["name"], c["type"], c["step"]) for c in whole["concepts"]] == [
        ("enough", "Boolean", "custom")
    ]


def test_a_relative_path_is_taken_from_base_dir(steps_file):
    definition = parse_deepomatic(workflow_document("steps.py"), base_dir=steps_file.parent)
    assert definition.steps[1]["files"] == [str(steps_file.resolve())]


def test_without_base_dir_a_relative_path_is_taken_from_the_current_directory(
    steps_file, monkeypatch
):
    monkeypatch.chdir(steps_file.parent)
    definition = parse_deepomatic(workflow_document("steps.py"))
    assert definition.steps[1]["files"] == [str(steps_file.resolve())]


def test_a_missing_file_is_an_error_of_the_step_that_needs_it(tmp_path):
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(workflow_document(str(tmp_path / "nowhere.py")))
    assert caught.value.message == f"no custom step file at '{(tmp_path / 'nowhere.py').resolve()}'"
    assert caught.value.place == "steps[1] 'custom' field 'type'"


def test_custom_code_is_refused_unless_allowed(steps_file):
    with pytest.raises(CustomCodeNotAllowedError) as caught:
        Workflow.compile(workflow_document(str(steps_file)), allow_custom_code=False)
    assert caught.value.place == "steps[1] 'custom'"
    assert "custom_nodes" in caught.value.message


def test_a_refused_document_learns_nothing_of_the_files_it_names(tmp_path):
    secret = write_steps(tmp_path, "password = 'hunter2' +\n", name="secret.txt")
    for path in (secret, tmp_path / "nowhere.py"):
        with pytest.raises(CustomCodeNotAllowedError) as caught:
            Workflow.compile(workflow_document(str(path)), allow_custom_code=False)
        assert "hunter2" not in str(caught.value)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = write_steps(tmp_path, "class Checkpoint:\n    def process(self, context, regions)\n")
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(workflow_document(str(path)))
    assert caught.value.message.startswith(f"{path.resolve()}, line 2: expected ':'")
    assert caught.value.place == "steps[1] 'custom' field 'type'"


def test_an_exception_in_process_names_the_file_and_line(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file), "Broken"))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=astronaut)
    line = line_of("ratio = len(regions) / 0")
    assert caught.value.step == "custom"
    assert (
        f"{steps_file.resolve()}, line {line}, in process: ZeroDivisionError: division by zero"
        in caught.value.message
    )


def test_a_wrong_concept_value_names_the_line_that_adds_it(steps_file, astronaut):
    # add_concept knows the declared type (Text) while process runs, so it fails right there
    workflow = Workflow.compile(workflow_document(str(steps_file), "WrongValue"))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=astronaut)
    line = line_of('made.append(region.add_concept("built", 3))')
    assert caught.value.message.endswith(
        f"CustomStepError: {steps_file.resolve()}, line {line}, in process: ValueError: "
        "concept 'built' is a Text concept, but its value is int 3"
    )


def test_an_undeclared_concept_names_the_line_that_adds_it(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file), "Undeclared"))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=astronaut)
    line = line_of('return [r.add_concept("surprise", 1) for r in regions]')
    assert f"{steps_file.resolve()}, line {line}, in <listcomp>: ValueError: " in (
        caught.value.message
    )
    assert caught.value.message.endswith(
        "concept 'surprise' is not declared by the step (declared: built)"
    )


def test_a_result_that_is_no_list_names_the_process_method(steps_file, astronaut):
    workflow = Workflow.compile(workflow_document(str(steps_file), "NotAList"))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=astronaut)
    line = line_of("def process(self, context, regions):", after="class NotAList(CustomNode):")
    assert f"{steps_file.resolve()}, line {line}, in process: process() must return a list" in (
        caught.value.message
    )


def test_a_class_without_process_is_a_compile_error_at_its_line(steps_file):
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(workflow_document(str(steps_file), "NoProcess"))
    assert caught.value.place == "steps[1] 'custom' field 'type'"
    assert caught.value.message == (
        f"{steps_file.resolve()}, line {line_of('class NoProcess(CustomNode):')}: class "
        "'NoProcess' has no process(context, regions) method"
    )


def test_a_class_that_is_no_custom_node_is_a_compile_error_at_its_line(steps_file):
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(workflow_document(str(steps_file), "NotNode"))
    assert caught.value.place == "steps[1] 'custom' field 'type'"
    assert caught.value.message == (
        f"{steps_file.resolve()}, line {line_of('class NotNode:')}: class 'NotNode' does not "
        "subclass CustomNode, so it is not a custom step"
    )
    assert caught.value.hint.startswith("write `class NotNode(CustomNode):`")


def test_an_error_while_loading_the_file_names_its_line(tmp_path):
    path = write_steps(tmp_path, "class Checkpoint:\n    pass\n\nimport no_such_module\n")
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(workflow_document(str(path)))
    assert f"{path.resolve()}, line 4, in <module>: ModuleNotFoundError" in caught.value.message
    assert caught.value.place == "steps[1] 'custom' field 'type'"


def test_a_type_that_is_no_class_of_the_file(steps_file):
    with pytest.raises(UnknownBlockTypeError) as caught:
        Workflow.compile(workflow_document(str(steps_file), "Chekpoint"))
    assert caught.value.place == "steps[1] 'custom' field 'type'"
    assert "did you mean 'Checkpoint'" in caught.value.hint


def test_the_custom_step_example_measures_the_face(astronaut):
    # the example's custom_nodes path is relative: taken from the document's folder
    result = Workflow.compile(EXAMPLES / "deepomatic_custom.yaml").run(image=astronaut)[0]
    assert result["face areas"]["values"] == [pytest.approx(0.0327, abs=1e-4)]


def test_the_custom_step_source_is_part_of_the_definition(tmp_path, astronaut):
    path = write_steps(tmp_path)
    first = Workflow.compile(workflow_document(str(path)))
    write_steps(tmp_path, STEPS.replace('"minimum"] +', '"minimum"] + 5 +'))
    second = Workflow.compile(workflow_document(str(path)))
    assert first is not second  # an edited file is a new plan, not a cached one
    assert second.run(image=astronaut)[0]["result"]["value"] is False


def test_a_router_of_a_custom_steps_concept_takes_any_label(steps_file):
    # the labels a custom step writes are not known before it runs: nothing to check against
    document = workflow_document(str(steps_file), "Seen")
    document["steps"].append(
        {
            "name": "router",
            "type": "PredictionRouter",
            "inputs": ["custom"],
            "args": {"routing_name": "built", "routing_values": ["anything"]},
        }
    )
    router = parse_deepomatic(document).steps[2]
    assert (router["name"], router["label_sources"]) == ("router", [])
    Workflow.compile(document)
