"""What `visionflow models` shows: the zoo (and user model folders) and each model's spec."""

from __future__ import annotations

from typing import Any

from visionflow.errors import ModelError


def model_rows() -> list[dict[str, Any]]:
    from visionflow.models.zoo import model_file, zoo_entries

    rows = []
    for entry in zoo_entries().values():
        try:
            path, available = str(model_file(entry)), True
        except ModelError:
            path, available = None, False
        rows.append(
            {
                "id": entry.id,
                "task": entry.description.get("task"),
                "format": entry.description.get("format", "default"),
                "package": entry.package,
                "installed": available,
                "install": entry.install,
                "file": path,
                "description": entry.description.get("description", ""),
                "defined_in": str(entry.origin),
            }
        )
    return sorted(rows, key=lambda row: row["id"])


def model_details(model_id: str) -> dict[str, Any]:
    """The merged spec of a zoo model, as a workflow would get it."""
    from visionflow.models.library import ModelLibrary

    spec, path = ModelLibrary().spec(model_id)
    return {**spec.model_dump(), "file": str(path)}
