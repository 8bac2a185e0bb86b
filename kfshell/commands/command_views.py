"""`command list` and `command describe`: which commands there are, which one of a name wins, where it runs
and whether you may run it here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed, KfError
from kfshell.result import Object, Table

if TYPE_CHECKING:
    from kfshell.privileges import Answers
    from kfshell.registry import CommandSpec, Registry
    from kfshell.session import Session

COLUMNS = ["NAME", "SCOPE", "SOURCE", "VERSION", "TRUSTED", "RUNS", "ALLOWED"]
WIDE = ["CHECKSUM", "MISSING"]
SCOPE_WORDS = {"client": "shell", "builtin": "built-in", "package": "package", "user": "user",
               "namespace": "namespace", "kf-system": "cluster"}
# Why a command cannot run where --dispatch wants it, from the reason of where.choose's error.
RUNS_WORDS = {"Tampered": "refused: source changed", "Untrusted": "refused: untrusted",
              "NoBearerToken": "refused: no token",
              "Unavailable": "refused: not ready", "NotDeployed": "refused: not deployed"}


def command_list(session: Session, *, show_all: bool) -> Table:
    catalog = session.catalog
    registry: Registry = catalog.registry() if catalog is not None else session.registry
    answers = catalog.answers() if catalog is not None else None
    rows = []
    winners = registry.commands()
    runs = _where_each(session, winners)
    for spec in winners:
        allowed = answers.may_run(spec) if answers is not None else None
        if allowed is False and not show_all:
            continue
        rows.append((spec, runs[spec.name], allowed))
    for shadowed in registry.shadowed:
        if any(row[0] is shadowed.winner for row in rows):
            rows.append((shadowed.spec, f"shadowed by {SCOPE_WORDS[shadowed.winner.source]}",
                         answers.may_run(shadowed.spec) if answers is not None else None))
    from kfshell.registry import SOURCE_RANK

    rows.sort(key=lambda row: (row[0].name, SOURCE_RANK.get(row[0].source, 99)))
    table_rows = [[spec.name, SCOPE_WORDS.get(spec.source, spec.source), source_text(spec), spec.version or "-",
                   _yes_no(spec.trusted), where, _yes_no(allowed), (spec.checksum or "-")[:19],
                   missing_text(answers, spec) if answers is not None else "?"]
                  for spec, where, allowed in rows]
    return Table(COLUMNS, table_rows, wide_columns=WIDE)


def describe(session: Session, name: str, scope: str | None, output: str) -> Object:
    catalog = session.catalog
    registry: Registry = catalog.registry() if catalog is not None else session.registry
    candidates = [s for s in [registry.get(name)] if s is not None] + [
        s.spec for s in registry.shadowed if s.spec.name == name]
    if scope:
        candidates = [s for s in candidates if SCOPE_WORDS.get(s.source) == scope]
    if not candidates:
        registry.lookup(name)  # UsageError with "did you mean" when the name is unknown
        raise CommandFailed(f"{name} is not defined in {scope} scope", reason="NotFound",
                            hint="`command list` shows the scopes that define it")
    spec = candidates[0]
    answers = catalog.answers() if catalog is not None else None
    info: dict[str, Any] = {
        "name": spec.name,
        "help": spec.help,
        "scope": SCOPE_WORDS.get(spec.source, spec.source),
        "source": source_text(spec),
        "version": spec.version or "-",
        "checksum": spec.checksum or _file_checksum(spec) or "-",
        "trusted": _yes_no(spec.trusted),
        "runs": _where_each(session, [spec])[spec.name] if spec is registry.get(name) else "shadowed",
        "allowed": _yes_no(answers.may_run(spec) if answers is not None else None),
        "timeout": f"{spec.timeout:g}s",
        "requires": [_requirement(r) for r in spec.requires],
    }
    if answers is not None and not answers.may_run(spec):
        info["missing"] = missing_text(answers, spec)
    if spec.subcommands:
        info["subcommands"] = [{"name": sub.name, "help": sub.help, "requires": [_requirement(r) for r in sub.requires],
                                "arguments": [_argument(a) for a in sub.arguments]} for sub in spec.subcommands]
    else:
        info["arguments"] = [_argument(a) for a in spec.arguments]
    if output in ("json", "yaml"):
        info["spec"] = raw_spec(session, spec)
        if spec.source in ("namespace", "kf-system"):
            info["function_source"] = _function_source(session, spec)  # to read before `command trust`
    return Object(info)


# ---- pieces -------------------------------------------------------------------------------------------


def source_text(spec: CommandSpec) -> str:
    if spec.source == "builtin":
        return f"functions/{Path(spec.origin).name}"
    if spec.source == "user":
        home = os.path.expanduser("~")
        return "~" + spec.origin[len(home):] if spec.origin.startswith(home + os.sep) else spec.origin
    return spec.origin


def raw_spec(session: Session, spec: CommandSpec) -> Any:
    """The KF_COMMAND the spec was read from."""
    from kfshell.registry import SpecError, read_kf_command

    if spec.source in ("namespace", "kf-system") and session.catalog is not None:
        deployed = session.catalog.deployed(stale=True)
        ref = deployed.ref(spec.origin) if deployed is not None else None
        return dict(ref.spec or {}) if ref is not None else None
    if spec.source == "client":
        import importlib

        return importlib.import_module(spec.origin).KF_COMMAND
    try:
        return read_kf_command(Path(_file_of(spec)))
    except (SpecError, TypeError):
        return None


def _function_source(session: Session, spec: CommandSpec) -> str | None:
    deployed = session.catalog.deployed(stale=True) if session.catalog is not None else None
    ref = deployed.ref(spec.origin) if deployed is not None else None
    return ref.source if ref is not None else None


def _file_of(spec: CommandSpec) -> str | None:
    if spec.source == "package":
        from kfshell.specfiles import module_file

        return module_file(spec.origin)
    return spec.origin if spec.source in ("builtin", "user") else None


def _file_checksum(spec: CommandSpec) -> str | None:
    path = _file_of(spec)
    if not path:
        return None
    from kfshell.command_store import checksum_of

    try:
        return checksum_of(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _where_each(session: Session, specs: list[CommandSpec]) -> dict[str, str]:
    """Where each command would run now (the Functions' readiness is checked in parallel)."""
    from kfshell.cluster import parallel
    from kfshell.dispatch.where import choose

    mode = getattr(session, "dispatch", "auto")

    def where(spec: CommandSpec) -> str:
        if spec.runs == "client":
            return "shell"
        try:
            target = choose(spec, mode, session, None, None)
        except KfError as err:
            return RUNS_WORDS.get(err.reason or "", f"refused: {err.reason or 'error'}")
        if target.kind == "kubeless":
            return f"kubeless ({target.ref.origin})" if target.ref is not None else "kubeless"
        return "local (Function source)" if target.ref is not None else "local"

    return dict(zip([s.name for s in specs], parallel(where, specs, workers=4), strict=True))


def missing_text(answers: Answers | None, spec: CommandSpec) -> str:
    from kfshell.privileges import describe as describe_need

    if answers is None:
        return "?"
    missing = answers.missing(spec)
    if not missing and spec.subcommands and not answers.may_run(spec):
        missing = [m for sub in spec.subcommands for m in answers.missing(spec, sub)]
    return "; ".join(dict.fromkeys(describe_need(m) for m in missing)) or "-"


def _requirement(requirement: Any) -> str:
    what = requirement.resource + (f".{requirement.group}" if requirement.group else "")
    where = requirement.namespace
    place = "in the current namespace" if where == "$namespace" else (f"in {where}" if where else "cluster-wide")
    return f"{requirement.verb} {what} {place}"


def _argument(arg: Any) -> str:
    flags = ", ".join(arg.flags) if arg.flags else arg.metavar
    traits = [arg.kind]
    if arg.required:
        traits.append("required")
    if arg.repeat:
        traits.append("repeatable")
    if arg.choices:
        traits.append("one of " + "|".join(arg.choices))
    if arg.complete:
        traits.append(f"completes {arg.complete}")
    return f"{flags} ({', '.join(traits)}): {arg.help}".rstrip(": ")


def _yes_no(allowed: bool | None) -> bool | None:
    # A boolean (null: not known): tables show yes/no, -o json true/false.
    return allowed
