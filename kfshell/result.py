"""Typed results: what a command produced, checked, before it is rendered.

Function handlers return plain JSON dicts (docs/architecture.md); `from_dict` checks one and turns it into a
`Table`, `Object` or `Message`, or raises the `KfError` an error dict stands for. A dict that follows none of
the shapes is a broken function, reported as such rather than half-printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kfshell.errors import (
    CommandFailed,
    CredentialsRefused,
    ExitStatus,
    Interrupted,
    KfError,
    Unreachable,
    UsageError,
)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What every result may carry besides its content.

    exit_status: the command's exit status (e.g. 1 from `status health` when something is unhealthy);
    warnings: what the answer had to leave out, printed on stderr as `kf: warning: ...`;
    switch: {"namespace": ..., "context": ...} to apply to the session after success (`create -i`).
    """

    exit_status: int = ExitStatus.OK
    warnings: tuple[str, ...] = ()
    switch: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table(Outcome):
    """Rows of values for `columns` followed by `wide_columns` (shown only with -o wide)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    wide_columns: tuple[str, ...] = ()

    @property
    def all_columns(self) -> tuple[str, ...]:
        return self.columns + self.wide_columns

    def records(self) -> list[dict[str, Any]]:
        """Each row as a dict keyed by lower-case column names (spaces → _): what -o json/yaml print."""
        keys = [column_key(c) for c in self.all_columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Object(Outcome):
    object: Mapping[str, Any]


@dataclass(frozen=True)
class Message(Outcome):
    text: str


@dataclass(frozen=True)
class Empty(Outcome):
    """A command that has nothing to print (e.g. `use` in a script)."""


Result = Table | Object | Message | Empty


# Columns whose cells are timestamps (RFC 3339): a table shows their age, scripts get the time itself
# under this key (an age such as "42m" is stale the moment it is printed and cannot be compared).
TIME_COLUMNS = {"AGE": "created"}


def column_key(column: str) -> str:
    name = column.strip()
    if name.upper() in TIME_COLUMNS:
        return TIME_COLUMNS[name.upper()]
    return "_".join(name.lower().split())


def from_dict(data: Any, *, function: str = "the function") -> Result:
    """A typed Result from a handler's return value; KfError for error dicts and malformed results."""
    if not isinstance(data, Mapping):
        raise _garbage(function, f"returned {type(data).__name__}, not a dict")
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise _garbage(function, f"returned something that is not JSON ({exc})") from None
    exit_status = data.get("exit_status", ExitStatus.OK)
    if not isinstance(exit_status, int) or isinstance(exit_status, bool) or not 0 <= exit_status <= 255:
        raise _garbage(function, f"returned exit_status {exit_status!r}")
    if "error" in data:
        raise error_from_dict(data["error"], function=function, exit_status=exit_status or None)
    extras = {"exit_status": exit_status, "warnings": _warnings(data, function), "switch": _switch(data, function)}
    kind = data.get("kind")
    if kind == "table":
        return _table(data, function, extras)
    if kind == "object":
        obj = data.get("object")
        if not isinstance(obj, Mapping):
            raise _garbage(function, "returned an object result whose 'object' is not a dict")
        return Object(object=obj, **extras)
    if kind == "message":
        text = data.get("text")
        if not isinstance(text, str):
            raise _garbage(function, "returned a message result without text")
        return Message(text=text, **extras)
    raise _garbage(function, f"returned kind {kind!r} (expected table, object or message)")


def _warnings(data: Mapping[str, Any], function: str) -> tuple[str, ...]:
    warnings = data.get("warnings") or []
    if not _strings(warnings, allow_empty=True):
        raise _garbage(function, "returned warnings that are not a list of strings")
    return tuple(warnings)


def _switch(data: Mapping[str, Any], function: str) -> dict[str, str]:
    switch = data.get("session") or {}
    if not isinstance(switch, Mapping) or not all(
        k in ("namespace", "context") and isinstance(v, str) and v for k, v in switch.items()
    ):
        raise _garbage(function, "returned a session switch that is not {namespace, context} names")
    return dict(switch)


def _table(data: Mapping[str, Any], function: str, extras: dict[str, Any]) -> Table:
    columns = data.get("columns")
    wide = data.get("wide_columns") or []
    rows = data.get("rows")
    if not _strings(columns) or not _strings(wide, allow_empty=True):
        raise _garbage(function, "returned a table whose columns are not a list of strings")
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        raise _garbage(function, "returned a table whose rows are not a list")
    narrow, full = len(columns), len(columns) + len(wide)
    checked = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) not in (narrow, full):
            raise _garbage(function, f"returned a table whose row {n} does not match its {full} columns")
        # Rows without the wide values are padded so every row has every column.
        checked.append(tuple(row) + ("",) * (full - len(row)))
    return Table(columns=tuple(columns), rows=tuple(checked), wide_columns=tuple(wide), **extras)


def _strings(value: Any, allow_empty: bool = False) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and (allow_empty or len(value) > 0)
        and all(isinstance(v, str) for v in value)
    )


def error_from_dict(error: Any, *, function: str = "the function", exit_status: int | None = None) -> KfError:
    """The KfError an error result stands for. The result's own exit_status wins (fnkit sets it); without
    one, 401 → credentials refused and reason Unreachable → exit 3, Usage → 2, anything else → 1."""
    if not isinstance(error, Mapping):
        return _garbage(function, "returned an error that is not a dict")
    reason = str(error.get("reason") or "Failed")
    message = str(error.get("message") or reason)
    hint = error.get("hint")
    hint = str(hint) if hint else None
    status = error.get("status")
    refused = status == 401 or reason in ("Unauthorized", "CredentialsRefused")
    if exit_status == ExitStatus.USAGE or (exit_status is None and reason == "Usage"):
        return UsageError(message, hint=hint, reason=reason)
    if exit_status == ExitStatus.UNREACHABLE or (exit_status is None and (refused or reason == "Unreachable")):
        if refused:
            return CredentialsRefused(message, hint=hint, reason=reason)
        return Unreachable(message, hint=hint, reason=reason)
    if exit_status == ExitStatus.INTERRUPTED:
        return Interrupted(message, hint=hint, reason=reason)
    return CommandFailed(message, hint=hint, reason=reason)


def _garbage(function: str, what: str) -> CommandFailed:
    return CommandFailed(f"{function} {what}", hint="this is a bug in the function", reason="BadResult")
