"""Helpers for the shell's unit tests: an injected Environment with captured streams, XDG dirs under
tmp_path, a kubeconfig that points at a closed port, and user command files (functions run by the embedded
runtime) so dispatch is exercised without a cluster."""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from kfshell.env import Environment

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: ctx-a
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: ctx-a
  context: {cluster: nowhere, user: ann, namespace: team-a}
- name: ctx-b
  context: {cluster: nowhere, user: ann}
users:
- name: ann
  user: {token: not-a-real-token}
"""


@dataclass
class Shell:
    env: Environment
    home: Path
    kubeconfig: Path

    @property
    def out(self) -> str:
        return self.env.stdout.getvalue()  # type: ignore[attr-defined]

    @property
    def err(self) -> str:
        return self.env.stderr.getvalue()  # type: ignore[attr-defined]

    def command_file(self, name: str, body: str) -> Path:
        """Write a user command (a function module) into $XDG_CONFIG_HOME/kf/commands/."""
        path = self.home / "config" / "kf" / "commands" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path


def make_shell(tmp_path: Path, *, stdin: str = "", tty: bool = False, extra_env: dict | None = None) -> Shell:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    environ = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "KUBECONFIG": str(kubeconfig),
        "PAGER": "cat",
        "KF_AGENT": os.environ.get("KF_AGENT", "0"),  # a kf started from this env runs in-process (conftest.py)
        **(extra_env or {}),
    }
    env = Environment(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(), environ=environ,
                      stdin_isatty=tty, stdout_isatty=tty)
    return Shell(env=env, home=tmp_path, kubeconfig=kubeconfig)


def fresh(shell: Shell, stdin: str = "") -> Shell:
    """The same home with new, empty streams (a second invocation)."""
    env = Environment(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
                      environ=shell.env.environ, stdin_isatty=shell.env.stdin_isatty,
                      stdout_isatty=shell.env.stdout_isatty)
    return Shell(env=env, home=shell.home, kubeconfig=shell.kubeconfig)
