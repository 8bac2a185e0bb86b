"""A small forwarding proxy for tests, run as its own process on loopback: HTTP CONNECT, or SOCKS5.

    python -m tests.connect_proxy --log FILE [--auth USER:PASS] [--map HOST=ADDRESS ...] [--socks]
                                  [--tls CERT KEY]

It prints its port on the first line of stdout, then tunnels until killed. Each tunnel asked for is one JSON
line in --log: {"target": "host:port", "auth": <the Proxy-Authorization it got, or the SOCKS user>,
"ok": true|false}, written before the answer (a client that got one finds it logged). `--auth` makes it
refuse (407, or SOCKS failure) tunnels without those credentials;
`--map` connects to ADDRESS when a client asks for HOST (so a name the tests cannot put in /etc/hosts still
reaches the dev cluster's loopback API server, as a proxy with its own DNS would). `--tls` serves the proxy
itself over TLS (an https:// proxy) with that certificate.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ProxyProcess:
    """`with ProxyProcess(tmp_path, auth="u:p") as proxy:` runs the proxy as a child process; `proxy.url`,
    `proxy.tunnels()` (what it was asked for so far)."""

    def __init__(self, directory: Path, *, auth: str | None = None, mapping: dict[str, str] | None = None,
                 socks: bool = False, tls: tuple[str, str] | None = None) -> None:
        self.log = Path(directory) / f"proxy-{id(self)}.log"
        self.argv = [sys.executable, "-m", "tests.connect_proxy", "--log", str(self.log)]
        self.argv += ["--auth", auth] if auth else []
        self.argv += [a for host, address in (mapping or {}).items() for a in ("--map", f"{host}={address}")]
        self.argv += ["--socks"] if socks else []
        self.argv += ["--tls", *tls] if tls else []
        self.scheme = "socks5" if socks else "https" if tls else "http"
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ProxyProcess:
        self.log.write_text("")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        return self

    def url(self, credentials: str | None = None) -> str:
        return f"{self.scheme}://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def tunnels(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="connect_proxy")
    parser.add_argument("--log", required=True)
    parser.add_argument("--auth")
    parser.add_argument("--map", action="append", default=[])
    parser.add_argument("--socks", action="store_true")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    tls = None
    if args.tls:
        import ssl

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
    mapping = dict(entry.split("=", 1) for entry in args.map)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    lock = threading.Lock()

    def record(target: str, auth: str | None, ok: bool) -> None:
        with lock, open(args.log, "a") as log:
            log.write(json.dumps({"target": target, "auth": auth, "ok": ok}) + "\n")

    serve = _socks if args.socks else _connect

    def handle(client: socket.socket) -> None:
        if tls is not None:
            try:
                client = tls.wrap_socket(client, server_side=True)
            except OSError:
                client.close()
                return
        serve(client, args.auth, mapping, record)

    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


def _connect(client: socket.socket, auth: str | None, mapping: dict[str, str], record) -> None:
    with client:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        given = headers.get("proxy-authorization")
        if method != "CONNECT":
            record(target, given, False)
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if auth and given != "Basic " + base64.b64encode(auth.encode()).decode():
            record(target, given, False)
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((mapping.get(host.strip("[]"), host.strip("[]")), int(port)), 5)
        except OSError:
            record(target, given, False)
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        record(target, given, True)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _pipe(client, upstream)


def _socks(client: socket.socket, auth: str | None, mapping: dict[str, str], record) -> None:
    with client:
        def read(count: int) -> bytes:
            data = b""
            while len(data) < count:
                chunk = client.recv(count - len(data))
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            return data

        try:
            _, count = read(2)
            methods = read(count)
            user = None
            if auth:
                if 2 not in methods:
                    record("?", None, False)
                    client.sendall(b"\x05\xff")
                    return
                client.sendall(b"\x05\x02")
                read(1)
                user = read(read(1)[0]).decode()
                password = read(read(1)[0]).decode()
                if f"{user}:{password}" != auth:
                    record("?", user, False)
                    client.sendall(b"\x01\x01")
                    return
                client.sendall(b"\x01\x00")
            else:
                client.sendall(b"\x05\x00")
            _, _, _, kind = read(4)
            if kind == 3:
                host = read(read(1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET if kind == 1 else socket.AF_INET6, read(4 if kind == 1 else 16))
            port = int.from_bytes(read(2), "big")
        except ConnectionError:
            return
        target = f"{host}:{port}"
        try:
            upstream = socket.create_connection((mapping.get(host, host), port), 5)
        except OSError:
            record(target, user, False)
            client.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        record(target, user, True)
        client.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join()
    b.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
