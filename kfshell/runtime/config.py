"""The runtime's settings, read from the environment variables Kubeless sets on a function's pod."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 180.0  # seconds, Kubeless's default
DEFAULT_INSTALL_VOLUME = "/kubeless"
DEFAULT_MAX_BODY = 100 * 1024 * 1024  # Kubeless's FUNC_MEMFILE_MAX default
DEFAULT_WORKERS = 4


class ConfigError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class RuntimeConfig:
    """What to serve and how.

    module_name:    MOD_NAME, the function's module (file `<install_volume>/<module_name>.py`)
    handler_name:   FUNC_HANDLER, the function inside it called as handler(event, context)
    timeout:        FUNC_TIMEOUT, seconds a call may take before it is abandoned with 408
    port:           FUNC_PORT
    runtime:        FUNC_RUNTIME (e.g. python3.11), passed to the function in its context
    memory_limit:   FUNC_MEMORY_LIMIT, passed to the function in its context
    install_volume: KUBELESS_INSTALL_VOLUME, where the function's source and its deps live
    function_name:  FUNC_NAME if set (kf sets it), else the handler's name as Kubeless reports it
    max_body:       FUNC_MEMFILE_MAX, the largest request body accepted
    workers:        FUNC_WORKERS (kf's own), how many calls may run at once
    host:           address to listen on (--host; all interfaces by default, as Kubeless)
    """

    module_name: str
    handler_name: str
    timeout: float = DEFAULT_TIMEOUT
    port: int = DEFAULT_PORT
    runtime: str | None = None
    memory_limit: str | None = None
    install_volume: Path = Path(DEFAULT_INSTALL_VOLUME)
    function_name: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    workers: int = DEFAULT_WORKERS
    host: str = "0.0.0.0"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        env = os.environ if environ is None else environ
        module_name = _required(env, "MOD_NAME")
        handler_name = _required(env, "FUNC_HANDLER")
        if not module_name.isidentifier():
            raise ConfigError(f"MOD_NAME={module_name!r} is not a Python module name")
        if not handler_name.isidentifier():
            raise ConfigError(f"FUNC_HANDLER={handler_name!r} is not a Python function name")
        return cls(
            module_name=module_name,
            handler_name=handler_name,
            timeout=_number(env, "FUNC_TIMEOUT", DEFAULT_TIMEOUT, float),
            port=_port(env.get("FUNC_PORT"), "FUNC_PORT"),
            runtime=env.get("FUNC_RUNTIME") or None,
            memory_limit=env.get("FUNC_MEMORY_LIMIT") or None,
            install_volume=Path(env.get("KUBELESS_INSTALL_VOLUME") or DEFAULT_INSTALL_VOLUME),
            function_name=env.get("FUNC_NAME") or None,
            max_body=int(_number(env, "FUNC_MEMFILE_MAX", DEFAULT_MAX_BODY, int)),
            workers=int(_number(env, "FUNC_WORKERS", DEFAULT_WORKERS, int)),
        )

    def context(self) -> dict[str, object]:
        """The `context` argument every call receives, as Kubeless builds it."""
        return {
            "function-name": self.function_name or self.handler_name,
            "timeout": self.timeout,
            "runtime": self.runtime,
            "memory-limit": self.memory_limit,
        }


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (the runtime needs MOD_NAME and FUNC_HANDLER)")
    return value


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _port(raw: str | int | None, name: str) -> int:
    if raw is None or str(raw).strip() == "":
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name}={raw!r} is not a port number (0-65535)")
    return port


def parse_port(raw: str) -> int:
    """A --port value (0 picks a free port, which tests use)."""
    return _port(raw, "--port")
