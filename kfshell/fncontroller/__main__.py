"""`python -m kfshell.fncontroller`: run the function controller until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any


def _client(kubeconfig: str | None, context: str | None) -> Any:
    """--kubeconfig, else the pod's service account, else $KUBECONFIG / ~/.kube/config (as kubectl)."""
    from kfshell.clients import api_client, in_cluster_client
    from kfshell.errors import UsageError
    from kfshell.kubeconfig import load_kubeconfig

    if kubeconfig:
        return api_client(load_kubeconfig(kubeconfig, context=context), read_timeout=60)
    try:
        return in_cluster_client(read_timeout=60)
    except UsageError:
        return api_client(load_kubeconfig(None, context=context), read_timeout=60)


def _serve_health(bind: str, controller: Any) -> None:
    """/healthz (the process answers) and /readyz (its informers have listed) for probes, on a daemon thread."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    host, _, port = bind.rpartition(":")

    class Probe(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            ok = self.path == "/healthz" or (self.path == "/readyz" and controller.wait_synced(0))
            body = b"ok\n" if ok else b"not ready\n"
            self.send_response(200 if ok else (503 if self.path == "/readyz" else 404))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass  # probes every few seconds would drown the log

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Probe)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    from kfshell.fncontroller import render

    parser = argparse.ArgumentParser(
        prog="python -m kfshell.fncontroller",
        description="Reconcile Kubeless Functions (kubeless.io/v1beta1) into a ConfigMap, Deployment and Service.")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: its current one)")
    parser.add_argument("--image", default=os.environ.get("KF_RUNTIME_IMAGE") or render.DEFAULT_IMAGE,
                        help="the runtime image (default: $KF_RUNTIME_IMAGE or %(default)s)")
    parser.add_argument("--namespace", action="append", default=[], metavar="NS",
                        help="watch only this namespace (repeatable; default: every namespace)")
    parser.add_argument("--selector", help="reconcile only the Functions this label selector matches")
    parser.add_argument("--workers", type=int, default=2, help="Functions reconciled at once (default 2)")
    parser.add_argument("--health-bind", metavar="[HOST]:PORT",
                        help="serve /healthz and /readyz (ready once the first lists are in) on this address")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    log = logging.getLogger("kf-function-controller")

    from kfshell.errors import KfError
    from kfshell.fncontroller.controller import FunctionController, Options

    try:
        api = _client(args.kubeconfig, args.context)
    except KfError as err:
        print(f"kf-function-controller: {err}", file=sys.stderr)
        return 2
    controller = FunctionController(api, Options(image=args.image, namespaces=args.namespace,
                                                 selector=args.selector, workers=args.workers))
    done = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    where = ", ".join(args.namespace) or "every namespace"
    log.info("watching Functions in %s on %s; runtime image %s%s", where, api.server, args.image,
             f"; selector {args.selector}" if args.selector else "")
    controller.start()
    if args.health_bind:
        try:
            _serve_health(args.health_bind, controller)
        except (OSError, ValueError) as err:
            print(f"kf-function-controller: --health-bind {args.health_bind}: {err}", file=sys.stderr)
            controller.shutdown()
            return 2
    while not done.wait(0.5):  # short waits: the main thread must stay free to run the signal handler
        pass
    controller.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
