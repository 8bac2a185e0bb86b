"""A local port forwarded to a pod's port through the API server (websocket port-forward).

Each local TCP connection gets its own websocket, `GET .../pods/NAME/portforward?ports=PORT` with
`v4.channel.k8s.io`: channel 0 carries the data and channel 1 the kubelet's errors; each channel's first
message is the port number (2 bytes, little-endian), which is skipped.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kfshell.wschannel import V4, ChannelSocket, connect

DATA, ERRORS = 0, 1


class Forward:
    """Listens on `address:local_port` and forwards each connection to `pod:port`; `stop()` frees the port."""

    def __init__(self, api: Any, namespace: str, pod: str, port: int, *, local_port: int = 0,
                 address: str = "127.0.0.1", on_error: Callable[[str], None] | None = None) -> None:
        self.api, self.namespace, self.pod, self.port = api, namespace, pod, port
        self.on_error = on_error or (lambda line: None)
        self.started = time.time()
        self.connections = 0
        self._listener = socket.create_server((address, local_port))
        self.address, self.local_port = self._listener.getsockname()[:2]
        self._open: set[ChannelSocket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="kf-forward", daemon=True)

    def start(self) -> Forward:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    def check(self) -> None:
        """One websocket now, so that a refusal (RBAC, no such port) is raised before we say it works."""
        channel = self._channel()
        channel.close()

    def wait(self) -> None:
        while not self._stopped.wait(0.2):  # short waits: Ctrl-C still gets through
            pass

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            channels, self._open = list(self._open), set()
        for channel in channels:
            channel.close()

    def _channel(self) -> ChannelSocket:
        return connect(self.api, f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/portforward",
                       [("ports", self.port)], protocols=(V4,))

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), name="kf-forward-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        from kfshell import cluster

        try:
            channel = self._channel()
        except Exception as exc:  # noqa: BLE001 - reported, and this one connection closed
            self.on_error(f"cannot forward to {self.pod}:{self.port}: {cluster.translate(exc).message}")
            client.close()
            return
        with self._lock:
            self._open.add(channel)
        sender = threading.Thread(target=self._send, args=(client, channel), daemon=True)
        sender.start()
        seen: set[int] = set()
        try:
            while True:
                message = channel.recv()
                if message is None:
                    break
                number, data = message
                if number not in seen:  # the first message of a channel is its port number
                    seen.add(number)
                    data = data[2:]
                if not data:
                    continue
                if number == DATA:
                    client.sendall(data)
                elif number == ERRORS:
                    self.on_error(f"{self.pod}:{self.port}: {data.decode('utf-8', 'replace').strip()}")
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(channel)
            channel.close()
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()

    def _send(self, client: socket.socket, channel: ChannelSocket) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                channel.send(DATA, data)
        except OSError:
            pass
        channel.shutdown()
