"""Where command specs come from: function files (read with `ast`, never run), the spec cache, the user's
`command add` records, installed packages' entry points, and the client-side commands.

`kfshell.registry` re-exports these names; the registry's own module holds the spec types and precedence.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kfshell import jsonfile
from kfshell.registry import CommandSpec, SpecError, spec_from_dict

# Beside a user's command file `x.py`, `x.kf.json` (written by `command add`) holds its version, checksum,
# where it came from and the requirements added with --requires.
META_SUFFIX = ".kf.json"
ENTRY_POINT_GROUP = "kf.commands"


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
            self._entries = jsonfile.read_dict(self.path)
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

    def get_extra(self, key: str, signature: Any) -> Any:
        """A value stored with `put_extra` under `key`, if it was stored with the same signature."""
        entry = self._load().get(f"@{key}")
        if isinstance(entry, dict) and entry.get("key") == signature:
            return entry.get("value")
        return None

    def put_extra(self, key: str, signature: Any, value: Any) -> None:
        self._load()[f"@{key}"] = {"key": signature, "value": value}
        self._dirty = True

    def save(self) -> None:
        # not written (read-only home, a spec with a value JSON cannot hold): no cache this time
        if self._dirty and jsonfile.write_private(self.path, self._entries or {}):
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
            if source == "user":
                data, extra = with_meta(data, path)
            else:
                extra = {}
            specs.append(replace(spec_from_dict(data, source=source, origin=str(path), runs="local"), **extra))
        except SpecError as exc:
            problems.append(f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
    return specs, problems


def meta_path(path: Path) -> Path:
    """The `command add` record beside a user's command file."""
    return path.with_name(path.stem + META_SUFFIX)


def with_meta(data: dict, path: Path) -> tuple[dict, dict[str, Any]]:
    """A user file's KF_COMMAND with what `command add` recorded beside it (name, --requires), and the
    CommandSpec fields it adds (version, checksum). Without a record: the file as it is."""
    record = meta_path(path)
    try:
        import json

        meta = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return data, {}
    except (OSError, ValueError) as exc:
        raise SpecError(f"{record}: unreadable ({exc})") from exc
    if not isinstance(meta, dict):
        raise SpecError(f"{record}: not a JSON object")
    merged = dict(data)
    if isinstance(meta.get("name"), str):
        merged["name"] = meta["name"]
    added = meta.get("requires") or []
    if added:
        merged["requires"] = list(merged.get("requires") or []) + list(added)
    extra = {k: str(meta[k]) for k in ("version", "checksum") if meta.get(k) is not None}
    return merged, extra


def entry_point_specs(cache: SpecCache | None = None) -> tuple[list[CommandSpec], list[str]]:
    """Commands that installed packages add through the entry-point group `kf.commands`.

    An entry point names a function module (`hello = "kf_hello.hello"`); its spec is read from the module's
    file, as for the built-ins, without importing it. Scanning installed packages costs ~45 ms, so the list
    is remembered in the spec cache until an installed distribution's metadata changes.
    """
    specs: list[CommandSpec] = []
    problems: list[str] = []
    for name, module, origin in _entry_points(cache):
        if origin is None:
            problems.append(f"entry point {name} = {module}: module not found")
            continue
        try:
            path = Path(origin)
            data = cache.read(path) if cache is not None else read_kf_command(path)
            spec = spec_from_dict(data, source="package", origin=module, runs="local")
        except SpecError as exc:
            problems.append(f"entry point {name} = {module}: {exc}")
            continue
        if spec.name != name:
            problems.append(f"entry point {name} = {module}: its KF_COMMAND is named {spec.name!r}, not {name!r}")
            continue
        specs.append(spec)
    return specs, problems


def _entry_points(cache: SpecCache | None) -> list[tuple[str, str, str | None]]:
    """(entry point name, module, module file or None) of the `kf.commands` group, cached by the installed
    distributions (see `distributions_signature`)."""
    import sys

    signature = distributions_signature()
    key = "entry_points " + "\0".join(sys.path)  # one entry per sys.path (python -S, a venv...): no ping-pong
    remembered = cache.get_extra(key, signature) if cache is not None else None
    if isinstance(remembered, list):
        return [tuple(item) for item in remembered]  # type: ignore[misc]
    from importlib.metadata import entry_points

    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        module = point.value.split(":", 1)[0].strip()
        found.append((point.name, module, module_file(module)))
    if cache is not None:
        cache.put_extra(key, signature, [list(item) for item in found])
    return found


def distributions_signature(path: list[str] | None = None) -> list[Any]:
    """What changes when a distribution is installed, removed, upgraded or reinstalled: per sys.path entry,
    each `*.dist-info`/`*.egg-info` directory's name and the mtimes of it and of its `entry_points.txt`.

    The directories' own mtimes are left out on purpose: a source checkout on sys.path (an editable install)
    changes whenever any file beside it does, which would make the cache useless."""
    import os
    import sys

    signature: list[Any] = []
    for entry in sys.path if path is None else path:
        try:
            with os.scandir(entry or ".") as listing:
                names = sorted(e.name for e in listing if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # absent, a zip file (zipped distributions are not looked for), unreadable
            signature.append([entry, None])
            continue
        found = []
        for name in names:
            meta = os.path.join(entry or ".", name)
            found.append([name, _mtime(meta), _mtime(os.path.join(meta, "entry_points.txt"))])
        signature.append([entry, found])
    return signature


def _mtime(path: str) -> int | None:
    import os

    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def module_file(module: str) -> str | None:
    """The file of `module`, found without running it (its parent packages are imported)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin


def builtin_functions_dir() -> Path | None:
    """Where the `functions` package is installed, found without importing it."""
    spec = importlib.util.find_spec("functions")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_client_commands(module_names: Iterable[str], cache: SpecCache | None = None) -> list[CommandSpec]:
    """Specs of the shell's own commands. With a cache their KF_COMMAND is read from the file (with `ast`,
    remembered in the cache) instead of importing the module, which `dispatch` does when one runs: ~15 ms
    less on every start. A KF_COMMAND that is not a literal is read by importing its module."""
    specs = []
    for module_name in module_names:
        data = None
        found = importlib.util.find_spec(module_name) if cache is not None else None
        if cache is not None and found is not None and found.origin and found.origin.endswith(".py"):
            data = _literal_spec(cache, Path(found.origin))
        if data is None:
            data = importlib.import_module(module_name).KF_COMMAND
        specs.append(spec_from_dict(data, source="client", origin=module_name, runs="client"))
    return specs


def _literal_spec(cache: SpecCache, path: Path) -> dict | None:
    """The file's literal KF_COMMAND through the cache; None (remembered) when it is not a literal."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = [stat.st_size, stat.st_mtime_ns]
    if cache.get_extra(f"not literal {path}", key):
        return None
    try:
        return cache.read(path)
    except SpecError:
        cache.put_extra(f"not literal {path}", key, True)
        return None
