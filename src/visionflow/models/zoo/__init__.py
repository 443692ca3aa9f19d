"""The zoo: real models that ship inside PyPI packages, found in the installed package's
files and never downloaded. Each model is described by one YAML file in this folder.

Users add their own models the same way: a YAML/JSON description next to the model file,
in a folder named by ``VISIONFLOW_MODELS`` (os.pathsep separated) or passed as ``source``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from visionflow.errors import ModelError

ZOO_PREFIX = "zoo:"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ZooEntry:
    id: str
    description: dict[str, Any]  # spec fields (task, format, labels, pre/post-processing...)
    package: str | None  # the package carrying the file; None for a file next to the YAML
    path: str  # inside the package, or relative to the YAML file
    install: str
    origin: Path  # the YAML file


def zoo_folders() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("VISIONFLOW_MODELS", "").split(os.pathsep) if p]
    return [HERE, *extra]


@cache
def _entries(folders: tuple[Path, ...]) -> dict[str, ZooEntry]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's where built: ~8x faster
    found: dict[str, ZooEntry] = {}
    for folder in folders:
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml"), *folder.glob("*.json")]):
            data = yaml.load(file.read_text(), Loader=loader)
            if not isinstance(data, dict) or "id" not in data:
                raise ModelError(f"model description '{file}' has no 'id'")
            model_id = str(data.pop("id"))  # `id: 12345` (a Deepomatic model id) is a text
            found[model_id] = ZooEntry(
                id=model_id,
                package=data.pop("package", None),
                path=data.pop("path"),
                install=data.pop("install", ""),
                origin=file,
                description=data,
            )
    return found


def zoo_entries() -> dict[str, ZooEntry]:
    return _entries(tuple(zoo_folders()))


def find_entry(name: str) -> ZooEntry | None:
    return zoo_entries().get(name.removeprefix(ZOO_PREFIX))


def model_file(entry: ZooEntry) -> Path:
    """The model file on disk; a clear error naming the install command when it is absent."""
    if entry.package is None:
        path = entry.origin.parent / entry.path
    else:
        spec = importlib.util.find_spec(entry.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"zoo model '{entry.id}' ships in the '{entry.package}' package, "
                "which is not installed",
                hint=f"install it: {entry.install}" if entry.install else None,
            )
        path = Path(next(iter(spec.submodule_search_locations))) / entry.path
    if not path.is_file():
        raise ModelError(
            f"zoo model '{entry.id}': file '{path}' is missing",
            hint=f"reinstall: {entry.install}" if entry.install else None,
        )
    return path
