"""`command list|describe|add|replace|upgrade|trust|untrust|remove`: the commands kf knows, and adding your own.

A command is a function module (the Kubeless Python contract plus `KF_COMMAND`). `add` puts one in a scope:
`user` (your config dir, runs locally), `namespace` (a Kubeless Function in the current namespace, for everyone
working there) or `cluster` (a Function in kf-system, for everyone). Where a name is defined more than once,
the user's wins over the namespace's over kf-system's over an installed package's over the built-in.
kfshell/command_store.py does the writing; kfshell/commands/command_views.py the listing;
kfshell/commands/command_trust.py `trust`/`untrust` (kfshell.trust). Adding a Function to a namespace pins
it for you (you supplied its source), not for anyone else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kfshell.errors import CommandFailed, UsageError
from kfshell.result import Message

if TYPE_CHECKING:
    from kfshell.command_store import Source, Stored
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

_SCOPE = {"name": "scope", "kind": "option", "flags": ["--scope"], "choices": ["user", "namespace", "cluster"],
          "help": "user (yours, runs here), namespace (the current one's Function) or cluster (kf-system's)"}
_TRUST_SCOPE = {"name": "scope", "kind": "option", "flags": ["--scope"], "choices": ["namespace", "cluster"]}
_NAME = {"name": "name", "required": True, "complete": "commands", "help": "the command's name"}
_FILE = {"name": "file", "required": True, "complete": "files", "help": "the function module (.py)"}
_SHA = {"name": "sha256", "kind": "option", "flags": ["--sha256"],
        "help": "refuse the file unless its sha256 is this (hex)"}
_ADD_ARGS = [
    _NAME, _FILE, _SCOPE,
    {"name": "requires", "kind": "option", "flags": ["--requires"], "repeat": True,
     "help": "a permission it needs, VERB:RESOURCE[.GROUP][@NAMESPACE] (repeatable)"},
    {"name": "deps", "kind": "option", "flags": ["--deps"], "complete": "files",
     "help": "a requirements.txt of packages it needs (installed by Kubeless)"},
    _SHA,
]

KF_COMMAND = {
    "name": "command",
    "help": "list, describe, add, upgrade and remove commands (functions)",
    "subcommands": [
        {"name": "list", "default": True,
         "help": "every command: scope, source, version, where it runs, whether you may run it",
         "arguments": [{"name": "all", "kind": "flag", "flags": ["-a", "--all"],
                        "help": "also the commands you may not run here"}]},
        {"name": "describe", "help": "a command's spec, arguments, requirements and checksum",
         "arguments": [_NAME, {**_SCOPE, "help": "which one, when several scopes define it"}]},
        {"name": "add", "help": "add a function module as a command", "arguments": _ADD_ARGS},
        {"name": "replace", "help": "replace a command you added: new source, spec and requirements",
         "arguments": _ADD_ARGS},
        {"name": "upgrade", "help": "give a command you added a new source (keeps its --requires and deps)",
         "arguments": [_NAME, _FILE, {**_SCOPE, "help": "which one, when several scopes define it"}, _SHA]},
        {"name": "trust", "help": "let a namespace's Function run as you (pins its name and source's sha256)",
         "arguments": [_NAME, {**_TRUST_SCOPE, "help": "namespace (default) or cluster (undo an untrust)"}]},
        {"name": "untrust", "help": "stop a Function running as you (kf-system's are trusted until this)",
         "arguments": [_NAME, {**_TRUST_SCOPE, "help": "namespace or cluster (default: the one that provides it)"}]},
        {"name": "remove", "help": "remove a command you added", "confirm": "remove command {name}",
         "arguments": [_NAME, {**_SCOPE, "help": "which one, when several scopes define it"},
                       {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask"}]},
    ],
}


def run(invocation: Invocation, session: Session) -> Result:
    sub = invocation.command.name
    if sub == "list":
        from kfshell.commands.command_views import command_list

        return command_list(session, show_all=bool(invocation.args.get("all")))
    if sub == "describe":
        from kfshell.commands.command_views import describe

        return describe(session, invocation.args["name"], invocation.args.get("scope"),
                        invocation.output or session.output)
    if sub == "remove":
        return remove(invocation, session)
    if sub in ("trust", "untrust"):
        from kfshell.commands.command_trust import trust

        return trust(invocation, session, sub == "trust")
    return install(invocation, session, sub)


# ---- add, replace, upgrade ------------------------------------------------------------------------------


def install(invocation: Invocation, session: Session, mode: str) -> Result:
    from kfshell import command_store as store

    args = invocation.args
    name = args["name"]
    _check_replaceable(session, name)
    if mode == "upgrade":
        existing = _find_one(session, name, args.get("scope"), invocation)
        source = store.read_source(name, Path(args["file"]), added=existing.added_requires, deps=existing.deps,
                                   sha256=args.get("sha256"))
        if source.checksum == existing.checksum == existing.current:
            return Message(f"{name} already has this source ({_version(existing.version)}); nothing changed")
        return _write(session, invocation, existing.scope, source, existing.version + 1, existing)
    scope = args.get("scope") or "user"
    requires = tuple(store.parse_requirement(r) for r in args.get("requires") or ())
    source = store.read_source(name, Path(args["file"]), added=requires, deps=_read_deps(args.get("deps")),
                               sha256=args.get("sha256"))
    existing = _find_in(session, name, scope, invocation)
    if mode == "add" and existing is not None:
        raise CommandFailed(f"{name} already exists in {_scope_words(scope, invocation, session)}, "
                            f"{_version(existing.version)}",
                            hint=f"`command upgrade {name} FILE` gives it a new source; `command replace` "
                                 "replaces it", reason="AlreadyExists")
    if mode == "replace" and existing is None:
        raise CommandFailed(f"there is no {name} in {_scope_words(scope, invocation, session)} to replace",
                            hint=f"`command add {name} FILE --scope {scope}` adds it", reason="NotFound")
    version = existing.version + 1 if existing is not None else 1
    return _write(session, invocation, scope, source, version, existing)


def _write(session: Session, invocation: Invocation, scope: str, source: Source, version: int,
           existing: Stored | None) -> Result:
    from kfshell import command_store as store

    verb = {"add": "added", "replace": "replaced", "upgrade": "upgraded"}[invocation.command.name]
    short = source.checksum[:19] + "…"
    if scope == "user":
        path = store.user_write(session.env, source, version)
        text = f"{verb} {source.name}: your own command at {path} (version {version}, {short}); it runs here"
    else:
        namespace = store.scope_namespace(scope, invocation.namespace or session.namespace)
        api = session.api(invocation.context)
        store.function_write(api, namespace, source, version, existing.raw if existing is not None else None)
        function = existing.where.partition("/")[2] if existing is not None else source.name
        if session.catalog is not None:  # you gave kf this source yourself: you trust it (not others)
            session.catalog.trust.trust(namespace, function, source.code)
        text = (f"{verb} {source.name}: Function {namespace}/{function} (version {version}, {short}); "
                "it runs on the cluster once served, locally until then")
    _changed(session)
    return Message(text)


def _read_deps(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read --deps {path}: {getattr(err, 'strerror', None) or err}") from None


# ---- remove --------------------------------------------------------------------------------------------


def remove(invocation: Invocation, session: Session) -> Result:
    from kfshell import command_store as store
    from kfshell.dispatch import consent

    name = invocation.args["name"]
    _check_replaceable(session, name)
    existing = _find_one(session, name, invocation.args.get("scope"), invocation)
    consent(f"remove command {name} ({_scope_words(existing.scope, invocation, session)})", invocation, session)
    if existing.scope == "user":
        store.user_remove(session.env, name)
    else:
        store.function_delete(session.api(invocation.context), existing)
    _changed(session)
    return Message(f"removed {name} from {_scope_words(existing.scope, invocation, session)}")


# ---- finding what was added ---------------------------------------------------------------------------------


def _find_in(session: Session, name: str, scope: str, invocation: Invocation) -> Stored | None:
    from kfshell import command_store as store

    if scope == "user":
        return store.user_find(session.env, name)
    namespace = store.scope_namespace(scope, invocation.namespace or session.namespace)
    return store.function_find(session.api(invocation.context), namespace, name)


def _find_one(session: Session, name: str, scope: str | None, invocation: Invocation) -> Stored:
    """The one added command called `name` (in `scope`, or the only scope that has it)."""
    scopes = [scope] if scope else list(_scopes_with(session, name, invocation))
    found = [s for s in (_find_in(session, name, sc, invocation) for sc in scopes) if s is not None]
    if not found:
        spec = session.catalog.local.get(name) if session.catalog is not None else None
        if spec is not None and spec.source in ("builtin", "package") and not scope:
            raise CommandFailed(f"{name} is {'built in' if spec.source == 'builtin' else 'an installed package'}"
                                "'s command, not one that was added", reason="NotFound",
                                hint=f"`command add {name} FILE` adds your own, which wins over it")
        where = _scope_words(scope, invocation, session) if scope else "any scope"
        raise CommandFailed(f"there is no added command {name} in {where}", reason="NotFound",
                            hint="`command list` shows the commands and their scopes")
    if len(found) > 1:
        raise UsageError(f"{name} is defined in {' and '.join(s.scope for s in found)} scope",
                         hint="say which with --scope")
    return found[0]


def _scopes_with(session: Session, name: str, invocation: Invocation) -> list[str]:
    """The scopes that may hold `name`: the user's files, and the Functions the catalog saw (no 403s)."""
    scopes = ["user"]
    catalog = session.catalog
    if catalog is None:
        return [*scopes, "namespace", "cluster"]
    deployed = catalog.fetch_deployed(invocation.context, invocation.namespace)
    if deployed.error is not None:
        from kfshell import command_store as store

        if store.user_find(session.env, name) is not None:
            return scopes  # the cluster cannot be asked, but there is one here to work on
        raise deployed.error
    for ref in deployed.refs:
        if ref.subcommand == name:
            scopes.append("cluster" if ref.namespace == "kf-system" else "namespace")
    return list(dict.fromkeys(scopes))


def _check_replaceable(session: Session, name: str) -> None:
    spec = session.catalog.local.get(name) if session.catalog is not None else None
    if spec is not None and spec.source == "client":
        raise UsageError(f"{name} is one of the shell's own commands and cannot be added, replaced or removed",
                         hint="choose another name")


def _changed(session: Session) -> None:
    """Show the change at once: reload local commands, ask the cluster again, refresh completion."""
    if session.catalog is not None:
        session.catalog.reload()
    if session.refresher is not None:
        session.refresher.refresh()


def _scope_words(scope: str | None, invocation: Invocation, session: Session) -> str:
    if scope == "user":
        return "your commands (user scope)"
    if scope == "cluster":
        return "kf-system (cluster scope)"
    return f"namespace {invocation.namespace or session.namespace}"


def _version(version: int) -> str:
    return f"version {version}" if version else "no version"
