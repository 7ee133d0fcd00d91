"""Pure helpers on the words people type."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def did_you_mean(
    word: str, choices: Sequence[str], *, n: int = 1, cutoff: float = 0.6
) -> list[str]:
    """Close matches of `word` among `choices` (case-insensitive), best first."""
    lowered = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(word.lower(), lowered, n=n, cutoff=cutoff)
    return [lowered[m] for m in matches]
