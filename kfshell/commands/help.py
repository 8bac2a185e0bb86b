"""`help` and `help <command> [subcommand]`: generated from the command registry, never written by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfshell.errors import UsageError
from kfshell.result import Message

if TYPE_CHECKING:
    from kfshell.catalog import Catalog
    from kfshell.registry import ArgSpec, CommandSpec, Invocation, Registry
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "help",
    "help": "list the commands, or show how to use one",
    "arguments": [
        {"name": "command", "repeat": True, "complete": "commands", "help": "the command (and subcommand)"},
    ],
}

WHERE = {
    "client": "in the shell",
    "builtin": "locally, built in",
    "package": "locally, from an installed package",
    "user": "locally, your own command",
    "namespace": "on the cluster, this namespace's Function",
    "kf-system": "on the cluster, kf-system's Function",
}


def run(invocation: Invocation, session: Session) -> Result:
    words = list(invocation.args.get("command") or [])
    catalog = getattr(session, "catalog", None)
    if catalog is None:
        registry = session.registry
    else:
        # Only what the user may run here; a command typed by name is explained even if hidden, with what
        # it lacks, so `help create` still answers.
        registry = catalog.visible(invocation.context, invocation.namespace, fetch=True)
        if words and registry.get(words[0]) is None and catalog.registry().get(words[0]) is not None:
            return Message(command_help(catalog.registry(), words) + "\n" + _not_allowed(catalog, words[0]))
    if not words:
        return Message(overview(registry))
    return Message(command_help(registry, words))


def _not_allowed(catalog: Catalog, name: str) -> str:
    from kfshell.commands.command_views import missing_text

    spec = catalog.registry().get(name)
    return f"You may not run it here: it needs {missing_text(catalog.answers(), spec)}."


def overview(registry: Registry) -> str:
    commands = registry.commands()
    width = max((len(c.name) for c in commands), default=0)
    lines = ["Commands:"]
    lines += [f"  {c.name.ljust(width)}   {c.help}".rstrip() for c in commands]
    lines += [
        "",
        "`help COMMAND` shows a command's arguments. Every command also takes -o/--output "
        "table|wide|json|yaml|name, -n/--namespace NS and --context CTX for itself.",
        "Commands are separated by `;`. Tab completes, the up arrow recalls history, Ctrl-D leaves.",
    ]
    return "\n".join(lines)


def command_help(registry: Registry, words: list[str]) -> str:
    from kfshell.parsing import usage

    spec = registry.lookup(words[0])
    command = spec
    if len(words) > 1:
        sub = spec.subcommand(words[1])
        if sub is None:
            from kfshell.registry import did_you_mean

            names = [s.name for s in spec.subcommands]
            hint = did_you_mean(words[1], names) if names else None
            raise UsageError(f"{spec.name} has no subcommand '{words[1]}'",
                             hint=hint or (f"it has: {', '.join(names)}" if names else "it has none"))
        command = sub
    if len(words) > 2:
        raise UsageError("help takes a command and at most one subcommand")
    lines = [usage(spec, command), ""]
    if command.help:
        lines += [command.help, ""]
    if command is spec and spec.subcommands:
        lines.append("Subcommands:")
        width = max(len(s.name) for s in spec.subcommands)
        for sub in spec.subcommands:
            default = " (the default)" if sub.default else ""
            lines.append(f"  {sub.name.ljust(width)}   {sub.help}{default}".rstrip())
        lines.append("")
    if command.arguments:
        lines.append("Arguments:")
        rows = [(_arg_name(a), _arg_help(a)) for a in command.arguments]
        width = max(len(name) for name, _ in rows)
        lines += [f"  {name.ljust(width)}   {text}".rstrip() for name, text in rows]
        lines.append("")
    if command.confirm_for(spec):
        lines += ["Asks for confirmation on a terminal; --yes confirms in scripts.", ""]
    lines.append(f"Runs {_where(spec)}.")
    return "\n".join(lines)


def _arg_name(arg: ArgSpec) -> str:
    if arg.kind == "positional":
        return arg.metavar + ("..." if arg.repeat else "")
    flags = ", ".join(arg.flags)
    return flags if arg.kind == "flag" else f"{flags} {arg.metavar.upper()}"


def _arg_help(arg: ArgSpec) -> str:
    text = arg.help
    if arg.choices:
        text += f" (one of: {', '.join(arg.choices)})"
    if arg.required:
        text += " (required)"
    if arg.type == "int":
        text += " (a whole number)"
    return text.strip()


def _where(spec: CommandSpec) -> str:
    where = WHERE.get(spec.source, spec.source)
    return f"{where} ({spec.origin})" if spec.source != "client" else where
