"""docs/functions.md's worked example, run as written: its files are written out, and every `$ kf ...` line of
its transcripts runs (as alice, in a fresh namespace with one running pod) and must print what the guide says.

In the transcripts `…` stands for text that varies (paths, checksums, the namespace): a line of only `…`
skips any number of lines, and `…` inside a line matches anything there. Runs of spaces count as one, since
column widths follow the namespace's name. An expected line starting with `kf: ` means the command fails.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "functions.md"
BLOCK = re.compile(r"<!-- (file: (?P<file>\S+)|run) -->\n```\w*\n(?P<body>.*?)```", re.S)


def guide_blocks() -> list[tuple[str | None, str]]:
    """(file name or None for a transcript, text) of the guide's marked blocks, in order."""
    return [(m["file"], m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def transcript(body: str) -> list[tuple[list[str], list[str]]]:
    """(kf's arguments, expected output lines) per `$ kf ...` line."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            assert words[0] == "kf", line
            steps.append((words[1:], []))
        else:
            steps[-1][1].append(line)
    return steps


def normal(line: str) -> str:
    return " ".join(line.split())


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` lines follow `expected`, with `…` as described in the module docstring."""
    if not expected:
        return not actual
    head, rest = normal(expected[0]), expected[1:]
    if head == "…":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("…"))
    return re.fullmatch(pattern, normal(actual[0])) is not None and matches(rest, actual[1:])


def running_pod(admin, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "worker"},
                                           "spec": {"containers": [{"name": "main", "image": "busybox:1"}]}})

    def running() -> bool:
        return core.read_namespaced_pod("worker", namespace).status.phase == "Running"

    wait_for(running, what="the guide's pod to run")


def test_the_guides_worked_example_does_what_it_says(admin, kubeconfig: str, namespace: str, tmp_path: Path):
    running_pod(admin, namespace)
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(tmp_path), NO_COLOR="1", PAGER="cat",
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    ran = 0
    for name, body in guide_blocks():
        if name is not None:
            (tmp_path / name).write_text(body)
            if name == "podcount.py":  # the variants the guide describes in words
                (tmp_path / "broken.py").write_text(body.replace('"timeout": 15', '"timeout": -1'))
                (tmp_path / "podcount2.py").write_text(body.replace("by phase\"", "by phase (version 2)\""))
            continue
        for argv, expected in transcript(body):
            where = ["-n", namespace] if "--context" in argv else ["--context", "kf-alice", "-n", namespace]
            done = subprocess.run([sys.executable, "-m", "kfshell", *where, *argv], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=120)
            fails = any(line.startswith("kf: ") for line in expected)
            shown = (done.stdout + done.stderr).splitlines()
            assert (done.returncode != 0) == fails, f"kf {shlex.join(argv)} exited {done.returncode}:\n" + \
                "\n".join(shown)
            assert matches(expected, shown), (f"kf {shlex.join(argv)} printed:\n" + "\n".join(shown) +
                                              "\n-- the guide says:\n" + "\n".join(expected))
            ran += 1
    assert ran >= 10
