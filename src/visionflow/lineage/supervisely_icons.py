"""Material Design icon names (Supervisely's card icons, without the ``zmdi-`` prefix) that
the lineage page draws, each as a simple shape of our own on a 24 x 24 grid.

Supervisely takes any name of that icon font; the page draws the ones below and, for any
other name, a generic frame with the name written under it, so a card never lies about
its icon. Paths use the even-odd rule: an inner shape is a hole in the outer one.
"""

from __future__ import annotations

MATERIAL_ICONS: dict[str, str] = {
    "archive": "M3 4h18v4H3z M4 9h16v11H4z M9 11h6v2H9z",
    "folder": "M2 5h7l2 2h11v13H2z",
    "file": "M6 2h8l5 5v15H6z",
    "file-text": "M6 2h8l5 5v15H6z M8 11h8v1.5H8z M8 14h8v1.5H8z M8 17h5v1.5H8z",
    "image": "M3 5h18v14H3z M5 17l4-5 3 3 2-2 4 4z",
    "collection-image": "M7 3h14v12H7z M9 13l3-4 2 2 2-2 3 4z M3 7h2v12h12v2H3z",
    "download": "M11 3h2v9l3.3-3.3 1.4 1.4L12 15.8l-5.7-5.7 1.4-1.4L11 12z M4 19h16v2H4z",
    "upload": "M11 16h2V7l3.3 3.3 1.4-1.4L12 3.2 6.3 8.9l1.4 1.4L11 7z M4 19h16v2H4z",
    "cloud": "M6.5 19a4.5 4.5 0 0 1-.6-9 6.5 6.5 0 0 1 12.3 1.1A4 4 0 0 1 18 19z",
    "check": "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
    "star": "M12 2l2.9 6.9 7.1.6-5.4 4.7 1.6 7.2L12 17.6l-6.2 3.8 1.6-7.2L2 9.5l7.1-.6z",
    "play-circle": "M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20z M10 8v8l6-4z",
    "settings": (
        "M10 2h4l.6 3 2.2 1.3 2.9-1 2 3.4-2.3 2v2.6l2.3 2-2 3.4-2.9-1-2.2 1.3-.6 3h-4"
        "l-.6-3-2.2-1.3-2.9 1-2-3.4 2.3-2v-2.6l-2.3-2 2-3.4 2.9 1L9.4 5z"
        " M12 8.5a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7z"
    ),
    "chart": "M4 13h3v7H4z M10.5 8h3v12h-3z M17 4h3v16h-3z",
    "layers": "M12 2 2 7l10 5 10-5z M4 11l8 4 8-4 2 1-10 5-10-5z M4 16l8 4 8-4 2 1-10 5-10-5z",
    "label": "M3 3h8l10 10-8 8L3 11z M7 5.5a1.5 1.5 0 1 0 0 3a1.5 1.5 0 1 0 0-3z",
    "time": "M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20z M11 6v7l5 3 .8-1.3-4.3-2.5V6z",
    "case": "M9 3h6v3h6v14H3V6h6z M10.5 4.5V6h3V4.5z",
    "assignment": "M5 4h4a3 3 0 0 1 6 0h4v18H5z M8 10h8v1.5H8z M8 14h8v1.5H8z M8 18h5v1.5H8z",
    "storage": "M3 4h18v4H3z M3 10h18v4H3z M3 16h18v4H3z",
    "account": "M12 3a4 4 0 1 0 0 8a4 4 0 1 0 0-8z M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7z",
    "flash": "M7 2h10l-4 8h4L8 22l2-9H7z",
    "apps": (
        "M4 4h4v4H4z M10 4h4v4h-4z M16 4h4v4h-4z M4 10h4v4H4z M10 10h4v4h-4z M16 10h4v4h-4z"
        " M4 16h4v4H4z M10 16h4v4h-4z M16 16h4v4h-4z"
    ),
}
# Any other name: a frame, with the icon's name written under the circle.
FALLBACK_ICON = "M5 5h14v14H5z M7.5 7.5v9h9v-9z"
