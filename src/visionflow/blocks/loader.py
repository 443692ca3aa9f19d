"""Where blocks come from: the core library, plugins, entry points and direct classes.

Plugins are modules named in ``VISIONFLOW_PLUGINS`` (or ``WORKFLOWS_PLUGINS``), comma
separated, or Python entry points in the group ``visionflow.plugins``. A plugin module
exposes ``load_blocks()``, and optionally ``load_kinds()`` and ``REGISTERED_INITIALIZERS``.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from visionflow.blocks.api import Block, BlockManifest, Output, manifest_selectors
from visionflow.errors import BlockLoadingError, InitParameterError
from visionflow.kinds import Kind, is_known, register_kind

PLUGIN_VARIABLES = ("VISIONFLOW_PLUGINS", "WORKFLOWS_PLUGINS")
ENTRY_POINT_GROUP = "visionflow.plugins"
CORE_PLUGIN = "visionflow.core"
DEFERRED_LIBRARIES = ("visionflow.blocks.roboflow",)
"""Core libraries imported only when needed: Roboflow's ~150 blocks take a fifth of a
validation's time, and a document that names none of them does not need them. Their kinds
are registered by ``kinds.py``, so that a document's inputs may name them regardless."""


@dataclass(frozen=True)
class LoadedBlock:
    block_class: type[Block]
    plugin: str


@dataclass
class BlockRegistry:
    """Every known block by type name and alias, plus each plugin's default init values.

    ``deferred`` names libraries (modules with ``load_blocks()``) not imported yet: they
    load when a type name is not found among the others (``find``), or when every block is
    asked for (``by_type``), so a document of core blocks does not import them at all.
    """

    known: dict[str, LoadedBlock] = field(default_factory=dict)
    initializers: dict[str, dict[str, Any]] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)

    @property
    def by_type(self) -> dict[str, LoadedBlock]:
        """Every block by type name and alias (the deferred libraries loaded first)."""
        self.load_deferred()
        return self.known

    def find(self, name: str) -> LoadedBlock | None:
        """The block of type ``name``; the deferred libraries load only if it is not known."""
        found = self.known.get(name)
        if found is None and self.deferred:
            self.load_deferred()
            found = self.known.get(name)
        return found

    def load_deferred(self) -> None:
        if not self.deferred:
            return
        with _cache_lock:  # threads compiling at once load a library only once
            while self.deferred:
                library = importlib.import_module(self.deferred[0])
                for block_class in library.load_blocks():
                    self.add(block_class, CORE_PLUGIN)
                self.deferred.pop(0)

    def add(self, block_class: type[Block], plugin: str, *, override: bool = False) -> None:
        check_block_class(block_class, plugin)
        for name in block_class.type_names():
            known = self.known.get(name)
            if known and known.block_class is not block_class and not override:
                raise BlockLoadingError(
                    f"block type '{name}' is defined twice: by {known.plugin} "
                    f"({known.block_class.__name__}) and by {plugin} ({block_class.__name__})",
                    hint="rename one of them, or load only one of the plugins",
                )
            self.known[name] = LoadedBlock(block_class, plugin)

    def with_blocks(self, blocks: list[type[Block]]) -> BlockRegistry:
        """A copy with blocks passed directly to compile (they win over same-named ones)."""
        registry = BlockRegistry(dict(self.by_type), dict(self.initializers))  # all loaded
        for block_class in blocks:
            registry.add(block_class, _plugin_name_of(block_class), override=True)
        return registry

    def block_classes(self) -> list[LoadedBlock]:
        unique = {id(loaded.block_class): loaded for loaded in self.by_type.values()}
        return sorted(unique.values(), key=lambda loaded: loaded.block_class.type_names()[0])


_cache: dict[tuple, BlockRegistry] = {}
_cache_lock = threading.RLock()  # threads compiling at once build a registry only once


