"""The process environment kf runs in, passed around explicitly instead of read from globals.

Tests build an `Environment` with their own streams, variables and directories; the CLI builds one from
the real process with `Environment.from_process()`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    no_color: bool = False  # --no-color

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)

    @classmethod
    def from_process(cls, *, no_color: bool = False) -> Environment:
        return cls(no_color=no_color)

    @property
    def interactive(self) -> bool:
        """A person is at a terminal on both ends: prompts, confirmation, progress and pager make sense."""
        return bool(self.stdin_isatty and self.stdout_isatty)

    @property
    def colors(self) -> bool:
        """Colour only on a terminal, never with --no-color, NO_COLOR (any non-empty value) or TERM=dumb."""
        if self.no_color or self.environ.get("NO_COLOR"):
            return False
        if self.environ.get("TERM") == "dumb":
            return False
        return bool(self.stdout_isatty)

    def terminal_size(self) -> os.terminal_size:
        """Columns and lines of the terminal (COLUMNS/LINES win, 80x24 when not a terminal)."""
        columns = self.environ.get("COLUMNS")
        lines = self.environ.get("LINES")
        if columns and lines and columns.isdigit() and lines.isdigit():
            return os.terminal_size((int(columns), int(lines)))
        if self.stdout_isatty:
            try:
                return os.get_terminal_size(self.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
        import shutil  # not at import: it pulls in compression modules (~5 ms)

        return shutil.get_terminal_size((80, 24))

    def _xdg(self, variable: str, default: str) -> Path:
        value = self.environ.get(variable, "")
        # XDG says relative paths are invalid and must be ignored.
        base = Path(value) if value and os.path.isabs(value) else Path(self.home) / default
        return base / "kf"

    @property
    def home(self) -> str:
        return self.environ.get("HOME") or os.path.expanduser("~")

    @property
    def config_dir(self) -> Path:
        """$XDG_CONFIG_HOME/kf (default ~/.config/kf): the user's own settings and commands."""
        return self._xdg("XDG_CONFIG_HOME", ".config")

    @property
    def cache_dir(self) -> Path:
        """$XDG_CACHE_HOME/kf (default ~/.cache/kf): things kf can always rebuild."""
        return self._xdg("XDG_CACHE_HOME", ".cache")

    @property
    def state_dir(self) -> Path:
        """$XDG_STATE_HOME/kf (default ~/.local/state/kf): session state and history."""
        return self._xdg("XDG_STATE_HOME", ".local/state")

    def kubeconfig_paths(self, flag: str | None = None) -> list[str]:
        """The kubeconfig files to merge, as kubectl picks them: --kubeconfig, else KUBECONFIG, else ~/.kube/config."""
        if flag:
            return [flag]
        value = self.environ.get("KUBECONFIG", "")
        paths = [p for p in value.split(os.pathsep) if p]
        if paths:
            # Same file listed twice is merged once, first occurrence wins, as kubectl does.
            return list(dict.fromkeys(paths))
        return [str(Path(self.home) / ".kube" / "config")]
