"""Turning a typed line into `Invocation`s: shell-like words, `;` between commands, then the spec's arguments.

Words follow the POSIX shell's quoting (single quotes, double quotes with backslash escapes, backslash
outside quotes); an unquoted `;` or newline separates commands and an unquoted `#` at the start of a word
begins a comment that runs to the end of the line. Arguments are matched against the command's `ArgSpec`s;
anything wrong is a `UsageError` that carries the usage line.
"""

from __future__ import annotations

from typing import Any

from kfshell.errors import UsageError
from kfshell.registry import ArgSpec, CommandSpec, Invocation, Registry, did_you_mean

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "name")

# Options every command accepts for itself unless its spec declares the same flag.
COMMON_OPTIONS = (
    ArgSpec(name="output", kind="option", flags=("-o", "--output"), choices=OUTPUT_FORMATS,
            help="output format"),
    ArgSpec(name="namespace", kind="option", flags=("-n", "--namespace"), complete="namespaces",
            help="run in this namespace, this time only"),
    ArgSpec(name="context", kind="option", flags=("--context",), complete="contexts",
            help="run with this kubeconfig context, this time only"),
    ArgSpec(name="help", kind="flag", flags=("-h", "--help"), help="show this command's help"),
)


def split_commands(line: str) -> list[list[str]]:
    """Words of each command on `line`; empty commands (blank, `;;`, comment only) are dropped."""
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def end_word() -> None:
        nonlocal word, in_word
        if in_word:
            words.append("".join(word))
        word, in_word = [], False

    def end_command() -> None:
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    while i < n:
        ch = line[i]
        if ch in " \t\r":
            end_word()
        elif ch in ";\n":
            end_command()
        elif ch == "|":
            # `status list | head -2` would otherwise end as "unexpected arguments 'head -2'".
            end_word()
            before = " ".join(words) or "COMMAND"
            raise UsageError("kf does not pipe between commands",
                             hint=f"pipe from your shell instead: kf {before} |{line[i + 1:].split(';')[0].rstrip()}")
        elif ch == "#" and not in_word:
            newline = line.find("\n", i)
            if newline < 0:
                break
            i = newline
            continue
        elif ch == "\\":
            in_word = True
            if i + 1 < n:
                i += 1
                if line[i] != "\n":
                    word.append(line[i])
        elif ch == "'":
            in_word = True
            close = line.find("'", i + 1)
            if close < 0:
                raise UsageError("a quote (') is not closed", hint="close it or escape it with \\")
            word.append(line[i + 1 : close])
            i = close
        elif ch == '"':
            in_word = True
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\$`\n':
                    i += 1
                word.append(line[i])
                i += 1
            if i >= n:
                raise UsageError('a quote (") is not closed', hint="close it or escape it with \\")
        else:
            in_word = True
            word.append(ch)
        i += 1
    end_command()
    return commands


def usage(spec: CommandSpec, command: CommandSpec | None = None) -> str:
    """`usage: status list [component]` for the command (or subcommand) that will run."""
    if command is None or command is spec:
        if spec.subcommands:
            names = "|".join(s.name for s in spec.subcommands)
            return f"usage: {spec.name} {{{names}}} ..."
        return f"usage: {_synopsis(spec.name, spec)}"
    return f"usage: {_synopsis(f'{spec.name} {command.name}', command)}"


def _synopsis(words: str, command: CommandSpec) -> str:
    parts = [words]
    for arg in command.options:
        flag = arg.flags[0]
        text = flag if arg.kind == "flag" else f"{flag} {arg.metavar}"
        if arg.repeat:
            text += " ..."
        parts.append(text if arg.required else f"[{text}]")
    for arg in command.positionals:
        text = f"<{arg.metavar}>" if arg.required else f"[{arg.metavar}]"
        if arg.repeat:
            text += "..."
        parts.append(text)
    return " ".join(parts)


def parse(registry: Registry, words: list[str], line: str = "") -> Invocation:
    """Match one command's words against its spec."""
    if not words:
        raise UsageError("no command given", hint="type `help` for the list of commands")
    spec = registry.lookup(words[0])
    rest = list(words[1:])
    command = spec
    typed = [spec.name]
    if spec.subcommands:
        default = spec.default_subcommand
        if rest and not rest[0].startswith("-") and spec.subcommand(rest[0]) is None and _takes_name(default):
            command = default  # `train NAME FILE`: a default subcommand that needs a name takes the word
            typed.append(default.name)
        elif rest and not rest[0].startswith("-"):
            sub = spec.subcommand(rest[0])
            if sub is None:
                names = [s.name for s in spec.subcommands]
                raise UsageError(
                    f"'{rest[0]}' is not a subcommand of {spec.name}",
                    hint=did_you_mean(rest[0], names) or f"it has: {', '.join(names)}",
                    usage=usage(spec),
                )
            command = sub
            typed.append(rest.pop(0))
        elif spec.default_subcommand is not None:
            command = spec.default_subcommand
            typed.append(command.name)
        elif rest and rest[0] in ("-h", "--help"):
            return _help_for(registry, typed, line)
        else:
            names = ", ".join(s.name for s in spec.subcommands)
            raise UsageError(f"{spec.name} needs a subcommand: {names}", usage=usage(spec))
    args, common = _parse_arguments(spec, command, rest)
    if common.get("help"):
        return _help_for(registry, typed, line)
    if common.get("namespace") is not None:
        from kfshell.names import check_name

        check_name(common["namespace"], "namespace")
    return Invocation(
        spec=spec,
        command=command,
        words=tuple(typed),
        args=args,
        namespace=common.get("namespace"),
        context=common.get("context"),
        output=common.get("output"),
        line=line or " ".join(words),
    )


def _takes_name(command: CommandSpec | None) -> bool:
    """Whether a default subcommand's first positional is required (so a non-subcommand word is its value)."""
    positionals = command.positionals if command is not None else ()
    return bool(positionals) and positionals[0].required


def parse_line(registry: Registry, line: str) -> list[Invocation]:
    """Every command on a line, all parsed before any runs (a typo late on the line runs nothing)."""
    return [parse(registry, words, " ".join(words)) for words in split_commands(line)]


def _help_for(registry: Registry, typed: list[str], line: str) -> Invocation:
    help_spec = registry.lookup("help")
    return Invocation(spec=help_spec, command=help_spec, words=("help",), args={"command": typed}, line=line)


def _parse_arguments(
    spec: CommandSpec, command: CommandSpec, words: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the command's own arguments, the common options) parsed from `words`."""
    own_flags = {flag for arg in command.options for flag in arg.flags}
    common = [a for a in COMMON_OPTIONS if not own_flags.intersection(a.flags)]
    by_flag = {flag: arg for arg in (*command.options, *common) for flag in arg.flags}
    common_names = {a.name for a in common}
    values: dict[str, Any] = {}
    positionals: list[str] = []
    the_usage = usage(spec, command)

    def fail(message: str, hint: str | None = None) -> UsageError:
        return UsageError(message, hint=hint, usage=the_usage, what=" ".join([spec.name] + (
            [command.name] if command is not spec else [])))

    def store(arg: ArgSpec, raw: str | bool) -> None:
        value = raw if isinstance(raw, bool) else _convert(arg, raw, fail)
        key = ("common", arg.name) if arg.name in common_names and arg in common else arg.name
        if arg.repeat:
            values.setdefault(key, []).append(value)
        elif key in values and arg.kind == "option":
            raise fail(f"{arg.display} given twice")
        else:
            values[key] = value

    i = 0
    only_positionals = False
    while i < len(words):
        word = words[i]
        i += 1
        if only_positionals or word == "-" or not word.startswith("-") or _is_number(word):
            positionals.append(word)
            continue
        if word == "--":
            only_positionals = True
            continue
        if word.startswith("--"):
            flag, eq, inline = word.partition("=")
            arg = by_flag.get(flag)
            if arg is None:
                raise fail(f"unknown option {flag}", did_you_mean(flag, by_flag))
            if arg.kind == "flag":
                if eq:
                    raise fail(f"{flag} takes no value")
                store(arg, True)
            elif eq:
                store(arg, inline)
            elif i < len(words):
                store(arg, words[i])
                i += 1
            else:
                raise fail(f"{flag} needs a value ({arg.metavar})")
            continue
        # Short flags: -d, -r value, -rvalue, and clusters of flags such as -di.
        j = 1
        while j < len(word):
            flag = "-" + word[j]
            arg = by_flag.get(flag)
            if arg is None:
                raise fail(f"unknown option {flag}", did_you_mean(flag, by_flag))
            j += 1
            if arg.kind == "flag":
                store(arg, True)
                continue
            if j < len(word):
                store(arg, word[j:].removeprefix("="))
            elif i < len(words):
                store(arg, words[i])
                i += 1
            else:
                raise fail(f"{flag} needs a value ({arg.metavar})")
            break

    if values.get(("common", "help")):
        return {}, {"help": True}  # `--help` wins over whatever else is wrong on the line
    own_positionals = command.positionals
    for arg in own_positionals:
        if not positionals:
            break
        if arg.repeat:
            for raw in positionals:
                store(arg, raw)
            positionals = []
        else:
            store(arg, positionals.pop(0))
    if positionals:
        extra = " ".join(positionals)
        raise fail(f"unexpected argument{'s' if len(positionals) > 1 else ''} '{extra}'")
    for arg in command.arguments:
        if arg.required and arg.name not in values:
            raise fail(f"missing {arg.display if arg.kind != 'positional' else '<' + arg.metavar + '>'}")
    common_values = {key[1]: values.pop(key) for key in list(values) if isinstance(key, tuple)}
    return values, common_values


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _convert(arg: ArgSpec, raw: str, fail: Any) -> Any:
    value: Any = raw
    if arg.type == "int":
        try:
            value = int(raw)
        except ValueError:
            raise fail(f"{arg.display} must be a whole number, not '{raw}'") from None
    if arg.choices is not None and raw not in arg.choices:
        hint = did_you_mean(raw, arg.choices) or f"choose one of {', '.join(arg.choices)}"
        raise fail(f"{arg.display} cannot be '{raw}'", hint)
    return value
