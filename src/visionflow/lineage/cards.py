"""How a card looks on the lineage page: title, description, icon and colours, a link.

Settings can be given for the relation card (the data card of one ``add_*`` call) and for
the main node (the task); each is checked here, so a mistake fails at the call that made it.
Icons: visionflow's names (``ICONS``) and the Material Design names the page draws
(``supervisely_icons.MATERIAL_ICONS``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from visionflow.lineage.errors import CardSettingsError
from visionflow.lineage.supervisely_icons import MATERIAL_ICONS

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_ICON = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # Material names may start with a digit
ICONS = {  # icon name -> the glyph the page draws in the icon circle
    "project": "▦",
    "dataset": "▤",
    "file": "▯",
    "folder": "▭",
    "task": "⚙",
    "labeling-job": "✎",
    "app": "▶",
    "model": "◆",
    "image": "▣",
    "chart": "▲",
    "check": "✔",
    "star": "★",
    "warning": "!",
    "database": "◉",
}


@dataclass(frozen=True)
class CardSettings:
    """A card's customisation; every field is optional.

    >>> CardSettings(title="Train split", icon="dataset", icon_color="#fff",
    ...              icon_bg_color="#2563eb", url="/projects/7", url_title="open")
    """

    title: str | None = None
    description: str | None = None
    icon: str | None = None
    icon_color: str | None = None
    icon_bg_color: str | None = None
    url: str | None = None
    url_title: str | None = None
    # Supervisely's cards take any Material Design icon name (the page draws it, or its name)
    any_icon: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check(self)

    def as_dict(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def card_settings(value: CardSettings | dict[str, Any] | None, which: str) -> dict[str, str]:
    """``value`` checked and as stored (a dict without empty fields); ``which`` names it."""
    if value is None:
        return {}
    if isinstance(value, CardSettings):
        return value.as_dict()
    if not isinstance(value, dict):
        raise CardSettingsError(
            f"expected CardSettings or a dict, found {type(value).__name__}", place=which
        )
    known = {field.name for field in fields(CardSettings)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise CardSettingsError(
            f"unknown card setting(s) {', '.join(map(repr, unknown))}",
            place=which,
            hint=f"the settings are: {', '.join(sorted(known))}",
        )
    try:
        return CardSettings(**value).as_dict()
    except CardSettingsError as error:
        raise error.at(which) from None


def _check(card: CardSettings) -> None:
    for field in fields(CardSettings):
        value = getattr(card, field.name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise CardSettingsError(f"'{field.name}' must be a non-empty text, found {value!r}")
    known = card.icon in ICONS or card.icon in MATERIAL_ICONS or card.any_icon
    if card.icon is not None and (not _ICON.fullmatch(card.icon) or not known):
        names = ", ".join(sorted(set(ICONS) | set(MATERIAL_ICONS)))
        raise CardSettingsError(f"unknown icon {card.icon!r}", hint=f"the icons are: {names}")
    for name in ("icon_color", "icon_bg_color"):
        colour = getattr(card, name)
        if colour is None:
            continue
        if card.icon is None:
            raise CardSettingsError(f"'{name}' is given without 'icon'", hint="add an icon")
        if not _COLOUR.fullmatch(colour):
            raise CardSettingsError(
                f"'{name}' must be a hex colour like #1e88e5 or #fff, found {colour!r}"
            )
    if card.url_title is not None and card.url is None:
        raise CardSettingsError("'url_title' is given without 'url'", hint="add a url")
    if card.url is not None and not _same_site(card.url):
        raise CardSettingsError(
            f"'url' must be a relative address starting with '/', found {card.url!r}",
            hint="write the path inside the application, e.g. /projects/7",
        )


def _same_site(url: str) -> bool:
    """A path inside the application: one slash first, and no character that a browser reads
    as a second slash (a backslash) or drops (tab, newline, other controls), which would
    make it name another host."""
    if not url.startswith("/") or url.startswith("//"):
        return False
    return "\\" not in url and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in url)
