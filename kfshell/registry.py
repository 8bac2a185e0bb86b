"""Command specs: what commands exist, what they take, where they came from and where they run.

Function modules declare `KF_COMMAND` as a literal dict; the registry reads it from the module's source with
`ast` instead of importing the module, so listing, help and completion never pay for (or run) a function's
imports. Client-side commands (kfshell/commands/) declare the same dict and are imported, since they are
light by rule. Parsing a typed command line against a spec lives in `kfshell.parsing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfshell.errors import UsageError

ARG_KINDS = ("positional", "option", "flag")
ARG_TYPES = ("str", "int")
RUNS = ("client", "local", "kubeless")
DEFAULT_TIMEOUT = 30.0
NAME_RULE = re.compile(r"^[a-z][a-z0-9-]*$")

# Who wins when two sources declare the same command name (lower rank wins). Client-side commands are the
# shell itself (`help`, `exit`, `use`...) and cannot be replaced. `package`: an installed Python package's
# entry point in the group `kf.commands`.
SOURCE_RANK = {"client": 0, "user": 1, "namespace": 2, "kf-system": 3, "package": 4, "builtin": 5}


class SpecError(ValueError):
    """A KF_COMMAND that does not follow the contract in docs/architecture.md."""


@dataclass(frozen=True)
class ArgSpec:
    name: str
    help: str = ""
    kind: str = "positional"
    flags: tuple[str, ...] = ()
    type: str = "str"
    choices: tuple[str, ...] | None = None
    required: bool = False
    repeat: bool = False
    complete: str | None = None

    @property
    def metavar(self) -> str:
        return self.name.replace("_", "-")

    @property
    def display(self) -> str:
        """How the argument is named in messages: its long flag, or its name."""
        if self.flags:
            longs = [f for f in self.flags if f.startswith("--")]
            return (longs or list(self.flags))[0]
        return self.metavar


@dataclass(frozen=True)
class Requirement:
    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None  # None: cluster-scoped; "$namespace": the session's namespace


@dataclass(frozen=True)
class CommandSpec:
    name: str
    help: str = ""
    arguments: tuple[ArgSpec, ...] = ()
    subcommands: tuple[CommandSpec, ...] = ()
    requires: tuple[Requirement, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    source: str = "builtin"
    origin: str = ""
    default: bool = False
    runs: str = "local"
    confirm: str | None = None  # the question asked before a destructive command runs
    version: str | None = None  # from `command add/upgrade` (user files and cluster Functions)
    checksum: str | None = None  # "sha256:<hex>" of the source, where it was recorded
    hands_to: str | None = None  # a subcommand the client command of this name runs (`train logs` → `logs`)
    trusted: bool = True  # False: a namespace's Function the caller has not pinned (kfshell.trust)

    def confirm_for(self, parent: CommandSpec | None = None) -> str | None:
        return self.confirm or (parent.confirm if parent is not None else None)

    def subcommand(self, name: str) -> CommandSpec | None:
        return next((s for s in self.subcommands if s.name == name), None)

    @property
    def default_subcommand(self) -> CommandSpec | None:
        return next((s for s in self.subcommands if s.default), None)

    @property
    def positionals(self) -> tuple[ArgSpec, ...]:
        return tuple(a for a in self.arguments if a.kind == "positional")

    @property
    def options(self) -> tuple[ArgSpec, ...]:
        return tuple(a for a in self.arguments if a.kind != "positional")


@dataclass(frozen=True)
class Invocation:
    """One parsed command, ready to dispatch.

    spec: the top-level command; command: the spec that runs (the subcommand, or spec itself);
    words: the command words typed (("status", "list")); args: parsed arguments by name (absent optional
    ones left out); namespace/context/output: this command's own -n/--context/-o overrides, or None.
    """

    spec: CommandSpec
    command: CommandSpec
    words: tuple[str, ...]
    args: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None
    context: str | None = None
    output: str | None = None
    line: str = ""

    @property
    def title(self) -> str:
        return " ".join(self.words)


# ---------------------------------------------------------------------------------------------- specs


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{what} must be a list of strings")
    return tuple(value)


def arg_from_dict(data: Mapping[str, Any]) -> ArgSpec:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise SpecError("every argument needs a name")
    name = data["name"]
    kind = data.get("kind", "positional")
    if kind not in ARG_KINDS:
        raise SpecError(f"argument {name}: kind must be one of {', '.join(ARG_KINDS)}")
    flags = _strings(data.get("flags"), f"argument {name}: flags")
    if kind != "positional" and not flags:
        flags = (f"--{name.replace('_', '-')}",)
    if kind == "positional" and flags:
        raise SpecError(f"argument {name}: a positional argument has no flags")
    for flag in flags:
        if not re.fullmatch(r"-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*", flag):
            raise SpecError(f"argument {name}: bad flag {flag!r}")
    arg_type = data.get("type", "str")
    if arg_type not in ARG_TYPES:
        raise SpecError(f"argument {name}: type must be one of {', '.join(ARG_TYPES)}")
    choices = data.get("choices")
    return ArgSpec(
        name=name,
        help=str(data.get("help", "")),
        kind=kind,
        flags=flags,
        type=arg_type,
        choices=tuple(str(c) for c in choices) if choices else None,
        required=bool(data.get("required", False)),
        repeat=bool(data.get("repeat", False)),
        complete=data.get("complete"),
    )


def requirement_from_dict(data: Mapping[str, Any]) -> Requirement:
    if not isinstance(data, Mapping) or not data.get("verb") or not data.get("resource"):
        raise SpecError("every requirement needs a verb and a resource")
    return Requirement(
        verb=str(data["verb"]),
        resource=str(data["resource"]),
        group=str(data.get("group") or ""),
        namespace=data.get("namespace"),
    )


def spec_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "builtin",
    origin: str = "",
    runs: str = "local",
    nested: bool = False,
) -> CommandSpec:
    """A validated CommandSpec from a KF_COMMAND dict; SpecError says what is wrong."""
    if not isinstance(data, Mapping):
        raise SpecError("KF_COMMAND must be a dict")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise SpecError(f"command name {name!r} must be lower-case letters, digits and dashes")
    if runs not in RUNS:
        raise SpecError(f"{name}: runs must be one of {', '.join(RUNS)}")
    subs = data.get("subcommands") or ()
    if subs and nested:
        raise SpecError(f"{name}: subcommands cannot nest")
    subcommands = tuple(
        spec_from_dict(s, source=source, origin=origin, runs=runs, nested=True) for s in subs
    )
    if sum(1 for s in subcommands if s.default) > 1:
        raise SpecError(f"{name}: at most one subcommand can be the default")
    arguments = tuple(arg_from_dict(a) for a in data.get("arguments") or ())
    if subcommands and arguments:
        raise SpecError(f"{name}: a command takes either subcommands or arguments, not both")
    _check_arguments(name, arguments)
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise SpecError(f"{name}: timeout must be a positive number of seconds")
    return CommandSpec(
        name=name,
        help=str(data.get("help", "")),
        arguments=arguments,
        subcommands=subcommands,
        requires=tuple(requirement_from_dict(r) for r in data.get("requires") or ()),
        timeout=float(timeout),
        source=source,
        origin=origin,
        default=bool(data.get("default", False)),
        runs=runs,
        confirm=str(data["confirm"]) if data.get("confirm") else None,
        hands_to=str(data["hands_to"]) if nested and data.get("hands_to") else None,
    )


def _check_arguments(command: str, arguments: tuple[ArgSpec, ...]) -> None:
    names = [a.name for a in arguments]
    if len(names) != len(set(names)):
        raise SpecError(f"{command}: argument names must be unique")
    flags = [f for a in arguments for f in a.flags]
    if len(flags) != len(set(flags)):
        raise SpecError(f"{command}: a flag is declared twice")
    positionals = [a for a in arguments if a.kind == "positional"]
    for i, arg in enumerate(positionals):
        last = i == len(positionals) - 1
        if arg.repeat and not last:
            raise SpecError(f"{command}: only the last positional argument can repeat")
        if arg.required and any(not p.required for p in positionals[:i]):
            raise SpecError(f"{command}: a required positional cannot follow an optional one")


# ------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Shadowed:
    """A spec that lost to another of the same name (for `command list`)."""

    spec: CommandSpec
    winner: CommandSpec


class Registry:
    """The commands of one session, after precedence. Immutable: build a new one to change it."""

    def __init__(self, candidates: Iterable[CommandSpec] = (), problems: Iterable[str] = ()) -> None:
        winners: dict[str, CommandSpec] = {}
        shadowed: list[Shadowed] = []
        # An untrusted Function never shadows anything: it wins a name only when nothing else has it.
        for spec in sorted(candidates, key=lambda s: (not s.trusted, SOURCE_RANK.get(s.source, 99))):
            if spec.name in winners:
                shadowed.append(Shadowed(spec=spec, winner=winners[spec.name]))
            else:
                winners[spec.name] = spec
        self._specs = dict(sorted(winners.items()))
        self.shadowed: tuple[Shadowed, ...] = tuple(shadowed)
        self.problems: tuple[str, ...] = tuple(problems)

    @classmethod
    def load(cls, *, user_dir: Path | None = None, extra: Iterable[CommandSpec] = (),
             cache_file: Path | None = None) -> Registry:
        """Client commands, the built-in functions, installed packages' commands (entry points), and the
        user's own command files.

        cache_file: where specs already read are remembered between starts (see SpecCache).
        """
        from kfshell.commands import CLIENT_COMMANDS
        from kfshell.specfiles import (
            SpecCache,
            builtin_functions_dir,
            entry_point_specs,
            load_client_commands,
            load_function_dir,
        )

        cache = SpecCache(cache_file) if cache_file is not None else None
        candidates = load_client_commands(CLIENT_COMMANDS, cache)
        problems: list[str] = []
        builtin = builtin_functions_dir()
        if builtin is not None:
            specs, bad = load_function_dir(builtin, source="builtin", cache=cache)
            candidates += specs
            problems += bad
        specs, bad = entry_point_specs(cache)
        candidates += specs
        problems += bad
        if user_dir is not None:
            specs, bad = load_function_dir(user_dir, source="user", cache=cache)
            candidates += specs
            problems += bad
        if cache is not None:
            cache.save()
        candidates += list(extra)
        return cls(candidates, problems)

    def with_candidates(self, extra: Iterable[CommandSpec]) -> Registry:
        """A new registry with more candidate specs (e.g. Functions found on the cluster)."""
        everything = list(self._specs.values()) + [s.spec for s in self.shadowed] + list(extra)
        return Registry(everything, self.problems)

    def restricted(self, allowed: Callable[[CommandSpec, CommandSpec | None], bool]) -> Registry:
        """The commands `allowed(command, subcommand)` lets through, for help and completion.

        `allowed(spec, None)` decides a command; `allowed(spec, sub)` each of its subcommands. A command whose
        subcommands are all refused goes too. Shadowed specs and problems are kept as they are.
        """
        kept: list[CommandSpec] = []
        for spec in self._specs.values():
            if not allowed(spec, None):
                continue
            if spec.subcommands:
                subs = tuple(sub for sub in spec.subcommands if allowed(spec, sub))
                if not subs:
                    continue
                if len(subs) != len(spec.subcommands):
                    spec = replace(spec, subcommands=subs)
            kept.append(spec)
        view = Registry(kept, self.problems)
        view.shadowed = self.shadowed
        return view

    def commands(self) -> list[CommandSpec]:
        return list(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def lookup(self, name: str) -> CommandSpec:
        """The command called `name`, or a UsageError naming the nearest ones."""
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        raise UsageError(
            f"unknown command '{name}'",
            hint=did_you_mean(name, self.names()) or "type `help` for the list of commands",
        )


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """'did you mean x or y?' for the names nearest to `word`, or None when nothing is close."""
    from kfshell.names import did_you_mean as nearest_names  # difflib only when someone mistyped

    return nearest_names(word, candidates)


# Spec readers live in kfshell.specfiles; these names stay importable from here.
from kfshell.specfiles import (  # noqa: E402 - after the types that specfiles imports from this module
    META_SUFFIX,
    SpecCache,
    builtin_functions_dir,
    entry_point_specs,
    load_client_commands,
    load_function_dir,
    read_kf_command,
)

__all__ = [
    "META_SUFFIX", "ArgSpec", "CommandSpec", "Invocation", "Registry", "Requirement", "Shadowed", "SpecCache",
    "SpecError", "builtin_functions_dir", "did_you_mean", "entry_point_specs", "load_client_commands",
    "load_function_dir", "read_kf_command", "spec_from_dict",
]
