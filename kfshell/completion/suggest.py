"""Suggestions for the word under the cursor: what belongs there (analyze), from where (snapshot,
registry, files), ranked (fuzzy), each with a one-line description (kind, status, age).

It only reads the current snapshot reference and the local registry, so a keystroke never waits on the
network. No prompt_toolkit here: `kf __complete` uses it too and must start fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfshell.completion.analyze import Wanted, analyze, command_item
from kfshell.completion.fuzzy import DEFAULT_LIMIT, Narrowing, rank_narrowing
from kfshell.completion.snapshot import EMPTY, Item, Snapshot, SourceIndex
from kfshell.completion.words import split_for_completion


@dataclass(frozen=True)
class Suggestion:
    """One menu entry: `value` replaces the word under the cursor (unquoted); `meta` is the menu's
    description; `final` is False for a directory, which one keeps typing into."""

    value: str
    meta: str = ""
    final: bool = True


class RecentNames:
    """Names recently typed in accepted command lines; the more recent, the better they rank."""

    def __init__(self, size: int = 200) -> None:
        self._size = size
        self._last_use: dict[str, int] = {}
        self._uses = 0
        self._ranks: dict[str, int] | None = None

    def remember(self, line: str) -> None:
        """Record the words of a command line the user ran."""
        split = split_for_completion(line)
        for word in (*split.words, split.current.text):
            if word and not word.startswith("-"):
                self._uses += 1
                self._last_use.pop(word, None)
                self._last_use[word] = self._uses
        while len(self._last_use) > self._size:
            self._last_use.pop(next(iter(self._last_use)))
        self._ranks = None

    def ranks(self) -> Mapping[str, int]:
        """Name → how recently used: 0 is the most recent."""
        if self._ranks is None:
            ordered = sorted(self._last_use, key=self._last_use.__getitem__, reverse=True)
            self._ranks = {name: order for order, name in enumerate(ordered)}
        return self._ranks


def age(seconds: float) -> str:
    """A short age as kubectl prints it: 42s, 7m, 5h, 3d, 2y."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    if seconds < 730 * 86400:
        return f"{seconds // 86400}d"
    return f"{seconds // (365 * 86400)}y"


def describe(item: Item, now: float) -> str:
    """The menu line for an item: its description, then its age when known."""
    if item.created_at is None:
        return item.description
    when = age(now - item.created_at)
    return f"{item.description}  {when}" if item.description else when


def list_files(query: str, cwd: str | None = None) -> list[Item]:
    """Local paths for a `files` argument: the entries of the directory the query names so far."""
    directory, _, base = query.rpartition("/")
    shown = directory + "/" if directory or query.startswith("/") else ""
    where = os.path.expanduser(directory or ("/" if query.startswith("/") else "."))
    if cwd and not os.path.isabs(where):
        where = os.path.join(cwd, where)
    items = []
    try:
        with os.scandir(where) as entries:
            for entry in entries:
                if entry.name.startswith(".") and not base.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                items.append(Item(shown + entry.name + ("/" if is_dir else ""), "directory" if is_dir else "file"))
    except OSError:
        return []
    return items


class Suggester:
    """Suggests completions of a `kf>` line (or a `kf …` command line) from the registry and the current
    snapshot."""

    def __init__(
        self,
        registry: Any,  # a Registry, or a zero-argument callable returning the current one
        snapshot_source: Callable[[], Snapshot],
        *,
        recent: RecentNames | None = None,
        limit: int = DEFAULT_LIMIT,
        clock: Callable[[], float] = time.time,
        cwd: str | None = None,
    ) -> None:
        self._registry = registry
        self.snapshot_source = snapshot_source
        self.recent = recent or RecentNames()
        self.limit = limit
        self.clock = clock
        self.cwd = cwd
        # The last full scan's matches, so that the next keystroke narrows them instead of rescanning.
        self._narrowing: Narrowing | None = None

    @property
    def registry(self) -> Any:
        return self._registry() if callable(self._registry) else self._registry

    def remember(self, line: str) -> None:
        """Tell the completer a line was run, so the names in it rank first next time."""
        self.recent.remember(line)

    def suggest(self, words: Iterable[str], query: str, *, outer: bool = False) -> list[Suggestion]:
        """Suggestions after the finished `words` for the word `query` (already unquoted)."""
        return self.rank(analyze(self.registry, list(words), query, outer=outer))

    def suggest_line(self, line: str) -> list[Suggestion]:
        """Suggestions for the text before the cursor of a `kf>` line."""
        split = split_for_completion(line)
        if split.comment:
            return []
        return self.suggest(split.words, split.current.text)

    def rank(self, wanted: Wanted) -> list[Suggestion]:
        snapshot = self.snapshot_source() or EMPTY
        index = self._candidates(wanted, snapshot)
        now = self.clock()
        ranked = rank_narrowing(index, wanted.query, recent=self.recent.ranks(), limit=self.limit,
                                previous=self._narrowing)
        if ranked.narrowing is not None:
            self._narrowing = ranked.narrowing
        return [Suggestion(item.name, describe(item, now), final=not item.name.endswith("/"))
                for item in ranked.items]

    def _candidates(self, wanted: Wanted, snapshot: Snapshot) -> SourceIndex:
        if len(wanted.wants) == 1 and not wanted.wants[0].items:
            want = wanted.wants[0]
            if want.source and want.source not in ("commands", "containers", "files"):
                return snapshot.index(want.source)  # the prebuilt index: no per-keystroke copying
        items: list[Item] = []
        for want in wanted.wants:
            items.extend(want.items)
            if want.source:
                items.extend(self._source_items(want.source, want.parent, wanted.query, snapshot))
        return SourceIndex(_unique_names(items))

    def _source_items(self, source: str, parent: str | None, query: str, snapshot: Snapshot) -> list[Item]:
        if source == "commands":
            if "commands" in snapshot.complete:
                return list(snapshot.get("commands"))
            return [command_item(spec) for spec in self.registry.commands()]
        if source == "containers":
            containers = snapshot.get("containers")
            if parent is not None:
                return [item for item in containers if item.parent == parent]
            return list(containers)
        if source == "files":
            return list_files(query, self.cwd)
        return list(snapshot.get(source))


def _unique_names(items: Iterable[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for item in items:
        seen.setdefault(item.name, item)
    return list(seen.values())
