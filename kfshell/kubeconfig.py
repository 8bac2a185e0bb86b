"""Reading kubeconfig files the way kubectl does, without importing `kubernetes`.

Several files (an explicit list, or `KUBECONFIG` split on `os.pathsep`) merge as kubectl merges them: for each
cluster, user and context name the first file that defines it wins, and so does the first non-empty
`current-context`. Relative file references are resolved against the file that holds them, so the merged
result can be handed to the client library from any working directory.

Credentials stay out of reprs and messages: `KubeConfig` hides its users from `repr`, and `token()` is the one
way to read a bearer token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kfshell.errors import UsageError

DEFAULT_PATH = Path("~/.kube/config")

# Keys holding file names, per section, that kubectl resolves relative to the kubeconfig file.
_CLUSTER_FILE_KEYS = ("certificate-authority",)
_USER_FILE_KEYS = ("client-certificate", "client-key", "tokenFile")


@dataclass(frozen=True)
class Context:
    """A kubeconfig context: which cluster, as which user, in which namespace by default."""

    name: str
    cluster: str
    user: str
    namespace: str | None = None


@dataclass(frozen=True)
class KubeConfig:
    """The merged kubeconfig, with the context kf should use selected.

    `selected` is the context asked for (`--context`) or else the files' `current-context`.
    """

    paths: tuple[str, ...]
    current_context: str | None
    selected: str | None
    contexts: Mapping[str, Context]
    clusters: Mapping[str, Mapping[str, Any]] = field(repr=False)
    users: Mapping[str, Mapping[str, Any]] = field(repr=False)

    def context(self, name: str | None = None) -> Context:
        """The named context (default: the selected one); a clear UsageError when there is none."""
        name = name or self.selected
        if not name:
            if not self.paths:
                raise UsageError("no kubeconfig found", hint="set KUBECONFIG or pass --kubeconfig",
                                 reason="NoKubeconfig")
            known = ", ".join(sorted(self.contexts)) or "none"
            raise UsageError("the kubeconfig names no current context",
                             hint=f"pass --context NAME; contexts: {known}",
                             reason="NoContext")
        found = self.contexts.get(name)
        if found is None:
            from kfshell.names import did_you_mean

            hint = did_you_mean(name, self.contexts) or (
                "contexts: " + (", ".join(sorted(self.contexts)) or "none"))
            raise UsageError(f"context {name!r} is not in the kubeconfig", hint=hint, reason="NoContext")
        return found

    def cluster(self, name: str | None = None) -> Mapping[str, Any]:
        ctx = self.context(name)
        cluster = self.clusters.get(ctx.cluster)
        if cluster is None:
            raise UsageError(f"context {ctx.name!r} names cluster {ctx.cluster!r}, not in the kubeconfig",
                             hint="fix the kubeconfig", reason="BadKubeconfig")
        return cluster

    def user(self, name: str | None = None) -> Mapping[str, Any]:
        """The context's user entry; an empty mapping when the context has no user (anonymous)."""
        ctx = self.context(name)
        return self.users.get(ctx.user, MappingProxyType({}))

    def server(self, name: str | None = None) -> str:
        server = self.cluster(name).get("server")
        if not server:
            raise UsageError(f"cluster {self.context(name).cluster!r} has no server address",
                             hint="fix the kubeconfig", reason="BadKubeconfig")
        return str(server)

    def namespace(self, name: str | None = None) -> str:
        """The context's default namespace, `default` when it names none (as kubectl)."""
        return self.context(name).namespace or "default"

    def has_token(self, name: str | None = None) -> bool:
        """Whether the context's user authenticates with a bearer token written in the kubeconfig."""
        user = self.user(name)
        return bool(user.get("token") or user.get("tokenFile"))

    def token(self, name: str | None = None) -> str | None:
        """The bearer token of the context's user, or None. Never log or print what this returns."""
        user = self.user(name)
        if user.get("token"):
            return str(user["token"])
        if user.get("tokenFile"):
            try:
                return Path(user["tokenFile"]).read_text().strip() or None
            except OSError as err:
                raise UsageError(f"cannot read the token file of user {self.context(name).user!r}: "
                                 f"{err.strerror}", reason="BadKubeconfig") from err
        return None

    def as_dict(self, name: str | None = None) -> dict[str, Any]:
        """A self-contained kubeconfig holding only the one context, for the client library."""
        ctx = self.context(name)
        context: dict[str, Any] = {"cluster": ctx.cluster, "user": ctx.user}
        if ctx.namespace:
            context["namespace"] = ctx.namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": ctx.cluster, "cluster": dict(self.cluster(name))}],
            "users": [{"name": ctx.user, "user": dict(self.user(name))}],
            "contexts": [{"name": ctx.name, "context": context}],
            "current-context": ctx.name,
        }


