"""Command specs: what commands exist, what they take, where they came from and where they run.

Function modules declare `KF_COMMAND` as a literal dict; the registry reads it from the module's source with
`ast` instead of importing the module, so listing, help and completion never pay for (or run) a function's
imports. Client-side commands (kfshell/commands/) declare the same dict and are imported, since they are
light by rule. Parsing a typed command line against a spec lives in `kfshell.parsing`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfshell.errors import UsageError

ARG_KINDS = ("positional", "option", "flag")
ARG_TYPES = ("str", "int")
RUNS = ("client", "local", "kubeless")
DEFAULT_TIMEOUT = 30.0
NAME_RULE = re.compile(r"^[a-z][a-z0-9-]*$")

# Who wins when two sources declare the same command name (lower rank wins). Client-side commands are the
# shell itself (`help`, `exit`, `use`...) and cannot be replaced.
SOURCE_RANK = {"client": 0, "user": 1, "namespace": 2, "kf-system": 3, "builtin": 4}


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


def read_kf_command(path: Path) -> dict:
    """The literal KF_COMMAND dict of a Python file, read without importing (running) the file."""
    try:
        source = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from exc
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "KF_COMMAND" for t in targets):
            try:
                value = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except ValueError as exc:
                raise SpecError(f"{path}: KF_COMMAND must be a literal dict (no names or calls)") from exc
            if not isinstance(value, dict):
                raise SpecError(f"{path}: KF_COMMAND must be a dict")
            return value
    raise SpecError(f"{path}: no KF_COMMAND")


class SpecCache:
    """KF_COMMAND dicts already read, keyed by file path and checked against its size and mtime.

    Parsing the built-in functions costs ~20 ms on every start; this JSON file makes it ~1 ms. A lost or
    damaged cache only means parsing again, so writes are atomic but not locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, Any] | None = None
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            import json

            try:
                entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                entries = {}
            self._entries = entries if isinstance(entries, dict) else {}
        return self._entries

    def read(self, path: Path) -> dict:
        try:
            stat = path.stat()
        except OSError as exc:
            raise SpecError(f"cannot read {path}: {exc.strerror}") from exc
        key = [stat.st_size, stat.st_mtime_ns]
        entry = self._load().get(str(path))
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("spec"), dict):
            return entry["spec"]
        data = read_kf_command(path)
        self._load()[str(path)] = {"key": key, "spec": data}
        self._dirty = True
        return data

    def save(self) -> None:
        if not self._dirty:
            return
        import json
        import os
        import tempfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".specs.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._entries, f)
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError):
            return  # no cache this time (read-only home, a spec with a value JSON cannot hold)
        self._dirty = False


def load_function_dir(directory: Path, *, source: str,
                      cache: SpecCache | None = None) -> tuple[list[CommandSpec], list[str]]:
    """Specs of every function module in `directory` (runs locally), and a line per file that failed."""
    specs: list[CommandSpec] = []
    problems: list[str] = []
    if not directory.is_dir():
        return specs, problems
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            data = cache.read(path) if cache is not None else read_kf_command(path)
            specs.append(spec_from_dict(data, source=source, origin=str(path), runs="local"))
        except SpecError as exc:
            problems.append(f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
    return specs, problems


def builtin_functions_dir() -> Path | None:
    """Where the `functions` package is installed, found without importing it."""
    spec = importlib.util.find_spec("functions")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_client_commands(module_names: Iterable[str]) -> list[CommandSpec]:
    specs = []
    for module_name in module_names:
        module = importlib.import_module(module_name)
        specs.append(spec_from_dict(module.KF_COMMAND, source="client", origin=module_name, runs="client"))
    return specs


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
        for spec in sorted(candidates, key=lambda s: SOURCE_RANK.get(s.source, 99)):
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
        """Client commands, the built-in functions, and the user's own command files.

        cache_file: where specs already read are remembered between starts (see SpecCache).
        """
        from kfshell.commands import CLIENT_COMMANDS

        cache = SpecCache(cache_file) if cache_file is not None else None
        candidates = load_client_commands(CLIENT_COMMANDS)
        problems: list[str] = []
        builtin = builtin_functions_dir()
        if builtin is not None:
            specs, bad = load_function_dir(builtin, source="builtin", cache=cache)
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
