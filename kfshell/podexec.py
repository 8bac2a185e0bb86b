"""Running a command in a pod's container through the API server's websocket exec (`kfshell.wschannel`).

`run_piped` keeps stdout and stderr apart and passes stdin through (closing it at its end on v5);
`run_tty` puts the local terminal in raw mode, sends its size at the start and on every SIGWINCH, and
restores it however the session ends. Both return the remote exit status, read from the kubelet's
structured Status (reason NonZeroExitCode, cause ExitCode); any other failure is a CommandFailed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import IO, Any

from kfshell.errors import CommandFailed
from kfshell.wschannel import ERROR, STDERR, STDIN, STDOUT, ChannelSocket, connect, exit_code, parse_status

# bash when the image has it, else sh (what a person expects from "a shell in the pod").
LOGIN_SHELL = ("sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh")


def exec_socket(api: Any, namespace: str, pod: str, container: str, command: Sequence[str], *,
                stdin: bool, tty: bool) -> ChannelSocket:
    """The upgraded exec connection (v5, else v4)."""
    query: list[tuple[str, Any]] = [("command", word) for word in command]
    query += [("container", container), ("stdin", stdin), ("stdout", True), ("stderr", not tty), ("tty", tty)]
    return connect(api, f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", query)


class _Pump:
    """Reads the socket on a thread: output channels to their files, the error channel's Status kept."""

    def __init__(self, sock: ChannelSocket, outputs: dict[int, Any], wake_fd: int | None = None) -> None:
        self.sock = sock
        self.outputs = outputs  # channel -> a writable binary file, or an int fd
        self.status: dict[str, Any] | None = None
        self.wake_fd = wake_fd
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="kf-exec-output", daemon=True)

    def start(self) -> _Pump:
        self.thread.start()
        return self

    def _loop(self) -> None:
        try:
            while True:
                message = self.sock.recv()
                if message is None:
                    return
                channel, data = message
                if channel == ERROR:
                    self.status = parse_status(data)
                    continue
                out = self.outputs.get(channel)
                if out is None or not data:
                    continue
                if isinstance(out, int):
                    _write_all(out, data)
                else:
                    out.write(data)
                    out.flush()
        except OSError:
            return  # the terminal or a pipe went away: the session is over
        finally:
            self.done.set()
            if self.wake_fd is not None:
                try:
                    os.write(self.wake_fd, b"x")
                except OSError:
                    pass

    def wait(self) -> None:
        while not self.done.wait(0.2):  # short waits: Ctrl-C (KeyboardInterrupt) still gets through
            pass

    def exit_status(self, what: str) -> int:
        if self.status is None:
            raise CommandFailed(f"the connection to {what} ended before the command did",
                                hint="try again; `kf logs` shows whether the pod restarted", reason="ConnectionLost")
        code = exit_code(self.status)
        if code is None:
            message = self.status.get("message") or self.status.get("reason") or "the command failed"
            raise CommandFailed(message, reason=self.status.get("reason") or "InternalError")
        return code


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run_piped(api: Any, namespace: str, pod: str, container: str, command: Sequence[str], *,
              stdin: IO[bytes] | None, stdout: IO[bytes], stderr: IO[bytes]) -> int:
    """Run `command` without a terminal; `stdin` (None: none) is sent until its end. The exit status."""
    sock = exec_socket(api, namespace, pod, container, command, stdin=stdin is not None, tty=False)
    pump = _Pump(sock, {STDOUT: stdout, STDERR: stderr}).start()
    try:
        if stdin is not None:
            threading.Thread(target=_feed, args=(sock, stdin), name="kf-exec-stdin", daemon=True).start()
        pump.wait()
    finally:
        sock.close()
    return pump.exit_status(f"pod {pod}")


def _feed(sock: ChannelSocket, stdin: IO[bytes]) -> None:
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    try:
        while True:
            # The descriptor itself where there is one: a daemon thread blocked in a buffered reader's
            # lock would abort the interpreter's shutdown.
            chunk = os.read(fd, 65536) if fd is not None else stdin.read(65536)
            if not chunk:
                break
            sock.send(STDIN, chunk)
        sock.close_channel(STDIN)
    except (OSError, ValueError):
        pass  # the session ended first


def run_tty(api: Any, namespace: str, pod: str, container: str, command: Sequence[str], *,
            in_fd: int, out_fd: int, typed: bytes = b"") -> int:
    """An interactive session on the local terminal; the remote exit status. `typed`: keys the user typed
    before the session started (they go first)."""
    import select
    import signal
    import termios
    import tty

    sock = exec_socket(api, namespace, pod, container, command, stdin=True, tty=True)
    wake_read, wake_write = os.pipe()
    pump = _Pump(sock, {STDOUT: out_fd}, wake_fd=wake_write)
    saved = termios.tcgetattr(in_fd)
    handlers: dict[int, Any] = {}

    def send_size(*_: Any) -> None:
        size = os.get_terminal_size(out_fd)
        try:
            sock.resize(size.columns, size.lines)
        except OSError:
            pass

    def end(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds to `finally`, which restores the terminal

    try:
        for signum, handler in ((signal.SIGWINCH, send_size), (signal.SIGTERM, end), (signal.SIGHUP, end)):
            handlers[signum] = signal.signal(signum, handler)
        tty.setraw(in_fd, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed ahead
        send_size()
        pump.start()
        if typed:
            sock.send(STDIN, typed)
        while not pump.done.is_set():
            readable, _, _ = select.select([in_fd, wake_read], [], [])
            if in_fd in readable:
                data = os.read(in_fd, 4096)
                if not data:
                    sock.close_channel(STDIN)
                    break
                sock.send(STDIN, data)
        pump.wait()
    finally:
        termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        sock.close()
        os.close(wake_read)
        os.close(wake_write)
    return pump.exit_status(f"pod {pod}")
