"""Fuzzy matching and ranking of names, fast enough to run on every keystroke over 10,000 names.

Ranking, best first:
  1. names that start with what was typed (case-insensitive),
  2. names that contain the typed characters in order, by fuzzy score: fewer characters between the
     matched ones first, then an earlier first match,
  3. within equal rank, names used recently, most recent first,
  4. then by name.
Prefix matches come from a bisection of the sorted names. The fuzzy pass runs a compiled regex over the
lower-cased names with `map` (the loop stays in C) and only when the prefix matches do not fill the menu.
Typing one more character can only remove fuzzy matches, so `Narrowing` remembers the last matches and
the next keystroke scans only those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, lshift, methodcaller, mul, sub

from kfshell.completion.snapshot import Item, SourceIndex

# How many suggestions the menu offers; building more menu entries would cost time on every keystroke and
# be scrolled past anyway (typing one more character narrows faster than scrolling).
DEFAULT_LIMIT = 100
# Ranking keys are single ints, sorted in C: score, then position (name order); recent use is applied
# afterwards, to the few names that can make the menu.
_POSITION_BITS = 24
_POSITION_MASK = (1 << _POSITION_BITS) - 1
# A rank for names never used, placed after every recently used one.
_NOT_RECENT = 1 << 30
_END_1 = methodcaller("end", 1)
_END_2 = methodcaller("end", 2)


def _possessive_supported() -> bool:
    try:
        re.compile("a*+")
    except re.error:  # Python before 3.11
        return False
    return True


# Possessive gaps never give characters back, so a name that does not match fails at once.
_GAP = "*+" if _possessive_supported() else "*"


def fuzzy_pattern(query: str) -> re.Pattern[str]:
    """A regex matching a whole name from its start, taking the first occurrence of each of `query`'s
    characters in order. Group 1 is the text before the match, group 2 the match itself."""
    first = re.escape(query[0])
    parts = [first]
    for char in query[1:]:
        escaped = re.escape(char)
        parts.append(f"[^{escaped}]{_GAP}{escaped}")
    return re.compile(f"([^{first}]{_GAP})({''.join(parts)})")


def _score(before: int, span: int, query_length: int) -> int:
    """Lower is better: characters skipped between matched ones first, then where the match starts."""
    return (span - query_length) * 1024 + before  # as rank_narrowing computes it in bulk


def fuzzy_score(name: str, query: str) -> int | None:
    """The fuzzy score of one name, or None when the characters do not occur in order."""
    match = fuzzy_pattern(query.lower()).match(name.lower())
    if match is None:
        return None
    return _score(match.end(1), match.end(2) - match.start(2), len(query))


@dataclass(frozen=True)
class Narrowing:
    """The positions that matched `query` in `index`: a later query that extends this one can only
    match among them."""

    index: SourceIndex
    query: str
    positions: tuple[int, ...]

    def covers(self, index: SourceIndex, query: str) -> bool:
        return self.index is index and query.startswith(self.query)


@dataclass(frozen=True)
class Ranked:
    items: list[Item]
    narrowing: Narrowing | None = None


def rank(
    index: SourceIndex,
    query: str,
    *,
    recent: Mapping[str, int] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Item]:
    """The items of `index` matching `query`, best first, at most `limit` of them.

    `recent` maps a name to how recently it was used (0 = most recent).
    """
    return rank_narrowing(index, query, recent=recent, limit=limit).items


def rank_narrowing(
    index: SourceIndex,
    query: str,
    *,
    recent: Mapping[str, int] | None = None,
    limit: int = DEFAULT_LIMIT,
    previous: Narrowing | None = None,
) -> Ranked:
    """`rank`, also returning what the next keystroke can narrow from (when a full scan was made)."""
    recent = recent or {}
    query = query.lower()
    if not query:
        return Ranked(_in_recent_order(index, range(len(index)), recent, limit))
    prefix = index.prefix_range(query)
    if len(prefix) >= limit:
        # Prefix matches rank first and fill the menu: no need to look further.
        return Ranked(_in_recent_order(index, prefix, recent, limit))
    if previous is not None and previous.covers(index, query):
        candidates: Sequence[int] = previous.positions
        names: Sequence[str] = [index.lower[p] for p in candidates]
    else:
        candidates = range(len(index))
        names = index.lower
    # Everything below loops in C (map, compress, operator): a Python-level loop per name would cost
    # several milliseconds at 10,000 names.
    matches = list(map(fuzzy_pattern(query).match, names))
    hits = list(compress(matches, matches))
    positions = list(compress(candidates, matches))
    before = list(map(_END_1, hits))
    # score = gaps * 1024 + characters before the match (gaps = span - len(query): the same offset for all)
    scores = list(map(add, map(mul, map(sub, map(_END_2, hits), before), repeat(1024)), before))
    keys = sorted(map(add, map(lshift, scores, repeat(_POSITION_BITS)), positions))
    best = [key & _POSITION_MASK for key in keys[:limit]]
    if recent and best:
        best = _with_recent_first(best, positions, scores, _recent_positions(index, recent), limit,
                                  complete=len(keys) <= limit)
    return Ranked([index.items[position] for position in best], Narrowing(index, query, tuple(positions)))


def _with_recent_first(
    best: list[int],
    positions: list[int],
    scores: list[int],
    recent: Mapping[int, int],
    limit: int,
    *,
    complete: bool,
) -> list[int]:
    """Re-rank the best positions (by score, then name) so that, within equal scores, recently used names
    come first; recently used names just outside the cut-off at the same score are brought in."""
    if not recent:
        return best
    score_of = dict(zip(positions, scores, strict=True))
    worst = score_of[best[-1]]
    chosen = set(best)
    chosen.update(p for p in recent if p in score_of and (complete or score_of[p] <= worst))
    ordered = sorted(chosen, key=lambda p: (score_of[p], recent.get(p, _NOT_RECENT), p))
    return ordered[:limit]


def _recent_positions(index: SourceIndex, recent: Mapping[str, int]) -> dict[int, int]:
    positions = {}
    for name, order in recent.items():
        for position in index.positions_of(name):
            positions[position] = order
    return positions


def _in_recent_order(
    index: SourceIndex, positions: range, recent: Mapping[str, int], limit: int
) -> list[Item]:
    """The items at `positions` (already in name order) with the recently used ones moved to the front."""
    items = index.items
    if not recent:
        return list(items[positions.start : min(positions.stop, positions.start + limit)])
    used = []
    for name, order in recent.items():
        used.extend((order, position) for position in index.positions_of(name))
    in_range = sorted((order, position) for order, position in used if position in positions)
    front = [position for _, position in in_range]
    taken = set(front)
    result = [items[position] for position in front[:limit]]
    for position in positions:
        if len(result) >= limit:
            break
        if position not in taken:
            result.append(items[position])
    return result
