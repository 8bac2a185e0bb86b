"""kf's built-in function subcommands, one module each, written to the Kubeless Python contract.

Each module has a module-level `KF_COMMAND` (its spec, see docs/architecture.md) and `handler(event, context)`.
Importing a module is cheap: heavy imports happen inside the handler, so help and completion can read every
spec without touching the network.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def module_names() -> list[str]:
    """The built-in function modules (`status`, `whoami`, ...), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    """The built-in function module `name` (e.g. "status")."""
    return importlib.import_module(f"{__name__}.{name}")


def specs() -> list[dict[str, Any]]:
    """Every built-in module's KF_COMMAND, in module order."""
    return [load(name).KF_COMMAND for name in module_names()]
