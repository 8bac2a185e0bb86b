"""A TCP relay: lets a function on a network-namespace host reach the API server on the host's loopback.

The API server listens on 127.0.0.1, which inside a network namespace is the namespace's own loopback.
The relay listens on the host side of the namespace's veth and forwards each connection to the API
server. TLS passes through untouched: the function still checks the server's certificate.

Tests run `TcpRelay` in a thread; `python -m devcluster.relay LISTEN TARGET` runs it as a long-lived
process (what `python -m devcluster functions up` starts), e.g. `10.250.0.1:6443 127.0.0.1:6443`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Sequence


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
