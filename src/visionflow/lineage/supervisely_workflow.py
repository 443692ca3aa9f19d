"""Supervisely's ``api.app.workflow``: its add_input_* / add_output_* calls with their
parameters and defaults, and ``WorkflowSettings`` / ``WorkflowMeta``, recorded through
``Lineage._add`` like every other lineage call.

As Supervisely documents them: the relation settings customise the data card of the call
(kept on its link), the node settings the task's card (the last call's win, whole); a
project card takes no customisation (ignored, with a log line). Versions are for inputs:
an output given ``version_id`` or ``version_num`` is refused.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from visionflow.lineage.add_calls import ADD_CALLS
from visionflow.lineage.cards import CardSettings
from visionflow.lineage.current import current
from visionflow.lineage.errors import CardSettingsError, DataLineageError, NoCurrentTaskError

if TYPE_CHECKING:
    from visionflow.lineage.supervisely import Api

logger = logging.getLogger("visionflow.lineage.supervisely")
TASK_VARIABLE = "TASK_ID"  # what Supervisely sets in an app's environment


class _MaterialCard(CardSettings):
    any_icon = True  # any Material Design icon name, as Supervisely takes


@dataclass(frozen=True)
class WorkflowSettings:
    """How one card looks (every field optional), checked when made.

    >>> WorkflowSettings(title="Project Archive", icon="archive", icon_color="#ff4c9e",
    ...                  icon_bg_color="#ffe3ed", url="/files/3", url_title="Download")
    """

    title: str | None = None
    icon: str | None = None
    icon_color: str | None = None
    icon_bg_color: str | None = None
    url: str | None = None
    url_title: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        self.card()

    def card(self) -> CardSettings:
        """The same settings as a visionflow card."""
        try:
            return _MaterialCard(**{f.name: getattr(self, f.name) for f in fields(self)})
        except CardSettingsError as error:
            raise error.at("WorkflowSettings") from None

    @property
    def as_dict(self) -> dict[str, Any]:
        """Supervisely's JSON form of these settings (what a ``meta`` dict holds)."""
        found: dict[str, Any] = {}
        for name in ("title", "description"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        if self.icon is not None:
            icon = {
                "icon": self.icon,
                "color": self.icon_color,
                "backgroundColor": self.icon_bg_color,
            }
            found["icon"] = {key: value for key, value in icon.items() if value is not None}
        if self.url is not None:
            found["mainLink"] = {"url": self.url, "title": self.url_title or self.url}
        return found


@dataclass(frozen=True)
class WorkflowMeta:
    """Settings for the relation card (the call's input or output) and the main node (the
    task): ``WorkflowMeta(relation_settings=WorkflowSettings(...), node_settings=...)``."""

    relation_settings: WorkflowSettings | None = None
    node_settings: WorkflowSettings | None = None

    def __post_init__(self) -> None:
        for name in ("relation_settings", "node_settings"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, WorkflowSettings):
                raise CardSettingsError(
                    f"{name} must be WorkflowSettings, found {type(value).__name__}",
                    place="WorkflowMeta",
                )

    @property
    def as_dict(self) -> dict[str, Any]:
        found = {}
        if self.relation_settings is not None:
            found["customRelationSettings"] = self.relation_settings.as_dict
        if self.node_settings is not None:
            found["customNodeSettings"] = self.node_settings.as_dict
        return found


def meta_cards(meta: Any, call: str) -> tuple[CardSettings | None, CardSettings | None]:
    """The relation and node cards a call's ``meta`` asks for (a WorkflowMeta, or its dict)."""
    if meta is None:
        return None, None
    if isinstance(meta, dict):
        meta = _meta_from_dict(meta, f"{call}: meta")
    if not isinstance(meta, WorkflowMeta):
        raise CardSettingsError(
            f"meta must be a WorkflowMeta or its dict, found {type(meta).__name__}",
            place=f"{call}: meta",
        )
    relation, node = meta.relation_settings, meta.node_settings
    return (relation.card() if relation else None), (node.card() if node else None)


_SECTIONS = {"customRelationSettings": "relation_settings", "customNodeSettings": "node_settings"}


def _meta_from_dict(meta: dict, place: str) -> WorkflowMeta:
    unknown = sorted(set(meta) - set(_SECTIONS))
    if unknown or not meta:
        raise CardSettingsError(
            f"unknown meta key(s) {', '.join(map(repr, unknown))}" if unknown else "empty meta",
            place=place,
            hint="meta holds customRelationSettings and/or customNodeSettings",
        )
    sections = {
        _SECTIONS[key]: _settings_from_dict(value, f"{place} {key}") for key, value in meta.items()
    }
    return WorkflowMeta(**sections)


def _settings_from_dict(found: Any, place: str) -> WorkflowSettings:
    known = {"title", "description", "icon", "mainLink"}
    if not isinstance(found, dict) or set(found) - known:
        raise CardSettingsError(
            f"expected a dict of {', '.join(sorted(known))}, found {found!r}", place=place
        )
    icon, link = found.get("icon") or {}, found.get("mainLink") or {}
    if not isinstance(icon, dict) or not isinstance(link, dict):
        raise CardSettingsError("'icon' and 'mainLink' are dicts", place=place)
    try:
        return WorkflowSettings(
            title=_unwrapped(found.get("title"), "h4"),
            description=_unwrapped(found.get("description"), "small"),
            icon=_without_prefix(icon.get("icon")),
            icon_color=icon.get("color"),
            icon_bg_color=icon.get("backgroundColor"),
            url=link.get("url"),
            url_title=link.get("title"),
        )
    except CardSettingsError as error:
        raise error.at(place, within=False) from None


def _unwrapped(text: Any, tag: str) -> Any:
    """Supervisely's own ``as_dict`` writes a title as ``<h4>title</h4>`` and a description
    as ``<small>description</small>``: the text inside, as the card draws it."""
    if not isinstance(text, str):
        return text
    found = re.fullmatch(rf"\s*<{tag}>(.*)</{tag}>\s*", text, re.DOTALL)
    return found.group(1) if found else text


def _without_prefix(icon: Any) -> Any:
    """Its icons are ``zmdi-<name>`` in the dict (the class takes the bare name)."""
    return icon.removeprefix("zmdi-") if isinstance(icon, str) else icon


class Workflow:
    """``api.app.workflow``: each call links the task (``task_id``, by default the current
    one) to one card; its return value is the link's id (None if the store failed)."""

    def __init__(self, api: Api):
        self._api = api

    # --- inputs ------------------------------------------------------------------------

    def add_input_project(
        self, project=None, version_id: int | None = None, version_num: int | None = None,
        task_id: int | None = None, meta=None,
    ) -> int | None:  # fmt: skip
        """A project the task read, by id, ProjectInfo or path; at a version if given
        (``version_id`` alone names its project too)."""
        name = "add_input_project"
        if project is None:
            if version_id is None:
                raise DataLineageError(
                    "give the project or a version_id", place=name,
                    hint="add_input_project(project_id) or add_input_project(version_id=...)",
                )  # fmt: skip
            if version_num is not None:
                raise DataLineageError("version_num needs the project", place=name)
            found = self._api._version_project(version_id, name)
        else:
            found = self._api._path("project", project, name)
        return self._record(name, found, task_id, meta, version_id=version_id,
                            version_num=version_num)  # fmt: skip

    def add_input_dataset(self, dataset, task_id: int | None = None, meta=None) -> int | None:
        """A dataset the task read, by id, DatasetInfo or path."""
        name = "add_input_dataset"
        return self._record(name, self._api._path("dataset", dataset, name), task_id, meta)

    def add_input_file(
        self, file, model_weight: bool = False, task_id: int | None = None, meta=None
    ) -> int | None:
        """A file the task read, by id, FileInfo or path; ``model_weight=True`` for weights."""
        name = "add_input_file"
        found = self._api._path("file", file, name)
        return self._record(name, found, task_id, meta, model_weight=model_weight)

    def add_input_folder(self, path: str, task_id: int | None = None, meta=None) -> int | None:
        """A folder the task read files from."""
        name = "add_input_folder"
        return self._record(name, self._api._path("folder", path, name), task_id, meta)

    def add_input_task(self, input_task_id: int, task_id: int | None = None, meta=None):
        """Another task this one used (its id)."""
        return self._record("add_input_task", input_task_id, task_id, meta)

    def add_input_job(self, id: int, task_id: int | None = None, meta=None) -> int | None:
        """A labeling job (its id) the task took data from."""
        name = "add_input_labeling_job"
        return self._record(name, self._api._key("labeling_job", id, name), task_id, meta)

    # --- outputs -----------------------------------------------------------------------

    def add_output_project(
        self, project, version_id: int | None = None, task_id: int | None = None, meta=None,
        *, version_num: int | None = None,
    ) -> int | None:  # fmt: skip
        """A project the task wrote (by id, ProjectInfo or path); versions are for inputs."""
        name = "add_output_project"
        _no_version(name, version_id, version_num)
        return self._record(name, self._api._path("project", project, name), task_id, meta)

    def add_output_dataset(self, dataset, task_id: int | None = None, meta=None) -> int | None:
        """A dataset the task wrote, by id, DatasetInfo or path."""
        name = "add_output_dataset"
        return self._record(name, self._api._path("dataset", dataset, name), task_id, meta)

    def add_output_file(
        self, file, model_weight: bool = False, task_id: int | None = None, meta=None
    ) -> int | None:
        """A file the task wrote, by id, FileInfo or path; ``model_weight=True`` for weights."""
        name = "add_output_file"
        found = self._api._path("file", file, name)
        return self._record(name, found, task_id, meta, model_weight=model_weight)

    def add_output_folder(self, path: str, task_id: int | None = None, meta=None) -> int | None:
        """A folder the task wrote its result files into."""
        name = "add_output_folder"
        return self._record(name, self._api._path("folder", path, name), task_id, meta)

    def add_output_app(self, task_id: int | None = None, meta=None) -> int | None:
        """The task's own offline session, where its result can be seen."""
        task = self._task(task_id, "add_output_app")
        session = f"offline session of task {task}"
        return self._record("add_output_app", session, task, meta)

    def add_output_task(self, output_task_id: int, task_id: int | None = None, meta=None):
        """A task this one started (its id)."""
        return self._record("add_output_task", output_task_id, task_id, meta)

    def add_output_job(self, id: int, task_id: int | None = None, meta=None) -> int | None:
        """A labeling job (its id) the task made."""
        name = "add_output_labeling_job"
        return self._record(name, self._api._key("labeling_job", id, name), task_id, meta)

    # --- the one path to the store -----------------------------------------------------

    def _record(self, name: str, thing: Any, task_id, meta, **options: Any) -> int | None:
        call = ADD_CALLS[name]
        relation, node = meta_cards(meta, name)
        if relation is not None and call.kind == "project":
            logger.info("%s: a project card is not customised; relation_settings ignored", name)
            relation = None
        if thing is None and call.kind != "task":  # the store failed reading an id (lenient)
            return None
        return self._api.lineage._add(
            call, thing, task_id=self._task(task_id, name), card=relation, task_card=node,
            replace_task_card=True, **options,
        )  # fmt: skip

    def _task(self, task_id: int | None, place: str) -> int | None:
        """The task given, else the current one, else the app's TASK_ID (Supervisely's)."""
        if task_id is not None:
            return task_id
        found = current(place)
        if found is None and os.environ.get(TASK_VARIABLE, "").isdigit():
            return int(os.environ[TASK_VARIABLE])
        if found is None:  # Supervisely starts an app's task; here the code starts it
            raise NoCurrentTaskError(
                f"no task is running, no task_id was given and {TASK_VARIABLE} is not set",
                place=place,
                hint="wrap the calls in `with api.lineage.task(name):`, pass task_id=, or set "
                f"{TASK_VARIABLE} to a task of this store (`visionflow lineage list`)",
            )
        return found


def _no_version(name: str, version_id, version_num) -> None:
    if version_id is not None or version_num is not None:
        which = "version_id" if version_id is not None else "version_num"
        raise DataLineageError(
            f"{which} is for inputs only: an output is the project as this task wrote it",
            place=name,
            hint="record the output without it; api.project.version.create(project) makes "
            "a version that a later task can read with add_input_project(..., version_id=)",
        )
