"""Data lineage and dataset versions (SQLAlchemy is imported on first use, not here).

    from visionflow import lineage
    with lineage.task("clean labels"):
        lineage.add_input_project("data/cars", version_num=2)
        lineage.add_output_dataset("data/cars-clean")

The ``add_*`` functions, ``task``, ``start_task`` and ``finish_task`` act on a ``Lineage``
over the store the environment names (VISIONFLOW_LINEAGE_URL or VISIONFLOW_HOME).
Versions: ``visionflow.lineage.versions.create / restore / get_list``.
"""

from __future__ import annotations

from typing import Any

from visionflow.lineage.add_calls import ADD_CALLS

_DELEGATED = {"task", "start_task", "finish_task", "resume_task", *ADD_CALLS}
_EXPORTED = {
    "Lineage": "visionflow.lineage.api",
    "current_task": "visionflow.lineage.api",
    "CardSettings": "visionflow.lineage.cards",
    "Store": "visionflow.lineage.store",
    "DataLineageError": "visionflow.lineage.errors",
    "CardSettingsError": "visionflow.lineage.errors",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _DELEGATED:
        from visionflow.lineage.api import Lineage

        return getattr(Lineage(), name)
    if name in _EXPORTED:
        return getattr(importlib.import_module(_EXPORTED[name]), name)
    if name == "versions":
        return importlib.import_module("visionflow.lineage.versions")
    raise AttributeError(f"module 'visionflow.lineage' has no attribute {name!r}")


__all__ = sorted(_DELEGATED | set(_EXPORTED) | {"versions"})