def plugin_modules() -> tuple[str, ...]:
    names: list[str] = []
    for variable in PLUGIN_VARIABLES:
        names += [part.strip() for part in os.environ.get(variable, "").split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def load_registry() -> BlockRegistry:
    """The core library plus installed plugins; cached per set of plugin modules."""
    key = plugin_modules()
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _build_registry(key)
        return _cache[key]


def forget_loaded_blocks() -> None:
    """Drop cached registries, so newly installed plugins and entry points are seen."""
    with _cache_lock:
        _cache.clear()


def _build_registry(module_names: tuple[str, ...]) -> BlockRegistry:
    from visionflow.blocks import core

    plugins = [(name, _import_plugin(name)) for name in module_names] + _entry_point_plugins()
    for name, plugin in plugins:  # every kind first: one plugin's blocks may use another's
        _register_kinds(name, plugin)
    registry = BlockRegistry(deferred=list(DEFERRED_LIBRARIES))
    for block_class in core.load_blocks():
        registry.add(block_class, CORE_PLUGIN)
    if plugins:  # a plugin's type that a deferred block has too: the same error as ever, now
        registry.load_deferred()
    for name, plugin in plugins:
        _add_plugin(registry, name, plugin)
    return registry


def _entry_point_plugins() -> list[tuple[str, Any]]:
    from importlib.metadata import entry_points  # slow to import; only needed here

    plugins = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugins.append((entry_point.name, entry_point.load()))
        except Exception as error:
            raise BlockLoadingError(
                f"entry point '{entry_point.name}' ({entry_point.value}) failed to load: {error}"
            ) from error
    return plugins


def _import_plugin(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as error:
        raise BlockLoadingError(
            f"plugin module '{name}' could not be imported: {type(error).__name__}: {error}",
            hint="check VISIONFLOW_PLUGINS and that the module is on the Python path",
        ) from error


def _register_kinds(name: str, plugin: Any) -> None:
    for kind in _called(name, plugin, "load_kinds", list):
        register_kind(kind if isinstance(kind, Kind) else Kind(str(kind)))


def _add_plugin(registry: BlockRegistry, name: str, plugin: Any) -> None:
    load_blocks = getattr(plugin, "load_blocks", plugin if callable(plugin) else None)
    if load_blocks is None:
        raise BlockLoadingError(f"plugin '{name}' has no load_blocks() function")
    for block_class in _called(name, plugin, "load_blocks", load_blocks):
        registry.add(block_class, name)
    registry.initializers[name] = dict(getattr(plugin, "REGISTERED_INITIALIZERS", {}))


def _called(name: str, plugin: Any, function: str, default: Any) -> list:
    """What a plugin's ``load_blocks()`` / ``load_kinds()`` returns, its failure named."""
    try:
        return list(getattr(plugin, function, default)())
    except Exception as error:
        raise BlockLoadingError(
            f"plugin '{name}': {function}() failed: {type(error).__name__}: {error}"
        ) from error


def _plugin_name_of(block_class: type) -> str:
    return block_class.__module__


def check_block_class(block_class: Any, plugin: str) -> None:
    """Reject malformed block classes when they are loaded, not when a step uses them."""
    where = f"block {getattr(block_class, '__name__', block_class)!s} from {plugin}"
    if not (isinstance(block_class, type) and issubclass(block_class, Block)):
        raise BlockLoadingError(f"{where}: not a subclass of visionflow.Block")
    manifest = getattr(block_class, "Manifest", None)
    if not (isinstance(manifest, type) and issubclass(manifest, BlockManifest)):
        raise BlockLoadingError(f"{where}: its Manifest must subclass Block.Manifest")
    if not block_class.type_names():
        raise BlockLoadingError(
            f'{where}: its Manifest must declare `type: Literal["name", ...aliases]`'
        )
    for output in block_class.outputs:
        if not isinstance(output, Output):
            raise BlockLoadingError(f"{where}: outputs must be Output(...) objects")
        _check_kinds(output.kinds, f"{where}: output '{output.name}' has")
    for name, infos in manifest_selectors(block_class.Manifest).items():
        _check_kinds(
            [kind for info in infos for kind in info.kinds], f"{where}: field '{name}' accepts"
        )
    fields = block_class.Manifest.model_fields
    for name, offset in block_class.input_dimensionality_offsets.items():
        if name not in fields or offset not in (0, 1):
            raise BlockLoadingError(
                f"{where}: input_dimensionality_offsets names '{name}'={offset}; "
                "offsets must name manifest fields and be 0 or 1"
            )
    if block_class.output_dimensionality_offset not in (-1, 0, 1):
        raise BlockLoadingError(f"{where}: output_dimensionality_offset must be -1, 0 or 1")


def _check_kinds(kinds: Sequence[str], what: str) -> None:
    # Checked when a block loads, so a misspelt kind names its block, not a later step.
    unknown = sorted(
        {str(kind) for kind in kinds if not (isinstance(kind, str) and is_known(kind))}
    )
    if unknown:
        raise BlockLoadingError(
            f"{what} unknown kinds {unknown}",
            hint="a plugin registers its kinds with load_kinds(); a block class passed to "
            "compile, with visionflow.kinds.register_kind() first",
        )


COMPILER_PARAMETERS = frozenset(
    {"allow_custom_code", "image_policy", "workflow_state", "video_states"}
)
"""Init parameters only the compiler gives (whoever compiles decides, nobody else);
``workflow_state`` is a dict shared by the steps of one compiled plan, never by two plans;
``video_states`` that plan's per-video state (``blocks/video_state.py``)."""


def resolve_init_parameters(
    loaded: LoadedBlock, given: dict[str, Any], registry: BlockRegistry, place: str
) -> dict[str, Any]:
    """Values for a block's init parameters.

    Order: explicit ``"{plugin}.{param}"``, then the plugin's registered default (a value
    or a no-argument callable), then explicit ``"{param}"``. The compiler's own parameters
    (``allow_custom_code``) come only from the compiler: neither a qualified name nor a
    plugin's default may turn custom code on.
    """
    defaults = registry.initializers.get(loaded.plugin, {})
    values: dict[str, Any] = {}
    for parameter in loaded.block_class.init_parameters:
        qualified = f"{loaded.plugin}.{parameter}"
        if parameter in COMPILER_PARAMETERS:
            values[parameter] = given[parameter]
        elif qualified in given:
            values[parameter] = given[qualified]
        elif parameter in defaults:
            default = defaults[parameter]
            values[parameter] = default() if callable(default) else default
        elif parameter in given:
            values[parameter] = given[parameter]
        else:
            raise InitParameterError(
                f"block {loaded.block_class.type_names()[0]} needs init parameter "
                f"'{parameter}', which nobody provides",
                place=place,
                hint=f"pass init_parameters={{'{parameter}': ...}} (or '{qualified}') to "
                "Workflow.compile, or register a default in the plugin's REGISTERED_INITIALIZERS",
            )
    return values
