"""Which cluster Functions the caller trusts to run as them (DESIGN.md, "Trust").

kf runs locally, or sends the caller's token to, only code the caller trusts:
- built-ins, the caller's own user-scope commands and installed packages' commands: always;
- kf-system's Functions: by default (that namespace is the cluster administrator's, and whoever may write it
  already administers kf); `command untrust NAME --scope cluster` opts out of one;
- a namespace's Function: only once the caller pinned it with `command trust NAME` (namespace, Function name
  and the sha256 of its source, as kf computes it from spec.function). Any change to the source breaks the pin.

The pins live in `$XDG_CONFIG_HOME/kf/trust.json` (the caller's, never the cluster's: whoever may edit a
Function may also edit anything stored beside it, its recorded checksum included). Written atomically under a
lock, as two shells may pin at the same moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KF_SYSTEM = "kf-system"
FILE_NAME = "trust.json"
VERSION = 1


def source_sha256(source: str | None) -> str:
    """The hex sha256 of a Function's source (spec.function), as pinned."""
    import hashlib  # here, not at import: ~9 ms on every start for a check few commands make

    return hashlib.sha256((source or "").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Pin:
    namespace: str
    name: str  # the Function's name (metadata.name)
    sha256: str


class TrustStore:
    """The caller's pins and opt-outs, read from (and written to) one file."""

    def __init__(self, config_dir: Path | str) -> None:
        self.path = Path(config_dir) / FILE_NAME
        self._loaded: tuple[float, dict[str, Any]] | None = None

    # ---- reading ------------------------------------------------------------------------------------

    def _data(self) -> dict[str, Any]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return {"pins": [], "untrusted": []}
        if self._loaded is not None and self._loaded[0] == mtime:
            return self._loaded[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}  # a damaged file trusts nothing extra: the safe reading
        if not isinstance(data, dict):
            data = {}
        clean = {"pins": [p for p in data.get("pins") or [] if isinstance(p, dict)],
                 "untrusted": [u for u in data.get("untrusted") or [] if isinstance(u, dict)]}
        self._loaded = (mtime, clean)
        return clean

    def pins(self) -> list[Pin]:
        return [Pin(str(p.get("namespace")), str(p.get("name")), str(p.get("sha256"))) for p in self._data()["pins"]]

    def opted_out(self, name: str) -> bool:
        """Whether the caller opted out of kf-system's Function `name`."""
        return any(u.get("namespace") == KF_SYSTEM and u.get("name") == name for u in self._data()["untrusted"])

    def is_trusted(self, namespace: str, name: str, source: str | None) -> bool:
        """Whether the caller trusts Function namespace/name with exactly this source."""
        if namespace == KF_SYSTEM:
            return not self.opted_out(name)
        digest = source_sha256(source)
        return any(p.namespace == namespace and p.name == name and p.sha256 == digest for p in self.pins())

    def pinned(self, namespace: str, name: str) -> Pin | None:
        """The pin for namespace/name whatever its source (to say "its source changed since you trusted it")."""
        return next((p for p in self.pins() if p.namespace == namespace and p.name == name), None)

    # ---- writing ------------------------------------------------------------------------------------

    def trust(self, namespace: str, name: str, source: str | None) -> str:
        """Pin namespace/name at this source (replacing an older pin); kf-system: undo an opt-out. The sha256."""
        digest = source_sha256(source)
        with self._editing() as data:
            if namespace == KF_SYSTEM:
                data["untrusted"] = [u for u in data["untrusted"]
                                     if not (u.get("namespace") == KF_SYSTEM and u.get("name") == name)]
            else:
                data["pins"] = [p for p in data["pins"] if not (p.get("namespace") == namespace
                                                                and p.get("name") == name)]
                data["pins"].append({"namespace": namespace, "name": name, "sha256": digest,
                                     "trusted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        return digest

    def untrust(self, namespace: str, name: str) -> bool:
        """Drop the pin (a namespace's) or opt out (kf-system's). Whether anything changed."""
        with self._editing() as data:
            if namespace == KF_SYSTEM:
                if any(u.get("namespace") == KF_SYSTEM and u.get("name") == name for u in data["untrusted"]):
                    return False
                data["untrusted"].append({"namespace": KF_SYSTEM, "name": name})
                return True
            kept = [p for p in data["pins"] if not (p.get("namespace") == namespace and p.get("name") == name)]
            changed = len(kept) != len(data["pins"])
            data["pins"] = kept
            return changed

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock; the new file replaces the old one atomically."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            self._loaded = None
            data = {"pins": list(self._data()["pins"]), "untrusted": list(self._data()["untrusted"])}
            yield data
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix=".trust.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump({"version": VERSION, **data}, handle, indent=2, sort_keys=True)
                    handle.write("\n")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._loaded = None
