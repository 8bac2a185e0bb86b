"""kf's own state file: the context and namespace a person last chose, kept across sessions.

It lives at $XDG_STATE_HOME/kf/state.json and is the only file kf writes on its own; the user's kubeconfig
is never rewritten. Two shells may save at the same moment, so every change is a read-modify-write under an
exclusive lock, written to a temporary file and renamed over the old one (readers never see half a file).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: renames are still atomic, only the lock is lost
    fcntl = None  # type: ignore[assignment]

STATE_VERSION = 1


USED_KEPT = 20  # namespaces remembered per context as "used" (for `projects`), the most recent last


@dataclass(frozen=True)
class SavedState:
    """What the last session left: the current context and, per context, its namespace; the namespaces
    used per context (`projects` lists them); and the notes already shown (each is shown once)."""

    context: str | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)
    used: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    told: frozenset[str] = frozenset()

    def namespace_for(self, context: str | None) -> str | None:
        return self.namespaces.get(context) if context else None

    def used_in(self, context: str | None) -> tuple[str, ...]:
        return tuple(self.used.get(context, ())) if context else ()

    def to_json(self) -> dict:
        return {"version": STATE_VERSION, "context": self.context, "namespaces": dict(self.namespaces),
                "used": {k: list(v) for k, v in self.used.items()}, "told": sorted(self.told)}

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
        used = data.get("used") if isinstance(data.get("used"), dict) else {}
        used_clean = {k: tuple(n for n in v if isinstance(n, str)) for k, v in used.items()
                      if isinstance(k, str) and isinstance(v, list)}
        told = data.get("told") if isinstance(data.get("told"), list) else []
        return cls(context=context, namespaces=clean, used=used_clean,
                   told=frozenset(t for t in told if isinstance(t, str)))


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

    def save(self, *, context: str | None, namespace: str | None = None, current: bool = True) -> SavedState:
        """Remember `namespace` for `context` (and as used there) and, with `current`, make `context` the
        current one. Returns the state written."""
        with self._locked():
            state = self.load()
            namespaces = dict(state.namespaces)
            used = dict(state.used)
            if context and namespace:
                namespaces[context] = namespace
                kept = [n for n in used.get(context, ()) if n != namespace] + [namespace]
                used[context] = tuple(kept[-USED_KEPT:])
            chosen = context if current and context else state.context
            new = replace(state, context=chosen, namespaces=namespaces, used=used)
            self._write(new)
            return new

    def tell(self, key: str) -> bool:
        """Record that the note `key` was shown; False when it already had been (then show nothing)."""
        with self._locked():
            state = self.load()
            if key in state.told:
                return False
            self._write(replace(state, told=state.told | {key}))
            return True

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
        import tempfile  # only when the state changes

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
