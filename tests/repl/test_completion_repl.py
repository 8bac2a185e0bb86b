"""Completion in the real kf> prompt on a pseudo-terminal: TAB shows the menu of names with their
descriptions, and with the API server frozen (SIGSTOP) the prompt still echoes and completes at once."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.cluster

APISERVER_PID = Path(__file__).resolve().parents[2] / ".cache" / "devcluster" / "run" / "kube-apiserver.pid"


class Transcript:
    """The terminal's output, shown by pytest when a test fails."""

    def write(self, data: str) -> None:
        sys.stdout.write(data)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def kf_prompt(kubeconfig, tmp_path):
    """A `kf --context kf-alice` shell at its prompt, in a clean home; closed afterwards."""
    kf = shutil.which("kf")
    if kf is None:
        pytest.fail("kf is not on PATH (pip install -e .)", pytrace=False)
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(tmp_path), TERM="xterm", LANG="C.UTF-8",
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(kf, ["--context", "kf-alice"], env=env, encoding="utf-8", dimensions=(30, 120),
                          timeout=20)
    child.delaybeforesend = None
    child.logfile_read = Transcript()
    child.expect_exact("alice")
    try:
        yield child
    finally:
        child.sendcontrol("c")
        child.sendcontrol("d")
        child.close(force=True)


def menu_after_tab(child: pexpect.spawn, name: str, deadline: float = 20.0) -> None:
    """Press TAB until `name` shows in the menu: the first snapshot lands a moment after the prompt."""
    end = time.monotonic() + deadline
    while True:
        child.send("\t")
        try:
            child.expect_exact(name, timeout=0.5)
            return
        except pexpect.TIMEOUT:
            if time.monotonic() > end:
                raise


def test_partial_name_and_tab_shows_the_menu(kf_prompt):
    kf_prompt.send("status info co")
    menu_after_tab(kf_prompt, "notebook-controller")
    # several fuzzy matches, each with its one-line description (kind, status, namespace, age)
    kf_prompt.expect_exact("Component  1/1  kubeflow")
    kf_prompt.expect_exact("tensorboard-controller")


def drain(child: pexpect.spawn, quiet: float = 0.3) -> None:
    """Read until the terminal has been quiet for `quiet` seconds, so later expects see only new output."""
    while True:
        try:
            child.read_nonblocking(65536, timeout=quiet)
        except pexpect.TIMEOUT:
            return


def wait_for_snapshot(cache_dir: Path, deadline: float = 20.0) -> None:
    """The refresher writes the on-disk cache once its first listing is complete."""
    end = time.monotonic() + deadline
    path = cache_dir / "kf" / "completion" / "kf-alice" / "alice.json"
    while not path.exists():
        if time.monotonic() > end:
            pytest.fail("the completion snapshot was not ready within 20 s")
        time.sleep(0.1)


def test_prompt_echoes_and_completes_while_the_api_server_is_frozen(kf_prompt, tmp_path):
    wait_for_snapshot(tmp_path / "cache")
    drain(kf_prompt)
    pid = int(APISERVER_PID.read_text().strip())
    echo: list[float] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        # Letters that neither the prompt, the toolbar nor terminal escapes contain: each match is its echo.
        for char in "zxjy":
            started = time.perf_counter()
            kf_prompt.send(char)
            kf_prompt.expect_exact(char, timeout=5)
            echo.append(time.perf_counter() - started)
        kf_prompt.sendcontrol("u")
        kf_prompt.send("status info co")
        drain(kf_prompt)
        started = time.perf_counter()
        kf_prompt.send("\t")  # takes the best match from the snapshot: the frozen server is never asked
        kf_prompt.expect_exact("kserve-controller-manager", timeout=5)
        completed = time.perf_counter() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"\nwith the API server frozen: echo median {statistics.median(echo) * 1000:.1f} ms, "
          f"max {max(echo) * 1000:.1f} ms; TAB to completion {completed * 1000:.1f} ms")
    # The figure (aim: under 100 ms) is measured by `make bench`; here the behaviour: both happen while the
    # server is frozen, well inside the 3 s a network call would wait before giving up.
    assert max(echo) < 1.0, f"a keystroke took {max(echo) * 1000:.0f} ms to echo with the API server frozen"
    assert completed < 1.0, f"completion took {completed * 1000:.0f} ms with the API server frozen"
