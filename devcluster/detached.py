"""Long-lived detached processes, each known by a name in one directory: NAME.pid, NAME.json, NAME.log.

A process is started in its own session (so it outlives whoever started it, and stopping it reaches
its children too) with its output appended to its log. NAME.json keeps its identity (the tail of its
command line, to tell it from a later process that got the same pid) and a fingerprint of the
settings it was started with, so a caller can keep a process whose settings have not changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessDir:
    directory: Path

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def names(self) -> list[str]:
        """Every process with a pid file here, running or not."""
        return sorted(p.stem for p in self.directory.glob("*.pid"))

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], *, identity: Sequence[str],
              fingerprint: str, cwd: Path) -> int:
        """Start `argv` detached; `identity` must be a tail of its command line once it runs."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._settings_file(name).write_text(json.dumps({"identity": list(identity), "fingerprint": fingerprint}))
        self._pid_file(name).write_text(str(proc.pid))
        return proc.pid

    def pid(self, name: str) -> int | None:
        """The pid of `name` if it is alive and still the process we started (pids get reused)."""
        try:
            pid = int(self._pid_file(name).read_text())
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ValueError, IndexError):
            return None
        identity = [part.encode() for part in self._settings(name).get("identity", [])]
        if not identity or args[-len(identity):] != identity or state == "Z":
            return None
        return pid

    def running_with(self, name: str, fingerprint: str) -> bool:
        return self.pid(name) is not None and self._settings(name).get("fingerprint") == fingerprint

    def stop(self, name: str, grace: float = 10.0) -> bool:
        """SIGTERM to the process's group (its children too), SIGKILL after `grace` s. True if it ran."""
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        self._settings_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return True
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return True

    def _pid_file(self, name: str) -> Path:
        return self.directory / f"{name}.pid"

    def _settings_file(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _settings(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._settings_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return {}


def _group_alive(pgid: int) -> bool:
    """Whether any member of process group `pgid` is alive (zombies count for killpg, not here)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
