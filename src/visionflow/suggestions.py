"""Suggestions ("did you mean ...?"): the known names closest to a mistaken one, cheaply.

``difflib`` compares the word with every candidate, in time that grows with the product of
their lengths; a document controls both the word and (through its own names) the
candidates, so both are bounded here: suggestions are for typos, not for essays.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from itertools import islice

MAX_WORD = 100  # characters: a longer word is no typo of a name
MAX_CANDIDATES = 1_000  # names compared at most (the first ones given)


def close_matches(
    word: object,
    candidates: Iterable[str],
    n: int = 3,
    cutoff: float = 0.6,
    spread: float | None = None,
) -> list[str]:
    """Up to ``n`` candidates close to ``word`` (``difflib.get_close_matches``), or none when
    the word is not a short text. With ``spread``, only those within it of the closest one
    (names sharing a long prefix all look alike to difflib; the typo is nearest)."""
    if not isinstance(word, str) or len(word) > MAX_WORD:
        return []
    names = [name for name in islice(candidates, MAX_CANDIDATES) if len(name) <= MAX_WORD]
    found = difflib.get_close_matches(word, names, n=n, cutoff=cutoff)
    if spread is None or not found:
        return found
    ratios = [difflib.SequenceMatcher(None, word, name).ratio() for name in found]
    return [name for name, ratio in zip(found, ratios, strict=True) if ratio >= ratios[0] - spread]