def kubeconfig_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
                     environ: Mapping[str, str] | None = None) -> tuple[list[Path], bool]:
    """Which files to read, and whether they were asked for explicitly (then a missing one is an error).

    An explicit path (or list) wins; else `KUBECONFIG` (several files separated by `os.pathsep`, empty entries
    and repeats dropped); else `~/.kube/config`.
    """
    if paths is not None:
        if isinstance(paths, (str, os.PathLike)):
            items = [os.fspath(paths)]
        else:
            items = [os.fspath(p) for p in paths]
        return _unique(Path(os.path.expanduser(p)) for p in items if p), True
    env = os.environ if environ is None else environ
    if env.get("KUBECONFIG"):
        return _unique(Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p), False
    return [DEFAULT_PATH.expanduser()], False


def load_kubeconfig(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
                    context: str | None = None, environ: Mapping[str, str] | None = None, *,
                    cache_dir: Path | None = None) -> KubeConfig:
    """Read and merge kubeconfig files; select `context` (default: the merged current-context).

    Files named in `KUBECONFIG` that do not exist are skipped, as kubectl skips them; an explicit path that
    does not exist, a file that is not YAML, or an unknown `context` is a UsageError. `cache_dir`: where
    the files' parsed shapes are remembered (kfshell.kubeconfig_cache; never their values); None: parse.
    """
    files, explicit = kubeconfig_paths(paths, environ)
    shapes = None
    if cache_dir is not None:
        from kfshell.kubeconfig_cache import ShapeCache

        shapes = ShapeCache(cache_dir)
    read: list[str] = []
    clusters: dict[str, Mapping[str, Any]] = {}
    users: dict[str, Mapping[str, Any]] = {}
    contexts: dict[str, Context] = {}
    current: str | None = None
    for path in files:
        document = _read(path, explicit, shapes)
        if document is None:
            continue
        read.append(str(path))
        base = path.parent
        for name, body in _named(document, "clusters", "cluster", path):
            clusters.setdefault(name, MappingProxyType(_resolve(body, _CLUSTER_FILE_KEYS, base)))
        for name, body in _named(document, "users", "user", path):
            users.setdefault(name, MappingProxyType(_resolve_user(body, base)))
        for name, body in _named(document, "contexts", "context", path):
            if name not in contexts:
                contexts[name] = Context(name=name, cluster=str(body.get("cluster") or ""),
                                         user=str(body.get("user") or ""),
                                         namespace=body.get("namespace") or None)
        if not current and document.get("current-context"):
            current = str(document["current-context"])
    config = KubeConfig(paths=tuple(read), current_context=current, selected=context or current,
                        contexts=MappingProxyType(contexts), clusters=MappingProxyType(clusters),
                        users=MappingProxyType(users))
    if context:
        config.context(context)  # fail now, with suggestions, rather than at the first API call
    return config


def _unique(paths: Any) -> list[Path]:
    seen: list[Path] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen


def _read(path: Path, explicit: bool, shapes: Any = None) -> dict[str, Any] | None:
    from kfshell.kubeconfig_cache import stamp

    before = stamp(path) if shapes is not None else None
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"kubeconfig {path} does not exist", hint="check --kubeconfig or KUBECONFIG",
                             reason="BadKubeconfig") from None
        return None
    except OSError as err:
        raise UsageError(f"cannot read kubeconfig {path}: {err.strerror}", reason="BadKubeconfig") from err
    # the stamp before and after the read: the text is the one the stamp describes only if it did not move
    file_stamp = before if shapes is not None and stamp(path) == before else None
    document = shapes.document(path, text, file_stamp) if shapes is not None else None
    if document is None:
        document = _parse(path, text)
        if shapes is not None and file_stamp is not None and isinstance(document, dict):
            shapes.remember(path, text, document, file_stamp)
    if document is None:
        return None
    if not isinstance(document, dict):
        raise UsageError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)",
                         reason="BadKubeconfig")
    return document


def _parse(path: Path, text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{where}", hint="fix the file",
                         reason="BadKubeconfig") from None
    return document


def _named(document: Mapping[str, Any], section: str, key: str, path: Path) -> list[tuple[str, dict]]:
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise UsageError(f"kubeconfig {path}: {section} must be a list", reason="BadKubeconfig")
    named = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name"):
            body = entry.get(key) or {}
            named.append((str(entry["name"]), dict(body) if isinstance(body, dict) else {}))
    return named


def _resolve(body: dict[str, Any], keys: tuple[str, ...], base: Path) -> dict[str, Any]:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = str(base / value)
    return body


def _resolve_user(body: dict[str, Any], base: Path) -> dict[str, Any]:
    body = _resolve(body, _USER_FILE_KEYS, base)
    exec_ = body.get("exec")
    # kubectl resolves an exec plugin's command against the file only when it is a relative path with a
    # directory part; a bare name is looked up on PATH.
    if isinstance(exec_, dict):
        command = exec_.get("command")
        if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
            body["exec"] = {**exec_, "command": str(base / command)}
    return body
