"""Custom steps: classes from a Python file next to the document (Deepomatic's custom nodes).

A custom step class subclasses ``CustomNode``; it is built as ``cls(config, node_name,
input_nodes, concepts)`` when the workflow is compiled and called as ``process(context,
regions)`` for each image: ``regions`` are the regions of its inputs (one list, each region
once), ``context.inputs`` the same by input name, ``context.entries`` the values of the
Text/Number entries it names. It returns the list of regions it outputs;
``region.add_concept(name, value)`` makes the new ones.

Loading the file runs its code: refused unless the workflow is compiled with
``allow_custom_code``. A mistake in the file, while loading or inside ``process`` (also
one that ``add_concept`` finds: it knows the declared concepts while ``process`` runs), is
reported with the file and the line.
"""

from __future__ import annotations

import ast
import importlib.util
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from visionflow.blocks.api import BlockManifest
from visionflow.blocks.deepomatic.base import DeepomaticBlock, DeepomaticManifest
from visionflow.blocks.deepomatic.regions import (
    DECLARED_CONCEPTS,
    Concept,
    Region,
    check_concept_value,
    flatten,
)
from visionflow.errors import (
    CustomCodeNotAllowedError,
    DefinitionError,
    ManifestError,
    UnknownBlockTypeError,
)
from visionflow.suggestions import close_matches


class CustomNode:
    """The base class of custom steps, with Deepomatic's constructor; a subclass defines
    ``process(context, regions)``."""

    def __init__(self, config: dict, node_name: str, input_nodes: list[str], concepts: list):
        self.config = config
        self.node_name = node_name
        self.input_nodes = input_nodes
        self.concepts = concepts

    def process(self, context: CustomContext, regions: list[Region]) -> list[Region]:
        raise NotImplementedError(f"custom step {type(self).__name__} defines no process()")


@dataclass(frozen=True)
class CustomContext:
    """What a custom step knows besides its regions."""

    inputs: dict[str, list[Region]] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)


class DeclaredConcept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["Boolean", "Text", "Number"]


class CustomStepError(Exception):
    """An exception raised inside a custom step's ``process``, located in its file."""


class CustomStep(DeepomaticBlock):
    """A step whose ``process`` is a class of a custom step file."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/custom@v1"]
        files: list[str]  # the custom_nodes files, searched in order for the class
        file_versions: list[str]  # in the definition, so an edited file makes a new plan
        class_name: str
        input_names: list[str] = Field(default_factory=list)
        config: dict[str, Any] = Field(default_factory=dict)
        concepts: list[DeclaredConcept] = Field(default_factory=list)

    init_parameters = ["allow_custom_code"]

    @classmethod
    def produced_concepts(cls, args: Any, step_name: str) -> list[tuple[str, str]]:
        return [(c["name"], c["type"]) for c in args.get("concepts", [])]

    def setup(self, manifest: BlockManifest) -> None:
        # Checked before the files are even looked at: the document may come from anyone.
        if not self.allow_custom_code:
            raise CustomCodeNotAllowedError(
                "this step runs Python code from a custom step file (custom_nodes), "
                "and custom code is not allowed here",
                hint="compile with allow_custom_code=True where documents come from people "
                "you trust",
            )
        self.step = manifest.name
        self.input_names = manifest.input_names
        self.declared = {c.name: c.type for c in manifest.concepts}
        node_class, self.file = _find_class(manifest)
        code = getattr(node_class.process, "__code__", None)
        self.where = f"{self.file}, line {code.co_firstlineno}, in process" if code else self.file
        concepts = [c.model_dump() for c in manifest.concepts]
        try:
            self.node = node_class(
                dict(manifest.config), manifest.name, list(manifest.input_names), concepts
            )
        except Exception as error:
            raise DefinitionError(
                f"{manifest.class_name}(...) failed: {_located(error, self.file)}",
                place="field 'type'",
            ) from None

    def run(self, inputs: list[list[Region]], values: dict[str, Any], **_: Any) -> dict:
        context = CustomContext(dict(zip(self.input_names, inputs, strict=True)), dict(values))
        # add_concept checks against the declared concepts, so a mistake names its line
        token = DECLARED_CONCEPTS.set(self.declared)
        try:
            made = self.node.process(context, flatten(inputs))
        except Exception as error:
            raise CustomStepError(_located(error, self.file)) from error
        finally:
            DECLARED_CONCEPTS.reset(token)
        if not isinstance(made, list) or not all(isinstance(r, Region) for r in made):
            raise CustomStepError(
                f"{self.where}: process() must return a list of regions, returned {made!r:.100}"
            )
        return {"regions": [self._stamped(region) for region in made]}

    def _stamped(self, region: Region) -> Region:
        """The region with the concepts it gained here marked as this step's, and checked."""
        concepts = []
        for concept in region.concepts:
            if not concept.step:
                declared = self.declared.get(concept.name)
                if declared is None:
                    raise CustomStepError(
                        f"{self.where}: process() added concept '{concept.name}', which the "
                        f"step does not declare (declared: {sorted(self.declared) or 'none'})"
                    )
                try:
                    check_concept_value(concept.name, declared, concept.value)
                except ValueError as error:
                    raise CustomStepError(f"{self.where}: {error}") from None
                concept = Concept(
                    concept.name,
                    declared,
                    concept.value,
                    self.step,
                    concept.confidence,
                    concept.predictions,
                )
            concepts.append(concept)
        return replace(region, created_by=region.created_by or self.step, concepts=tuple(concepts))


_modules: dict[tuple[str, str], ModuleType] = {}  # (path, version) -> loaded module


