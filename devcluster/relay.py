"""A TCP relay: lets a function in a network namespace reach the API server on the host's loopback.

The API server listens on 127.0.0.1, which inside a network namespace is the namespace's own loopback.
The pod stand-in (devcluster/podhost.py) runs a `TcpRelay` on 10.96.0.1:443 (the `kubernetes` Service's IP,
on the host's loopback interface) to the API server, so function pods reach it in-cluster style. TLS passes
through untouched: the function still checks the server's certificate (10.96.0.1 is among its names).

`python -m devcluster.relay LISTEN TARGET` runs one as a long-lived process (e.g. `10.250.0.1:6443
127.0.0.1:6443`), and `wait_started` tells when it listens.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class TcpRelay:
    """Forwards connections from `listen` (host, port) to `target` (host, port), two threads per connection."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(listen, reuse_port=False)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="kf-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for end in (client, upstream):  # pass each chunk on at once (Nagle would hold small ones ~40 ms)
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:  # both pumps of a pair end up here; close once both directions are done
                if src in self._open and dst in self._open:
                    self._open.discard(src)
                else:
                    self._open.discard(dst)
                    src.close()
                    dst.close()

    def close(self) -> None:
        # close() alone leaves the port bound while _accept is blocked in accept(); shutdown wakes it.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            for s in self._open:
                s.close()
            self._open.clear()


class RelayFailed(Exception):
    """The relay process did not start listening; the message is its own last log line."""


def listening_line(listen: str) -> str:
    """What `main` prints once it listens on `listen` (HOST:PORT): the sign it started, in its log."""
    return f"relay: {listen} -> "


def wait_started(pid: int, log: Path, since: int, listen: str, timeout: float = 10.0) -> None:
    """Wait until the relay with `pid` says in its `log` (the part written after byte `since`) that it
    listens on `listen` and the port answers; RelayFailed with its own last line if it exits first or
    does not listen in time. A port that answers is not enough: another checkout's relay may hold it."""
    host, port = parse_address(listen)
    deadline = time.monotonic() + timeout
    while True:
        written = _read_from(log, since)
        if listening_line(listen) in written and _answers(host, port):
            return
        if _exited(pid):
            raise RelayFailed(_last_line(_read_from(log, since)) or f"it exited (pid {pid}) without a word")
        if time.monotonic() > deadline:
            raise RelayFailed(f"it did not listen on {listen} within {timeout:g}s"
                              + (f"; it last said: {_last_line(written)}" if _last_line(written) else ""))
        time.sleep(0.05)


def _read_from(log: Path, since: int) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("--- ")]
    return lines[-1].strip() if lines else ""


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        return True
    return False


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.relay", description=__doc__.splitlines()[0])
    parser.add_argument("listen", type=parse_address, help="HOST:PORT to listen on")
    parser.add_argument("target", type=parse_address, help="HOST:PORT to forward to")
    args = parser.parse_args(argv)
    try:
        relay = TcpRelay(args.listen, args.target)
    except OSError as exc:
        print(f"relay: cannot listen on {args.listen[0]}:{args.listen[1]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"relay: {args.listen[0]}:{args.listen[1]} -> {args.target[0]}:{args.target[1]}", file=sys.stderr,
          flush=True)
    try:
        while not stop.wait(60):  # a timed wait, so the SIGTERM handler always gets to run
            pass
    except KeyboardInterrupt:
        pass
    relay.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
