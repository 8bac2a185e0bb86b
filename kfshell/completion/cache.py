"""A small on-disk copy of completion snapshots, so `kf __complete` (TAB in bash, zsh, fish) answers at
once instead of asking the cluster on every keystroke.

One JSON file per context and namespace under $XDG_CACHE_HOME/kf/completion/. A running `kf>` shell
writes it whenever its refresher has a full listing; `kf __complete` writes it after fetching. Entries
older than the time-to-live are still answered from, while a background process refreshes them.
Writes go to a temporary file renamed over the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from kfshell.completion.snapshot import Item, Snapshot

CACHE_VERSION = 1
DEFAULT_TTL = 60.0  # seconds a cached listing counts as fresh


def cache_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/kf/completion (default ~/.cache/kf/completion); relative XDG paths are ignored."""
    base = environ.get("XDG_CACHE_HOME", "")
    if not base or not os.path.isabs(base):
        base = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "kf" / "completion"


@dataclass(frozen=True)
class Cached:
    snapshot: Snapshot
    age: float  # seconds since it was taken

    def fresh(self, ttl: float) -> bool:
        return self.age < ttl


class CompletionCache:
    def __init__(self, directory: Path, ttl: float = DEFAULT_TTL) -> None:
        self.directory = Path(directory)
        self.ttl = ttl

    def path(self, context: str | None, namespace: str | None) -> Path:
        return self.directory / quote(context or "-", safe="") / (quote(namespace or "-", safe="") + ".json")

    def read(self, context: str | None, namespace: str | None, *, now: float | None = None) -> Cached | None:
        """The cached snapshot for this place, or None when there is none (or it is unreadable)."""
        try:
            with open(self.path(context, namespace), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return None
        try:
            items = {
                source: [Item(row[0], row[1], row[2], row[3], row[4]) for row in rows]
                for source, rows in (data.get("items") or {}).items()
            }
            taken_at = float(data.get("taken_at") or 0.0)
            snapshot = Snapshot.build(context, namespace, items, complete=data.get("complete") or (),
                                      taken_at=taken_at)
        except (TypeError, IndexError, ValueError):
            return None
        current = time.time() if now is None else now
        return Cached(snapshot, max(0.0, current - taken_at))

    def write(self, snapshot: Snapshot) -> None:
        """Store `snapshot` for its context and namespace; a cache that cannot be written is skipped."""
        data = {
            "version": CACHE_VERSION,
            "context": snapshot.context,
            "namespace": snapshot.namespace,
            "taken_at": snapshot.taken_at or time.time(),
            "complete": sorted(snapshot.complete),
            "items": {
                source: [[i.name, i.description, i.namespace, i.parent, i.created_at] for i in items]
                for source, items in snapshot.items.items()
            },
        }
        target = self.path(snapshot.context, snapshot.namespace)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, separators=(",", ":"))
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return  # a read-only or full disk costs freshness, never a failed completion

    def claim_refresh(self, context: str | None, namespace: str | None, *, hold: float = 30.0) -> bool:
        """Whether this caller should refresh the entry: True for the first asker in `hold` seconds."""
        marker = self.path(context, namespace).with_suffix(".refreshing")
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            if marker.exists() and time.time() - marker.stat().st_mtime < hold:
                return False
            marker.touch()
        except OSError:
            return False
        return True
