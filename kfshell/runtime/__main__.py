"""`python -m kfshell.runtime [--host H] [--port P]`: serve the function named by MOD_NAME / FUNC_HANDLER."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from kfshell.runtime.config import ConfigError, RuntimeConfig, parse_port
    from kfshell.runtime.pool import WorkerPool
    from kfshell.runtime.server import RuntimeServer
    from kfshell.runtime.worker import LoadError

    parser = argparse.ArgumentParser(
        prog="python -m kfshell.runtime",
        description="Serve a function the way Kubeless's Python runtime does (settings from MOD_NAME, "
        "FUNC_HANDLER, FUNC_TIMEOUT, FUNC_PORT, KUBELESS_INSTALL_VOLUME, ...).",
    )
    parser.add_argument("--host", help="address to listen on (default: all interfaces)")
    parser.add_argument("--port", help="port to listen on (default: $FUNC_PORT or 8080; 0 picks one)")
    args = parser.parse_args(argv)

    try:
        config = RuntimeConfig.from_env()
        if args.host:
            config = dataclasses.replace(config, host=args.host)
        if args.port is not None:
            config = dataclasses.replace(config, port=parse_port(args.port))
    except ConfigError as exc:
        print(f"kf-runtime: {exc}", file=sys.stderr)
        return 2

    pool = WorkerPool(str(config.install_volume), config.module_name, config.handler_name, config.workers)
    try:
        pool.start()
    except LoadError as exc:
        print(f"kf-runtime: cannot load the function: {exc}", file=sys.stderr)
        return 1
    try:
        server = RuntimeServer(config, pool)
    except OSError as exc:
        pool.close()
        print(f"kf-runtime: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    # Kubernetes stops a pod with SIGTERM; shutdown() must come from another thread than serve_forever.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(
        f"kf-runtime: serving {config.module_name}.{config.handler_name} on {server.url} "
        f"(timeout {config.timeout:g}s, {config.workers} workers)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
