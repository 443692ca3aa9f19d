"""Predictions for a batch of a folder's images: one workflow run for the whole batch.

An image that cannot be read, or that makes the run fail, fails alone: the batch is run
again image by image, so the others still get their predictions. Each file is read under
the run's ``ImagePolicy``: its size is checked from its header, before it is decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.data.image import load_image
from visionflow.data.sources import ImagePolicy
from visionflow.datasets.files import images_to_files
from visionflow.errors import WorkflowError


class UnreadableImageError(WorkflowError):
    code = "unreadable_image"


def predict_batch(
    workflow: Any,
    input_name: str,
    folder: Path,
    output: Path,
    names: list[str],
    policy: ImagePolicy,
) -> dict[str, dict | str]:
    """Image name -> its predictions record, or why it failed (in the order of ``names``)."""
    outcomes: dict[str, dict | str] = {}
    loaded = []
    for name in names:
        place = str(folder / name)
        try:
            loaded.append((name, load_image(folder / name, place=place, policy=policy).numpy))
        except WorkflowError as error:  # unreadable, or over the pixel limit
            outcomes[name] = str(
                UnreadableImageError(
                    f"cannot read image '{name}': {error.message}", place=place, hint=error.hint
                )
            )
    if loaded:
        outcomes.update(_records(workflow, input_name, output, loaded))
    return {name: outcomes[name] for name in names}


def _records(workflow: Any, input_name: str, output: Path, loaded: list) -> dict[str, dict | str]:
    from visionflow import serialize

    results = run_alone_on_failure(workflow, input_name, [pixels for _, pixels in loaded])
    return {
        name: result
        if isinstance(result, str)
        else {
            "image": name,
            "width": pixels.shape[1],
            "height": pixels.shape[0],
            "outputs": images_to_files(serialize(result), output / "images", name, output),
        }
        for (name, pixels), result in zip(loaded, results, strict=True)
    }


def run_alone_on_failure(workflow: Any, input_name: str, images: list) -> list[Any]:
    """The workflow's result for each image from one run; when an image fails that run,
    each image runs alone, so that only it fails (its entry is then why, a ``str``)."""
    try:
        return workflow.run({input_name: images})
    except WorkflowError as error:
        if len(images) == 1:
            return [str(error)]
        return [run_alone_on_failure(workflow, input_name, [image])[0] for image in images]
