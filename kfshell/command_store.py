"""Where `kf command add|replace|upgrade|remove` keep commands.

- user scope: the module file under `$XDG_CONFIG_HOME/kf/commands/<name>.py`, with `<name>.kf.json` beside it
  (version, checksum, where it was added from, the requirements added with --requires);
- namespace scope (the session's namespace) and cluster scope (namespace kf-system): a Kubeless Function
  `kubeless.io/v1beta1` named after the command, as DESIGN.md describes it: the source in spec.function,
  handler `<module>.handler`, runtime python3.11, deps, `checksum: sha256:<hex>`, label
  `kf.kubeflow.org/subcommand`, the command's spec (its KF_COMMAND with the added requirements) as JSON in
  annotation `kf.kubeflow.org/spec`, the version in `kf.kubeflow.org/version`. Whether the user may create
  it is the API server's decision (RBAC on functions.kubeless.io); a refusal is the usual Forbidden line.

A source is checked before anything is written: it must parse, define `handler(event, context)` and a
literal `KF_COMMAND` that follows the contract (docs/architecture.md); anything wrong is a UsageError
(exit 2) saying what.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfshell.errors import CommandFailed, UsageError

SCOPES = ("user", "namespace", "cluster")
KF_SYSTEM = "kf-system"
RUNTIME = "python3.11"
SUBCOMMAND_LABEL = "kf.kubeflow.org/subcommand"
SPEC_ANNOTATION = "kf.kubeflow.org/spec"
VERSION_ANNOTATION = "kf.kubeflow.org/version"
REQUIRES_ANNOTATION = "kf.kubeflow.org/requires"  # the --requires entries, kept by `upgrade`
ORIGIN_ANNOTATION = "kf.kubeflow.org/source-file"
FUNCTIONS = "/apis/kubeless.io/v1beta1/namespaces/{ns}/functions"
REQUIRES_FORM = re.compile(r"^(?P<verb>[a-z*]+):(?P<resource>[a-z0-9*][a-z0-9./*-]*?)(?:@(?P<ns>[a-z0-9-]*))?$")


@dataclass(frozen=True)
class Source:
    """A checked function module about to be added: its code, spec and checksum."""

    name: str
    path: Path
    code: str
    checksum: str  # sha256:<hex>
    spec: dict[str, Any]  # its KF_COMMAND, named `name`, with the added requirements
    added_requires: tuple[dict[str, Any], ...] = ()
    deps: str = ""

    @property
    def module(self) -> str:
        """The Kubeless module name (the handler is `<module>.handler`)."""
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class Stored:
    """A command as one scope holds it (for upgrade, remove, describe)."""

    scope: str
    name: str
    where: str  # the file path, or NAMESPACE/FUNCTION
    version: int = 0
    checksum: str | None = None  # as recorded when it was added
    added_requires: tuple[dict[str, Any], ...] = ()
    deps: str = ""
    raw: dict[str, Any] = field(default_factory=dict)  # the Function object, for a cluster scope
    current: str | None = None  # the checksum of the code stored now (differs when someone changed it)


def checksum_of(code: str) -> str:
    return "sha256:" + hashlib.sha256(code.encode("utf-8")).hexdigest()


def parse_requirement(text: str) -> dict[str, Any]:
    """`VERB:RESOURCE[.GROUP][@NAMESPACE]` → a `requires` entry. Without `@` the requirement holds in the
    namespace the command runs in; `@NS` names one; a bare `@` means cluster-wide."""
    found = REQUIRES_FORM.match(text.strip())
    if not found:
        raise UsageError(f"--requires {text!r} is not VERB:RESOURCE[.GROUP][@NAMESPACE]",
                         hint="e.g. --requires create:notebooks.kubeflow.org or --requires list:pods")
    resource, _, group = found["resource"].partition(".")
    where = found["ns"]
    entry: dict[str, Any] = {"verb": found["verb"], "resource": resource, "group": group}
    entry["namespace"] = "$namespace" if where is None else (where or None)
    return entry


def read_source(name: str, path: Path, *, added: tuple[dict[str, Any], ...] = (), deps: str = "",
                sha256: str | None = None) -> Source:
    """Read and check `path` as the source of command `name`, with the `requires` entries `added` (from
    --requires); UsageError (exit 2) says what is wrong, CommandFailed when `sha256` does not match."""
    from kfshell.names import dns1123_label_problem
    from kfshell.registry import NAME_RULE, SpecError, spec_from_dict

    problem = dns1123_label_problem(name)
    if problem or not NAME_RULE.match(name):
        raise UsageError(f"'{name}' cannot name a command: {problem or 'use lower-case letters, digits and dashes'}")
    try:
        code = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    checksum = checksum_of(code)
    if sha256 is not None and checksum != "sha256:" + sha256.lower().removeprefix("sha256:"):
        raise CommandFailed(f"{path} has sha256 {checksum.removeprefix('sha256:')}, not the {sha256} given",
                            hint="check you have the file you meant; nothing was changed", reason="ChecksumMismatch")
    try:
        tree = ast.parse(code, filename=str(path))
    except SyntaxError as err:
        raise UsageError(f"{path}: line {err.lineno}: {err.msg}", hint="fix the Python syntax") from None
    if not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "handler"
               for node in tree.body):
        raise UsageError(f"{path} defines no handler(event, context)",
                         hint="a function module needs a top-level `def handler(event, context)`")
    from kfshell.registry import read_kf_command

    try:
        data = read_kf_command(Path(path))
    except SpecError as err:
        raise UsageError(f"bad KF_COMMAND: {err}", hint="see docs/functions.md") from None
    added = tuple(dict(r) for r in added)
    spec = {**data, "name": name}
    if added:
        spec["requires"] = list(data.get("requires") or []) + list(added)
    try:
        spec_from_dict(spec, source="user", origin=str(path))
        json.dumps(spec)
    except SpecError as err:
        raise UsageError(f"bad KF_COMMAND in {path}: {err}", hint="see docs/functions.md") from None
    except (TypeError, ValueError) as err:
        raise UsageError(f"bad KF_COMMAND in {path}: not JSON-serialisable ({err})") from None
    return Source(name=name, path=Path(path), code=code, checksum=checksum, spec=spec, added_requires=added,
                  deps=deps)


# ---- user scope -------------------------------------------------------------------------------------


def user_dir(env: Any) -> Path:
    return Path(env.config_dir) / "commands"


def user_find(env: Any, name: str) -> Stored | None:
    from kfshell.registry import META_SUFFIX

    directory = user_dir(env)
    path = directory / f"{name}.py"
    meta_file = directory / f"{name}{META_SUFFIX}"
    if not path.exists():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    current = checksum_of(path.read_text(encoding="utf-8"))
    return Stored(scope="user", name=name, where=str(path), version=_int(meta.get("version")),
                  checksum=meta.get("checksum") or current, added_requires=tuple(meta.get("requires") or ()),
                  raw=meta, current=current)


def user_write(env: Any, source: Source, version: int) -> Path:
    """Write the module and its record atomically (the record last: a crash leaves at worst no record)."""
    from kfshell.registry import META_SUFFIX

    directory = user_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{source.name}.py"
    _atomic_write(path, source.code)
    meta = {"name": source.name, "version": version, "checksum": source.checksum,
            "source": str(source.path.resolve()), "requires": list(source.added_requires),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _atomic_write(directory / f"{source.name}{META_SUFFIX}", json.dumps(meta, indent=2) + "\n")
    return path


def user_remove(env: Any, name: str) -> None:
    from kfshell.registry import META_SUFFIX

    directory = user_dir(env)
    for path in (directory / f"{name}.py", directory / f"{name}{META_SUFFIX}"):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- namespace and cluster scope: Kubeless Functions -------------------------------------------------


def scope_namespace(scope: str, session_namespace: str) -> str:
    return KF_SYSTEM if scope == "cluster" else session_namespace


def function_manifest(source: Source, namespace: str, version: int, *,
                      previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Function object for `source` (keeping the identity and unrelated labels of `previous`)."""
    meta: dict[str, Any] = dict((previous or {}).get("metadata") or {})
    labels = {**(meta.get("labels") or {}), SUBCOMMAND_LABEL: source.name, "created-by": "kf"}
    annotations = {
        **(meta.get("annotations") or {}),
        SPEC_ANNOTATION: json.dumps(source.spec, sort_keys=True),
        VERSION_ANNOTATION: str(version),
        REQUIRES_ANNOTATION: json.dumps(list(source.added_requires)),
        ORIGIN_ANNOTATION: source.path.name,
    }
    metadata = {"name": meta.get("name") or source.name, "namespace": namespace, "labels": labels,
                "annotations": annotations}
    if meta.get("resourceVersion"):
        metadata["resourceVersion"] = meta["resourceVersion"]
    timeout = source.spec.get("timeout")
    spec = dict((previous or {}).get("spec") or {})
    spec.update({
        "runtime": RUNTIME,
        "handler": f"{source.module}.handler",
        "function": source.code,
        "function-content-type": "text",
        "checksum": source.checksum,
        "deps": source.deps,
        "timeout": str(int(timeout)) if isinstance(timeout, (int, float)) else spec.get("timeout", "30"),
    })
    return {"apiVersion": "kubeless.io/v1beta1", "kind": "Function", "metadata": metadata, "spec": spec}