def load_custom_file(path: str, version: str) -> ModuleType:
    """A custom step file imported as a module (once per content); errors name file and line."""
    if (path, version) in _modules:
        return _modules[path, version]
    if not Path(path).is_file():
        raise DefinitionError(
            f"no custom step file at '{path}'",
            place="field 'type'",
            hint="a relative custom_nodes path is taken from the document's folder, or the "
            "current directory for a document that is not a file",
        )
    name = f"visionflow_custom_steps_{abs(hash((path, version)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot load custom step file '{path}'", place="field 'type'")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # the point of a custom step: allowed by the caller
    except SyntaxError as error:
        raise DefinitionError(
            f"{error.filename}, line {error.lineno}: {error.msg}: {(error.text or '').strip()!r}",
            place="field 'type'",
            hint="fix the custom step file",
        ) from None
    except Exception as error:
        raise DefinitionError(
            f"the custom step file failed while loading: {_located(error, path)}",
            place="field 'type'",
        ) from None
    _modules[path, version] = module
    return module


def _find_class(manifest: Any) -> tuple[type[CustomNode], str]:
    """The step's class and the file it is in, from the first file that has it."""
    found: list[str] = []
    for path, version in zip(manifest.files, manifest.file_versions, strict=True):
        module = load_custom_file(path, version)
        node_class = getattr(module, manifest.class_name, None)
        if node_class is not None:
            _check_node_class(node_class, manifest.class_name, path)
            return node_class, path
        found += [name for name, value in vars(module).items() if _is_node_class(value)]
    from visionflow.blocks.deepomatic import step_library  # the package imports this module

    close = close_matches(manifest.class_name, [*found, *step_library()], n=3)
    raise UnknownBlockTypeError(
        f"unknown step type '{manifest.class_name}': neither a built-in step nor a CustomNode "
        f"class of {', '.join(manifest.files)}",
        place="field 'type'",
        hint=f"did you mean {', '.join(map(repr, close))}?" if close else None,
    )


def _is_node_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, CustomNode) and value is not CustomNode


def _check_node_class(node_class: Any, name: str, path: str) -> None:
    """A compile error, at the class's line, unless it is a CustomNode with a process()."""
    line = _class_line(path, name)
    where = f"{path}, line {line}" if line else path
    if not _is_node_class(node_class):
        problem = (
            f"class '{name}' does not subclass CustomNode"
            if isinstance(node_class, type)
            else f"'{name}' is a {type(node_class).__name__}, not a class"
        )
        raise DefinitionError(
            f"{where}: {problem}, so it is not a custom step",
            place="field 'type'",
            hint=f"write `class {name}(CustomNode):` with a process(context, regions) method "
            "(from visionflow.blocks.deepomatic import CustomNode)",
        )
    if node_class.process is CustomNode.process:
        raise DefinitionError(
            f"{where}: class '{name}' has no process(context, regions) method",
            place="field 'type'",
            hint="define process(self, context, regions), returning the regions the step outputs",
        )


def _class_line(path: str, name: str) -> int | None:
    """The line of ``class <name>`` in the file (None where the file does not define it)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    classes = (node for node in tree.body if isinstance(node, ast.ClassDef))
    return next((node.lineno for node in classes if node.name == name), None)


def _located(error: BaseException, path: str) -> str:
    """``file, line N, in function: Type: message`` at the deepest frame inside ``path``."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _same(f.filename, path)]
    where = f"{path}, line {frames[-1].lineno}, in {frames[-1].name}: " if frames else ""
    return f"{where}{type(error).__name__}: {error}"


def _same(filename: str, path: str) -> bool:
    try:
        return Path(filename).resolve() == Path(path).resolve()
    except OSError:
        return False


def custom_step_files(value: Any, base_dir: Path) -> list[tuple[str, str]]:
    """(absolute path, version) of each custom step file listed under ``custom_nodes``.

    Nothing here runs, parses or reports a file's content: whether the document may use
    custom code is only known when its steps are set up.
    """
    names = [value] if isinstance(value, str) else value or []
    if not isinstance(names, list) or not all(_is_path_text(name) for name in names):
        raise DefinitionError(
            "custom_nodes must be a file path or a list of them", place="custom_nodes"
        )
    files = []
    for name in names:
        path = Path(name) if Path(name).is_absolute() else base_dir / name
        try:
            path = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop: kept as named, refused like any file
            path = path.absolute()
        files.append((str(path), _version_of(path)))
    return files


def _is_path_text(name: Any) -> bool:
    """A text that can name a file (no NUL byte, not empty)."""
    return isinstance(name, str) and bool(name) and "\x00" not in name


def _version_of(path: Path) -> str:
    """Size and modification time: changes when the file is edited, without reading it."""
    try:
        status = path.stat()
    except OSError:
        return "missing"
    return f"{status.st_size}-{status.st_mtime_ns}"


def validated_custom_args(args: dict[str, Any], place: str) -> dict[str, Any]:
    """A custom step's args, free but for ``concepts``: the ``{name, type}`` it writes."""
    declared = args.get("concepts") or []
    declared = declared if isinstance(declared, list) else [declared]
    for position, concept in enumerate(declared):
        try:
            DeclaredConcept.model_validate(concept)
        except ValidationError as error:
            raise ManifestError(
                f"a declared concept needs a name and a type (Boolean, Text or Number): "
                f"{error.errors()[0]['msg']} (found {concept!r})",
                place=f"{place} args 'concepts'[{position}]",
            ) from None
    return {**args, "concepts": list(declared)}
