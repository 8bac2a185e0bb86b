"""Start and stop the cluster's processes, each in its own session with a pid file and a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from . import paths


def pid_file(name: str) -> Path:
    return paths.RUN / f"{name}.pid"


def log_file(name: str) -> Path:
    return paths.RUN / f"{name}.log"


def running_pid(name: str) -> int | None:
    """The pid of a component we started, if that process is still alive and still ours."""
    try:
        pid = int(pid_file(name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    # A recycled pid belongs to another program: only trust our own binary.
    if str(paths.BIN).encode() not in cmdline:
        return None
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return None if status == "Z" else pid


def start(name: str, args: list[str], env: dict[str, str] | None = None) -> int:
    """Start `.cache/devcluster/bin/<name> args…` in the background (env added to ours); returns its pid."""
    paths.RUN.mkdir(parents=True, exist_ok=True)
    with open(log_file(name), "wb") as log:
        proc = subprocess.Popen([str(paths.BIN / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=paths.RUN,
                                env={**os.environ, **env} if env else None)
    pid_file(name).write_text(str(proc.pid))
    # Until exec completes the child still looks like python; wait so running_pid recognises it.
    deadline = time.monotonic() + 2.0
    while running_pid(name) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc.pid


def stop(name: str, grace: float = 10.0) -> bool:
    """Stop a component by its pid: SIGTERM, then SIGKILL after `grace` seconds. True if one was running."""
    pid = running_pid(name)
    pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGCONT)  # a test may have frozen it
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
