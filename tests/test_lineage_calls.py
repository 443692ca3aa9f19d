"""The add_input_* / add_output_* family, made from one table: names, signatures, arguments."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("sqlalchemy")

import visionflow.lineage
from visionflow.lineage.add_calls import ADD_CALLS
from visionflow.lineage.api import Lineage
from visionflow.lineage.queries import lineage_graph
from visionflow.lineage.store import Store

NOUNS = ["project", "dataset", "file", "folder", "task", "labeling_job"]


@pytest.fixture
def lineage(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lineage.db'}", blobs=tmp_path / "blobs")
    yield Lineage(store, strict=True)
    store.close()


def test_every_row_is_a_method_and_a_module_function():
    expected = [f"add_{d}_{noun}" for noun in NOUNS for d in ("input", "output")]
    assert sorted(ADD_CALLS) == sorted([*expected, "add_output_app"])
    for name in ADD_CALLS:
        assert getattr(Lineage, name).__name__ == name
        assert name in visionflow.lineage.__all__


def test_the_methods_show_their_parameters():
    def parameters(name: str) -> list[str]:
        return list(inspect.signature(getattr(Lineage, name)).parameters)

    common = ["task_id", "meta", "card", "task_card"]
    assert parameters("add_input_project") == [
        "self",
        "project",
        "version_id",
        "version_num",
        *common,
    ]
    assert parameters("add_output_file") == ["self", "file", "model_weight", *common]
    assert parameters("add_input_task") == ["self", "input_task_id", *common]
    assert parameters("add_output_app") == ["self", "app_session", *common]
    assert Lineage.add_output_file.__doc__.startswith("Record that the task wrote a file;")


def test_arguments_given_by_position_or_name_mean_the_same(lineage, tmp_path):
    with lineage.task("train"):
        lineage.add_output_file(tmp_path / "best.onnx", True)  # model_weight by position
        lineage.add_input_file(file=tmp_path / "base.onnx", model_weight=True)
        lineage.add_input_folder(tmp_path / "raw", None, {"images": 3})  # task_id, meta
    nodes = {node["name"]: node for node in lineage_graph(lineage.store)["nodes"]}
    assert (nodes["best.onnx"]["model_weight"], nodes["base.onnx"]["model_weight"]) == (True, True)
    links = lineage_graph(lineage.store)["links"]
    assert [link["meta"] for link in links if link["meta"]] == [{"images": 3}]


def test_a_wrong_argument_is_a_type_error_as_for_any_method(lineage, tmp_path):
    with pytest.raises(TypeError, match="unexpected keyword argument 'version'"):
        lineage.add_input_project(tmp_path, version=2)
    with pytest.raises(TypeError, match="missing a required argument: 'folder'"):
        lineage.add_output_folder()
