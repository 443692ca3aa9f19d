"""What a dataset run records in the lineage store: its task, inputs and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.compiler import definition_hash


def model_files(workflow: Any) -> list[tuple[str, Path]]:
    """(model id, file) of every model the compiled workflow's steps loaded."""
    found: dict[Path, str] = {}
    for step in workflow.plan.steps.values():
        model = getattr(step.block, "model", None)
        path, spec = getattr(model, "path", None), getattr(model, "spec", None)
        if path is not None and spec is not None:
            found.setdefault(Path(path), spec.id)
    return [(model_id, path) for path, model_id in found.items()]


def record_inputs(lineage, task_id, version_id, workflow, workflow_file: Path, images: Path):
    """The dataset at its version, the workflow document, the model files as weights."""
    if task_id is None:
        return
    definition = workflow.plan.definition
    lineage.add_input_dataset(
        images, version_id=version_id, task_id=task_id, card={"icon": "dataset"}
    )
    lineage.add_input_file(
        workflow_file,
        task_id=task_id,
        card={"icon": "file", "description": "workflow"},
        meta={"definition_hash": definition_hash(definition), "version": definition.version},
    )
    for model_id, path in model_files(workflow):
        lineage.add_input_file(
            path,
            model_weight=True,
            task_id=task_id,
            meta={"model": model_id},
            card={"icon": "model", "description": model_id},
        )


EXPORT_CARDS = {
    "coco": ("chart", "COCO detections"),
    "yolo": ("folder", "YOLO labels"),
    "csv": ("chart", "CSV predictions"),
    "jsonl": ("file", "JSON Lines predictions"),
}


def record_outputs(
    lineage, task_id: int | None, output: Path, exports: list[tuple[str, Path]], count: int
):
    if task_id is None:
        return
    lineage.add_output_folder(
        output,
        task_id=task_id,
        meta={"images": count},
        card={"icon": "folder", "description": f"{count} predictions"},
    )
    for export, path in exports:
        icon, description = EXPORT_CARDS[export]
        add = lineage.add_output_folder if path.is_dir() else lineage.add_output_file
        add(path, task_id=task_id, card={"icon": icon, "description": description})
