"""`python -m kfshell.fncontroller` as a command: its failures are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_command_fails_with_one_line_when_it_cannot_have_a_client(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "kfshell.fncontroller", "--kubeconfig", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"kf-function-controller: kubeconfig {tmp_path / 'missing'} "
                                                "does not exist"]
