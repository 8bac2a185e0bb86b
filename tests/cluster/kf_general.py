"""Running kf's general commands in cluster tests, the way a user or script does.

With the shell's CLI present (`kfshell/cli.py`) a command runs as `python -m kfshell --kubeconfig K --context C
-n NS -o json WORDS...` in a subprocess: real argument parsing, dispatch, output and exit status. Before that
(or with KF_TEST_DISPATCH=handler) the line is parsed with the registry and the function's handler is called
with the event kf's embedded runtime builds, and the result is checked and turned into the same JSON records.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Run:
    """What a kf command did: exit status, its JSON output (records, an object or text), and stderr."""

    status: int
    data: Any
    error: str
    seconds: float
    session: dict[str, Any] | None = None  # the result's "session" switch (handler runs only)

    def rows(self) -> list[dict[str, Any]]:
        assert isinstance(self.data, list), f"expected table records, got {self.data!r} ({self.error})"
        return self.data

    def row(self, **match: Any) -> dict[str, Any]:
        found = [r for r in self.rows() if all(r.get(k) == v for k, v in match.items())]
        assert len(found) == 1, f"expected one row with {match}, got {found} in {self.rows()}"
        return found[0]


def use_cli() -> bool:
    mode = os.environ.get("KF_TEST_DISPATCH", "auto")
    if mode in ("cli", "handler"):
        return mode == "cli"
    return importlib.util.find_spec("kfshell.cli") is not None


def kf(kubeconfig: str, context: str | None, line: str, namespace: str | None = None,
       home: str | None = None) -> Run:
    """Run one kf command line as `context`; -o json; `namespace` defaults to the context's own.

    `context` None: the kubeconfig's current context, and (in the CLI) an unpinned session that remembers
    switches, as a person's kf does; `--context`/`-n` pin it for the one run.

    `home` holds kf's config and state (the session); by default each run gets a fresh one, so no test sees
    another's `use` or `create -i`.
    """
    if not use_cli():
        return _via_handler(kubeconfig, context, line, namespace)
    if home is not None:
        return _via_cli(kubeconfig, context, line, namespace, home)
    with tempfile.TemporaryDirectory(prefix="kf-home-") as fresh:
        return _via_cli(kubeconfig, context, line, namespace, fresh)


def _via_cli(kubeconfig: str, context: str | None, line: str, namespace: str | None, home: str) -> Run:
    argv = [sys.executable, "-m", "kfshell", "--kubeconfig", kubeconfig, "-o", "json"]
    if context:
        argv += ["--context", context]
    if namespace:
        argv += ["-n", namespace]
    from kfshell.parsing import split_commands

    argv += split_commands(line)[0]
    env = {**os.environ, "NO_COLOR": "1", "HOME": home, "XDG_STATE_HOME": f"{home}/state",
           "XDG_CONFIG_HOME": f"{home}/config", "XDG_CACHE_HOME": f"{home}/cache"}
    env.pop("KUBECONFIG", None)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=200, env=env, stdin=subprocess.DEVNULL,
                          check=False)
    seconds = time.monotonic() - started
    out = done.stdout.strip()
    try:
        data = json.loads(out) if out else None
    except ValueError:
        data = out
    return Run(status=done.returncode, data=data, error=done.stderr.strip(), seconds=seconds)


def _via_handler(kubeconfig: str, context: str | None, line: str, namespace: str | None) -> Run:
    from kfshell.errors import KfError
    from kfshell.kubeconfig import load_kubeconfig
    from kfshell.parsing import parse, split_commands
    from kfshell.registry import Registry, builtin_functions_dir, load_function_dir
    from kfshell.result import Message, Object, Table, from_dict

    registry = Registry(load_function_dir(builtin_functions_dir(), source="builtin")[0])
    started = time.monotonic()
    try:
        invocation = parse(registry, split_commands(line)[0], line)
        config = load_kubeconfig(kubeconfig, context)
        context = config.context().name
        ns = invocation.namespace or namespace or config.namespace()
        event = {
            "data": {"command": list(invocation.words), "args": dict(invocation.args), "namespace": ns,
                     "context": context, "output": "json"},
            "event-id": "test", "event-type": "application/json", "event-time": "", "event-namespace": "",
            "extensions": {"kf": {"local": True, "kubeconfig": kubeconfig, "context": context}},
        }
        module = importlib.import_module(f"functions.{invocation.spec.name}")
        raw = module.handler(event, {"function-name": invocation.spec.name, "timeout": invocation.spec.timeout,
                                     "runtime": "python3.11", "memory-limit": ""})
        result = from_dict(raw, function=invocation.spec.name)
    except KfError as err:
        return Run(status=int(err.exit_status), data=None, error=err.one_line(),
                   seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    warnings = "\n".join(f"kf: warning: {w}" for w in raw.get("warnings") or [])
    if isinstance(result, Table):
        data: Any = result.records()
    elif isinstance(result, Object):
        data = dict(result.object)
    elif isinstance(result, Message):
        data = result.text
    else:
        data = None
    return Run(status=int(result.exit_status), data=data, error=warnings, seconds=seconds,
               session=raw.get("session"))


def text_of(run: Run) -> str:
    """Everything a person would read from the run: output and errors, for loose assertions."""
    return f"{json.dumps(run.data) if run.data is not None else ''}\n{run.error}"
