"""The runtime's settings from Kubeless's environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfshell.runtime.config import ConfigError, RuntimeConfig


def test_defaults_are_kubeless_defaults() -> None:
    config = RuntimeConfig.from_env({"MOD_NAME": "status", "FUNC_HANDLER": "handler"})
    assert config.port == 8080
    assert config.timeout == 180.0
    assert config.install_volume == Path("/kubeless")
    assert config.context() == {"function-name": "handler", "timeout": 180.0, "runtime": None, "memory-limit": None}


def test_every_variable_is_read() -> None:
    config = RuntimeConfig.from_env({
        "MOD_NAME": "status", "FUNC_HANDLER": "handler", "FUNC_TIMEOUT": "30", "FUNC_PORT": "9000",
        "FUNC_RUNTIME": "python3.11", "FUNC_MEMORY_LIMIT": "256Mi", "KUBELESS_INSTALL_VOLUME": "/srv/fn",
        "FUNC_NAME": "kf-status", "FUNC_WORKERS": "2", "FUNC_MEMFILE_MAX": "1024",
    })
    assert (config.port, config.timeout, config.workers, config.max_body) == (9000, 30.0, 2, 1024)
    assert config.install_volume == Path("/srv/fn")
    assert config.context() == {"function-name": "kf-status", "timeout": 30.0, "runtime": "python3.11",
                                "memory-limit": "256Mi"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUNC_HANDLER": "handler"}, "MOD_NAME is not set"),
        ({"MOD_NAME": "status"}, "FUNC_HANDLER is not set"),
        ({"MOD_NAME": "../etc/passwd", "FUNC_HANDLER": "handler"}, "is not a Python module name"),
        ({"MOD_NAME": "status", "FUNC_HANDLER": "handler", "FUNC_PORT": "http"}, "FUNC_PORT='http' is not a port"),
        ({"MOD_NAME": "status", "FUNC_HANDLER": "handler", "FUNC_PORT": "70000"}, "0-65535"),
        ({"MOD_NAME": "status", "FUNC_HANDLER": "handler", "FUNC_TIMEOUT": "-1"}, "must be greater than 0"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RuntimeConfig.from_env(env)
