"""`python -m kfshell.runtime` as a real process for tests: start it, wait for /healthz, read its log, stop it.

The command and environment come from devcluster/fnhost.py, shared with `python -m devcluster functions up`.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from devcluster.fnhost import runtime_command

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"kf-runtime: serving \S+ on (http://\S+)")


class RuntimeStartError(RuntimeError):
    """The runtime did not come up; the message holds its log."""


class RuntimeProcess:
    """`python -m kfshell.runtime` serving `<module_dir>/<module>.py`, optionally under a command prefix."""

    def __init__(
        self,
        module_dir: Path,
        module: str,
        handler: str = "handler",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        command = runtime_command(module_dir, module, handler, host=host, port=port, env=env, prefix=prefix)
        self.argv = command.argv
        self.env = command.env
        self.url: str | None = None
        self._lines: list[str] = []
        self._serving = threading.Event()
        self._proc: subprocess.Popen[str] | None = None

    @property
    def log(self) -> str:
        """Everything the runtime and the function wrote (stdout and stderr)."""
        return "".join(self._lines)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 60.0) -> str:
        self._proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._serving.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeStartError(f"the runtime did not start ({' '.join(self.argv)}):\n{self.log}")
        assert self.url is not None
        while not self.healthy():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeStartError(f"the runtime at {self.url} never answered /healthz:\n{self.log}")
            time.sleep(0.05)
        return self.url

    def wait_exit(self, timeout: float = 30.0) -> int:
        """For runtimes expected to fail at startup: wait for the exit status."""
        self._proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        out, _ = self._proc.communicate(timeout=timeout)
        self._lines.append(out)
        return self._proc.returncode

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as Kubernetes stops a pod; returns the exit status."""
        assert self._proc is not None
        self._proc.terminate()
        return self._proc.wait(timeout)

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.append(line)
            match = _SERVING.search(line)
            if match and not self._serving.is_set():
                self.url = match.group(1)
                self._serving.set()
