"""Errors of the lineage store, the lineage API and dataset versions."""

from __future__ import annotations

from visionflow.errors import WorkflowError


class DataLineageError(WorkflowError):
    """Lineage or versions were asked for something that cannot be done as given."""

    code = "data_lineage_error"


class CardSettingsError(DataLineageError):
    """A card's customisation (title, icon, colours, url) is invalid."""

    code = "invalid_card_settings"


class NoCurrentTaskError(DataLineageError):
    code = "no_current_task"


class NotFoundError(DataLineageError):
    """A task, version or project that the call names is not in the store."""

    code = "lineage_not_found"


class StoreError(DataLineageError):
    """The store cannot be opened, migrated or written."""

    code = "lineage_store_error"


class ChangedContentError(DataLineageError):
    """A version's file no longer has the content it had (a linked file edited in place)."""

    code = "version_content_changed"
