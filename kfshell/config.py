"""kf's own state file: the context and namespace a person last chose, kept across sessions.

It lives at $XDG_STATE_HOME/kf/state.json and is the only file kf writes on its own; the user's kubeconfig
is never rewritten. Two shells may save at the same moment, so every change is a read-modify-write under an
exclusive lock, written to a temporary file and renamed over the old one (readers never see half a file).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: renames are still atomic, only the lock is lost
    fcntl = None  # type: ignore[assignment]

STATE_VERSION = 1


@dataclass(frozen=True)
class SavedState:
    """What the last session left: the current context and, per context, its namespace."""

    context: str | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)

    def namespace_for(self, context: str | None) -> str | None:
        return self.namespaces.get(context) if context else None

    def to_json(self) -> dict:
        return {"version": STATE_VERSION, "context": self.context, "namespaces": dict(self.namespaces)}

    @classmethod
    def from_json(cls, data: object) -> SavedState:
        if not isinstance(data, dict):
            return cls()
        context = data.get("context")
        namespaces = data.get("namespaces")
        if not isinstance(context, str):
            context = None
        if not isinstance(namespaces, dict):
            namespaces = {}
        clean = {k: v for k, v in namespaces.items() if isinstance(k, str) and isinstance(v, str)}
        return cls(context=context, namespaces=clean)


class StateStore:
    """Reads and atomically updates state.json in one directory."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / "state.json"
        self._lock_path = self.dir / "state.lock"

    def load(self) -> SavedState:
        """The saved state; an absent or damaged file reads as empty (kf then starts from the kubeconfig)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                return SavedState.from_json(json.load(f))
        except (OSError, ValueError):
            return SavedState()

    def save(self, *, context: str | None, namespace: str | None = None) -> SavedState:
        """Make `context` current and, when given, remember `namespace` for it. Returns the state written."""
        with self._locked():
            current = self.load()
            namespaces = dict(current.namespaces)
            if context and namespace:
                namespaces[context] = namespace
            new = SavedState(context=context or current.context, namespaces=namespaces)
            self._write(new)
            return new

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _write(self, state: SavedState) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state.to_json(), f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
