"""Rendering results: table, wide, json, yaml, name; colour and the pager only for a person at a terminal.

`-o json` and `-o yaml` are for scripts: exact values, keys sorted, nothing else on stdout, so
`kf -c "status list" -o json | jq` always parses. Tables are aligned; on a terminal their header is bold and
health words are coloured. Output taller than the terminal goes through $PAGER (less -SRXF by default).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

from kfshell.env import Environment
from kfshell.errors import UsageError
from kfshell.result import TIME_COLUMNS, Empty, Message, Object, Result, Table

FORMATS = ("table", "wide", "json", "yaml", "name")

BOLD, RESET, RED, GREEN, YELLOW = "\033[1m", "\033[0m", "\033[31m", "\033[32m", "\033[33m"
GOOD_WORDS = frozenset({"true", "yes", "running", "ready", "healthy", "succeeded", "complete", "available", "ok"})
BAD_WORDS = frozenset(
    {"false", "failed", "unhealthy", "error", "crashloopbackoff", "notready", "unavailable", "missing"}
)
WARN_WORDS = frozenset({"pending", "progressing", "unknown", "terminating", "degraded"})


def render(result: Result, fmt: str, *, colors: bool = False) -> str:
    """The text for `result` in format `fmt` (ends with a newline unless empty)."""
    if isinstance(result, Empty):
        return ""
    if fmt == "json":
        return json.dumps(_data(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        import yaml  # only scripts asking for YAML pay for it

        return yaml.safe_dump(_data(result), sort_keys=True, default_flow_style=False, allow_unicode=True)
    if fmt == "name":
        return "".join(f"{name}\n" for name in _names(result))
    if isinstance(result, Table):
        return render_table(result, wide=fmt == "wide", colors=colors)
    if isinstance(result, Object):
        return render_mapping(result.object)
    return result.text if result.text.endswith("\n") or not result.text else result.text + "\n"


def _data(result: Result) -> Any:
    if isinstance(result, Table):
        return result.records()
    if isinstance(result, Object):
        return result.object
    if isinstance(result, Message):
        return {"message": result.text}
    return {}


def _names(result: Result) -> list[str]:
    if isinstance(result, Table):
        return [cell_text(row[0]) for row in result.rows]
    if isinstance(result, Object):
        meta = result.object.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else result.object.get("name")
        if name is None:
            # Printing nothing with exit 0 would let a script carry on with an empty name.
            raise UsageError("-o name: this answer has no name to print",
                             hint="use -o json or -o yaml for its fields")
        return [str(name)]
    if isinstance(result, Message):
        return [result.text.rstrip("\n")] if result.text else []
    return []


def age_text(value: Any, now: float) -> str:
    """A timestamp cell as the age a person reads (42m, 3d); anything else as it is."""
    from datetime import datetime

    if not isinstance(value, str) or not value:
        return cell_text(value) if value not in (None, "") else "<unknown>"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return cell_text(value)  # already an age (an older function): shown as given
    from kfshell.discovery import format_age

    return format_age(max(0.0, now - when))


def cell_text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "yes" if value else "no"  # scripts get true/false from -o json
    if isinstance(value, (list, tuple)):
        return ",".join(cell_text(v) for v in value) or "<none>"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={cell_text(v)}" for k, v in value.items()) or "<none>"
    return str(value).replace("\n", " ")


def render_table(table: Table, *, wide: bool = False, colors: bool = False, now: float | None = None) -> str:
    count = len(table.all_columns) if wide else len(table.columns)
    header = [c.upper() for c in table.all_columns[:count]]
    ages = {i for i, column in enumerate(header) if column in TIME_COLUMNS}
    now = time.time() if now is None else now
    body = [[age_text(v, now) if i in ages else cell_text(v) for i, v in enumerate(row[:count])]
            for row in table.rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]
    lines = [_line(header, widths, lambda text: f"{BOLD}{text}{RESET}" if colors else text)]
    for row in body:
        lines.append(_line(row, widths, _colour_cell if colors else None))
    return "\n".join(lines) + "\n"


def _line(cells: list[str], widths: list[int], paint: Any) -> str:
    out = []
    last = len(cells) - 1
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        padding = "" if i == last else " " * (width - len(cell) + 3)
        out.append((paint(cell) if paint else cell) + padding)
    return "".join(out).rstrip()


def _colour_cell(text: str) -> str:
    word = text.lower()
    colour = None
    if word in GOOD_WORDS:
        colour = GREEN
    elif word in BAD_WORDS:
        colour = RED
    elif word in WARN_WORDS:
        colour = YELLOW
    else:
        ready, slash, wanted = text.partition("/")
        if slash and ready.isdigit() and wanted.isdigit():
            colour = GREEN if ready == wanted and wanted != "0" else RED if ready != wanted else None
    return f"{colour}{text}{RESET}" if colour else text


def render_mapping(obj: Mapping[str, Any], indent: int = 0) -> str:
    """An object as indented `key: value` lines, in the order the function gave them."""
    lines: list[str] = []
    _mapping_lines(obj, indent, lines)
    return "\n".join(lines) + "\n" if lines else ""


def _mapping_lines(obj: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in obj.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}:")
            _mapping_lines(value, indent + 2, lines)
        elif isinstance(value, (list, tuple)) and value and not all(_scalar(v) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, Mapping):
                    sub: list[str] = []
                    _mapping_lines(item, indent + 4, sub)
                    if sub:
                        sub[0] = f"{pad}  - " + sub[0].lstrip()
                    lines.extend(sub)
                else:
                    lines.append(f"{pad}  - {cell_text(item)}")
        else:
            lines.append(f"{pad}{key}: {cell_text(value) if value not in ({}, []) else '<none>'}")


def _scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


def emit(result: Result, fmt: str, env: Environment) -> None:
    """Render and write `result` to env.stdout, through the pager when a person would need one."""
    text = render(result, fmt, colors=env.colors and fmt in ("table", "wide"))
    if not text:
        return
    if env.interactive and fmt in ("table", "wide") and _taller_than_screen(text, env):
        if page(text, env):
            return
    env.stdout.write(text)
    env.stdout.flush()


def _taller_than_screen(text: str, env: Environment) -> bool:
    return text.count("\n") >= env.terminal_size().lines - 1


def page(text: str, env: Environment) -> bool:
    """Show `text` through $PAGER (default less, LESS=-SRXF); False if there is no usable pager."""
    command = env.environ.get("PAGER", "less")
    if not command.strip() or command.strip() == "cat":
        return False
    child_env = dict(os.environ)
    child_env.update(env.environ)
    child_env.setdefault("LESS", "-SRXF")
    # The pager owns Ctrl-C while it runs (less uses it to stop a search); kf must not die of it.
    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        subprocess.run(shlex.split(command), input=text, text=True, env=child_env, check=False)
    except (OSError, ValueError):
        return False
    finally:
        if restore is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, restore)
    return True
