"""What belongs at the cursor, decided from the command's argument spec alone (no cluster, no I/O).

Given the words already typed and the word under the cursor, `analyze` answers with a `Wanted`: static
candidates (command words, subcommands, flags, choices) and/or a completion source to read names from
(`pods`, `namespaces`, `containers` of a given pod, `files`, ...). Matching and ranking happen elsewhere,
so this module is tested with plain word lists.

Registry specs are read through `getattr` with the documented defaults (see docs/architecture.md), so the
same code serves `CommandSpec`/`ArgSpec` objects and the plain dicts of a `KF_COMMAND`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kfshell.completion.snapshot import Item


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@dataclass(frozen=True)
class Arg:
    """The parts of an argument spec that completion needs."""

    name: str
    help: str = ""
    kind: str = "positional"  # positional | option | flag
    flags: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    repeat: bool = False
    complete: str | None = None

    @property
    def takes_value(self) -> bool:
        return self.kind == "option"

    @classmethod
    def of(cls, spec: Any) -> Arg:
        get = spec.get if isinstance(spec, dict) else (lambda key, default=None: getattr(spec, key, default))
        kind = get("kind") or "positional"
        return cls(
            name=str(get("name") or ""),
            help=_first_line(get("help") or ""),
            kind=str(kind),
            flags=tuple(get("flags") or ()),
            choices=tuple(str(choice) for choice in (get("choices") or ())),
            repeat=bool(get("repeat") or False),
            complete=get("complete") or None,
        )


def _common_options() -> tuple[Arg, ...]:
    """The options every command accepts (kfshell.parsing decides them; completion offers the same)."""
    from kfshell.parsing import COMMON_OPTIONS

    return tuple(Arg.of(option) for option in COMMON_OPTIONS)


# Options every command line accepts: per command in the shell, and before the command word for `kf …`.
COMMAND_OPTIONS = _common_options()
# Options only the outer `kf` command takes, before its command word (as kfshell.cli parses them).
OUTER_OPTIONS = COMMAND_OPTIONS + (
    Arg("kubeconfig", "kubeconfig file", "option", ("--kubeconfig",), complete="files"),
    Arg("dispatch", "where function commands run", "option", ("--dispatch",),
        choices=("auto", "local", "kubeless")),
    Arg("command", "run a command line and exit", "option", ("-c",)),
    Arg("no-color", "never colour the output", "flag", ("--no-color",)),
    Arg("verbose", "show tracebacks", "flag", ("-v", "--verbose")),
    Arg("keep-going", "do not stop a script at the first failure", "flag", ("--keep-going",)),
    Arg("yes", "answer yes to confirmations", "flag", ("-y", "--yes")),
    Arg("version", "print the version", "flag", ("--version",)),
)


@dataclass(frozen=True)
class Want:
    """One thing that belongs at the cursor: static `items`, or names from `source` (for `containers`,
    those of pod `parent` when one was named)."""

    items: tuple[Item, ...] = ()
    source: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class Wanted:
    """What to offer, for the text `query`; `keep` is text of the word kept before the value (`--output=`)."""

    wants: tuple[Want, ...] = ()
    query: str = ""
    keep: str = ""
    # The command words recognised so far, e.g. ("status", "list"); for display and tests.
    path: tuple[str, ...] = field(default=())

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(want.source for want in self.wants if want.source)


def _get(spec: Any, key: str, default: Any = None) -> Any:
    if isinstance(spec, dict):
        return spec.get(key, default)
    return getattr(spec, key, default)


def _arguments(spec: Any) -> tuple[Arg, ...]:
    return tuple(Arg.of(arg) for arg in (_get(spec, "arguments") or ()))


def _subcommand(spec: Any, word: str) -> Any:
    for sub in _get(spec, "subcommands") or ():
        if _get(sub, "name") == word:
            return sub
    return None


def command_item(spec: Any) -> Item:
    return Item(str(_get(spec, "name")), _first_line(_get(spec, "help") or ""))


def _flag_items(options: Iterable[Arg], used: set[str]) -> tuple[Item, ...]:
    items = []
    for option in options:
        if option.name in used and not option.repeat:
            continue
        long_flags = [flag for flag in option.flags if flag.startswith("--")] or list(option.flags)
        for flag in long_flags:
            items.append(Item(flag, option.help or option.name))
    return tuple(items)


def _value_want(arg: Arg, values_by_source: dict[str, str]) -> Want:
    if arg.choices:
        return Want(items=tuple(Item(choice, arg.help) for choice in arg.choices))
    if arg.complete == "containers":
        return Want(source="containers", parent=values_by_source.get("pods"))
    if arg.complete:
        return Want(source=arg.complete)
    return Want()


def _find_option(word: str, options: Sequence[Arg]) -> Arg | None:
    for option in options:
        if word in option.flags:
            return option
    return None


def analyze(
    registry: Any,
    words: Sequence[str],
    query: str,
    *,
    outer: bool = False,
) -> Wanted:
    """What belongs where the cursor is, after the finished `words`, with `query` typed so far.

    `registry` has `commands()` and `get(name)`. `outer` is the `kf …` command line of a POSIX shell
    (words before the command word may be kf's own options); otherwise it is a line typed at `kf>`.
    """
    leading = OUTER_OPTIONS if outer else COMMAND_OPTIONS
    command: Any = None
    leaf: Any = None
    path: list[str] = []
    positionals: list[str] = []
    used: set[str] = set()
    values_by_source: dict[str, str] = {}
    pending: Arg | None = None  # an option whose value comes next

    def options() -> tuple[Arg, ...]:
        if leaf is None:
            return leading
        own = tuple(arg for arg in _arguments(leaf) if arg.kind in ("option", "flag"))
        if leaf is not command:
            own += tuple(arg for arg in _arguments(command) if arg.kind in ("option", "flag"))
        return own + COMMAND_OPTIONS

    def positional_args() -> tuple[Arg, ...]:
        return tuple(arg for arg in _arguments(leaf) if arg.kind == "positional")

    def remember(arg: Arg, value: str) -> None:
        if arg.complete:
            values_by_source[arg.complete] = value

    for word in words:
        if pending is not None:
            remember(pending, word)
            pending = None
            continue
        if word.startswith("-") and word != "-" and word != "--":
            flag, has_value, value = word.partition("=")
            option = _find_option(flag, options())
            if option is not None:
                used.add(option.name)
                if option.takes_value:
                    if has_value:
                        remember(option, value)
                    else:
                        pending = option
            continue
        if command is None:
            command = registry.get(word)
            if command is None:
                return Wanted(query=query, path=(word,))  # an unknown command: nothing sensible to offer
            leaf = command
            path.append(word)
            continue
        if leaf is command and _get(command, "subcommands"):
            sub = _subcommand(command, word)
            if sub is not None:
                leaf = sub
                path.append(word)
                continue
            sub = _default_subcommand(command)
            if sub is None:
                return Wanted(query=query, path=tuple(path))
            leaf = sub
        positional = _positional_at(positional_args(), len(positionals))
        if positional is not None:
            remember(positional, word)
        positionals.append(word)

    at = tuple(path)
    if pending is not None:
        return Wanted((_value_want(pending, values_by_source),), query, path=at)

    if query.startswith("-"):
        flag, has_value, value = query.partition("=")
        if has_value:
            option = _find_option(flag, options())
            if option is None or not option.takes_value:
                return Wanted(query=value, keep=flag + "=", path=at)
            return Wanted((_value_want(option, values_by_source),), value, keep=flag + "=", path=at)
        return Wanted((Want(items=_flag_items(options(), used)),), query, path=at)

    if command is None:
        return Wanted((Want(source="commands"),), query, path=at)

    if leaf is command and _get(command, "subcommands"):
        subs = tuple(command_item(sub) for sub in _get(command, "subcommands"))
        return Wanted((Want(items=subs),), query, path=at)

    positional = _positional_at(positional_args(), len(positionals))
    if positional is not None:
        return Wanted((_value_want(positional, values_by_source),), query, path=at)
    # Every positional is given: what is left are flags.
    return Wanted((Want(items=_flag_items(options(), used)),), query, path=at)


def _positional_at(arguments: Sequence[Arg], index: int) -> Arg | None:
    """The positional argument the `index`-th positional word fills (a repeated last one takes the rest)."""
    if index < len(arguments):
        return arguments[index]
    if arguments and arguments[-1].repeat:
        return arguments[-1]
    return None


def _default_subcommand(command: Any) -> Any:
    for sub in _get(command, "subcommands") or ():
        if _get(sub, "default", False):
            return sub
    return None
