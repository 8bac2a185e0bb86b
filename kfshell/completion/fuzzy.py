"""Fuzzy matching and ranking of names, fast enough to run on every keystroke over 10,000 names.

Ranking, best first:
  1. names that start with what was typed (case-insensitive),
  2. names that contain the typed characters in order, by fuzzy score: fewer characters between the
     matched ones first, then an earlier first match,
  3. within equal rank, names used recently, most recent first,
  4. then by name.
Prefix matches come from a bisection of the sorted names; the fuzzy pass is one regex scan over the
newline-joined names (see `SourceIndex`), and only runs when the prefix matches do not fill the menu.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping

from kfshell.completion.snapshot import Item, SourceIndex

# How many suggestions the menu shows; ranking beyond it would cost time and be scrolled past anyway.
DEFAULT_LIMIT = 200
# A rank for names never used, placed after every recently used one.
_NOT_RECENT = 1 << 30


def fuzzy_pattern(query: str) -> re.Pattern[str]:
    """A regex finding, per line, the leftmost occurrence of `query`'s characters in order.

    Each gap is "anything but the next character", so the first occurrence is taken deterministically and
    a long query never backtracks exponentially. Group 1 is the text before the match, group 2 the match.
    """
    parts = []
    for position, char in enumerate(query):
        escaped = re.escape(char)
        if position == 0:
            parts.append(escaped)
        else:
            parts.append(f"[^{escaped}\\n]*{escaped}")
    first = re.escape(query[0])
    return re.compile(f"^([^{first}\\n]*)({''.join(parts)})", re.MULTILINE)


def fuzzy_score(name: str, query: str) -> int | None:
    """The fuzzy score of one name (lower is better), or None when the characters do not occur in order."""
    match = fuzzy_pattern(query.lower()).search(name.lower())
    if match is None:
        return None
    return _score(match.end(1) - match.start(1), match.end(2) - match.start(2) - len(query))


def _score(start: int, gaps: int) -> int:
    return gaps * 1024 + min(start, 1023)


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
    recent = recent or {}
    query = query.lower()
    if not query:
        return _in_recent_order(index, range(len(index)), recent, limit)
    prefix = index.prefix_range(query)
    ranked = _in_recent_order(index, prefix, recent, limit)
    if len(ranked) >= limit:
        return ranked
    fuzzy: list[tuple[int, int, int]] = []
    items = index.items
    for match in fuzzy_pattern(query).finditer(index.joined):
        position = index.index_at(match.start())
        if position in prefix:
            continue
        score = _score(match.end(1) - match.start(1), match.end(2) - match.start(2) - len(query))
        fuzzy.append((score, recent.get(items[position].name, _NOT_RECENT), position))
    best = heapq.nsmallest(limit - len(ranked), fuzzy)
    ranked.extend(items[position] for _, _, position in best)
    return ranked


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