def function_find(api: Any, namespace: str, name: str) -> Stored | None:
    """The Function providing command `name` in `namespace` (by its label), or None."""
    from kfshell import cluster

    try:
        answer = cluster.request_json(api, "GET", FUNCTIONS.format(ns=namespace),
                                      query={"labelSelector": f"{SUBCOMMAND_LABEL}={name}"})
    except cluster.ApiError as err:
        if err.status == 404:  # the collection itself is missing: no Function CRD
            raise CommandFailed("the cluster does not serve Kubeless Functions (no functions.kubeless.io)",
                                hint="use --scope user, or ask an admin to install Kubeless",
                                reason="NotFound") from None
        raise cluster.translate(err) from err
    except cluster.TransportError as err:
        raise cluster.translate(err) from err
    items = sorted((answer or {}).get("items") or [],
                   key=lambda item: ((item.get("metadata") or {}).get("name") != name,
                                     (item.get("metadata") or {}).get("name", "")))
    if not items:
        return None
    item = items[0]
    meta = item.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    try:
        added = tuple(json.loads(annotations.get(REQUIRES_ANNOTATION) or "[]"))
    except ValueError:
        added = ()
    return Stored(scope="cluster" if namespace == KF_SYSTEM else "namespace", name=name,
                  where=f"{namespace}/{meta.get('name')}", version=_int(annotations.get(VERSION_ANNOTATION)),
                  checksum=(item.get("spec") or {}).get("checksum"), added_requires=added,
                  deps=str((item.get("spec") or {}).get("deps") or ""), raw=item,
                  current=checksum_of(code) if isinstance(code := (item.get("spec") or {}).get("function"), str)
                  else None)


def function_write(api: Any, namespace: str, source: Source, version: int,
                   previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create the Function, or replace `previous` (optimistic concurrency: its resourceVersion)."""
    from kfshell import cluster

    body = function_manifest(source, namespace, version, previous=previous)
    path = FUNCTIONS.format(ns=namespace)
    try:
        if previous is None:
            return cluster.request_json(api, "POST", path, body=body)
        return cluster.request_json(api, "PUT", f"{path}/{body['metadata']['name']}", body=body)
    except (cluster.ApiError, cluster.TransportError) as err:
        raise cluster.translate(err) from err


def function_delete(api: Any, stored: Stored) -> None:
    from kfshell import cluster

    namespace, _, name = stored.where.partition("/")
    try:
        cluster.request_json(api, "DELETE", f"{FUNCTIONS.format(ns=namespace)}/{name}")
    except (cluster.ApiError, cluster.TransportError) as err:
        raise cluster.translate(err) from err


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
