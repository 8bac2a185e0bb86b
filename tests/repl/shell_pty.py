"""Driving the real kf> prompt on a pseudo-terminal.

The terminal is pinned (100x30, TERM=xterm) and cursor-position requests are off (PROMPT_TOOLKIT_NO_CPR=1),
unless a test asks for them to be answered here (prompt_toolkit draws the bottom toolbar only once it knows
where the cursor is). Output is matched after stripping escape sequences, since the prompt's styled
fragments are separated by them. A failed expectation dumps the session's transcript.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pexpect
import pytest

ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>78]|[\r\x08\x07]")
CPR_REQUEST = "\x1b[6n"


class Pty:
    def __init__(self, args: list[str], env: dict[str, str], *, answer_cpr: bool = False) -> None:
        kf = shutil.which("kf")
        if kf is None:
            pytest.fail("kf is not on PATH (pip install -e .)", pytrace=False)
        if not answer_cpr:
            env = dict(env, PROMPT_TOOLKIT_NO_CPR="1")
        env = dict(env, PYTHONFAULTHANDLER="1")  # SIGABRT then prints every thread's stack (see expect_exit)
        self.answer_cpr = answer_cpr
        self.child = pexpect.spawn(kf, args, env=env, encoding="utf-8", dimensions=(30, 100))
        self.child.delaybeforesend = None
        self.raw = ""
        self.text = ""  # everything shown so far, escape sequences removed
        self.mark = 0  # where the next expectation starts looking in `text`

    def _read(self, timeout: float) -> None:
        chunk = self.child.read_nonblocking(65536, timeout=timeout)
        if self.answer_cpr and CPR_REQUEST in chunk:
            self.child.send("\x1b[1;1R" * chunk.count(CPR_REQUEST))
        self.raw += chunk
        self.text = ESCAPES.sub("", self.raw)

    def expect(self, pattern: str, timeout: float = 30.0, *, regex: bool = False) -> str:
        """Wait until `pattern` appears after the previous match; the text it matched."""
        compiled = re.compile(pattern if regex else re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            found = compiled.search(self.text, self.mark)
            if found:
                self.mark = found.end()
                return found.group(0)
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"did not see {pattern!r} within {timeout} s")
            try:
                self._read(min(left, 0.5))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                found = compiled.search(self.text, self.mark)
                if found:
                    self.mark = found.end()
                    return found.group(0)
                self.fail(f"kf exited before showing {pattern!r}")

    def since_mark(self) -> str:
        return self.text[self.mark:]

    def expect_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._read(max(0.01, deadline - time.monotonic()))
            except pexpect.EOF:
                break
            except pexpect.TIMEOUT:
                if time.monotonic() >= deadline:
                    self._dump_stacks()
                    self.fail("kf did not exit (its threads' stacks are at the end of the transcript)")
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else 128 + self.child.signalstatus

    def _dump_stacks(self) -> None:
        """Ask a kf that hangs where it is: faulthandler writes each thread's stack to the terminal on SIGABRT."""
        import signal

        try:
            self.child.kill(signal.SIGABRT)
        except OSError:
            return
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                self._read(0.2)
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, OSError):
                return

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- terminal transcript (escapes removed) ---\n{self.text[-4000:]}\n---",
                    pytrace=False)

    def send(self, text: str) -> None:
        self.child.send(text)

    def sendcontrol(self, char: str) -> None:
        self.child.sendcontrol(char)

    def sendline(self, line: str) -> None:
        self.child.send(line + "\r")

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendcontrol("c")
            self.child.sendcontrol("d")
            self.child.close(force=True)


def shell_env(kubeconfig: str, home: Path) -> dict[str, str]:
    """A clean home for kf: XDG dirs under `home`, no colour, the dev cluster's kubeconfig."""
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(home), TERM="xterm", LANG="C.UTF-8", NO_COLOR="1",
               XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
               XDG_CACHE_HOME=str(home / "cache"), PAGER="cat")
    env.pop("PROMPT_TOOLKIT_NO_CPR", None)
    return env
