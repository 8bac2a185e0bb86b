"""Command specs for completion unit tests, shaped as `KF_COMMAND` dicts (see docs/architecture.md)."""

from __future__ import annotations

from typing import Any

SPECS: list[dict[str, Any]] = [
    {
        "name": "status",
        "help": "Kubeflow components: list, health, info",
        "subcommands": [
            {"name": "list", "help": "list components", "default": True,
             "arguments": [{"name": "component", "complete": "components"}]},
            {"name": "health", "help": "health of components",
             "arguments": [{"name": "component", "complete": "components"}]},
            {"name": "info", "help": "images, services, URLs",
             "arguments": [{"name": "component", "complete": "components", "required": True}]},
        ],
    },
    {
        "name": "use",
        "help": "switch namespace",
        "arguments": [{"name": "namespace", "complete": "namespaces", "required": True}],
    },
    {
        "name": "logs",
        "help": "logs of a pod",
        "arguments": [
            {"name": "pod", "complete": "pods", "required": True},
            {"name": "container", "complete": "containers"},
            {"name": "follow", "kind": "flag", "flags": ["-f", "--follow"], "help": "keep following"},
            {"name": "tail", "kind": "option", "flags": ["--tail"], "type": "int", "help": "last N lines"},
        ],
    },
    {
        "name": "shell",
        "help": "a shell in a container",
        "arguments": [
            {"name": "pod", "complete": "pods", "required": True},
            {"name": "container", "kind": "option", "flags": ["-c", "--container"], "complete": "containers"},
        ],
    },
    {
        "name": "create",
        "help": "create a project",
        "arguments": [
            {"name": "dry-run", "kind": "flag", "flags": ["-d", "--dry-run"], "help": "server-side dry run"},
            {"name": "repo", "kind": "option", "flags": ["-r", "--repo"], "complete": "files"},
            {"name": "mode", "kind": "option", "flags": ["--mode"], "choices": ["fast", "safe"]},
            {"name": "namespace", "required": True},
        ],
    },
    {
        "name": "run",
        "help": "run a file as a function",
        "arguments": [{"name": "file", "complete": "files", "repeat": True}],
    },
    {"name": "help", "help": "help on commands", "arguments": [{"name": "command", "complete": "commands"}]},
    {"name": "notebooks", "help": "notebooks", "arguments": [{"name": "name", "complete": "notebooks"}]},
    {"name": "jobs", "help": "training jobs", "arguments": [{"name": "name", "complete": "jobs"}]},
    {"name": "exit", "help": "leave the shell"},
]


class DictRegistry:
    """The registry interface (`commands()`, `get(name)`) over plain spec dicts."""

    def __init__(self, specs: list[dict[str, Any]] = SPECS) -> None:
        self._specs = {spec["name"]: spec for spec in specs}

    def commands(self) -> list[dict[str, Any]]:
        return list(self._specs.values())

    def get(self, name: str) -> dict[str, Any] | None:
        return self._specs.get(name)
