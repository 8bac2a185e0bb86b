"""Manifests to put into a project: read from a local path or a git repository, checked, and ordered.

Everything here happens before anything touches the cluster, so a bad file fails the command (exit 2) with
nothing created. Objects come out in the order `kubectl apply` users expect: accounts, configuration and RBAC
before the workloads that use them.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfshell.errors import CommandFailed, UsageError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
SKIPPED_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_OBJECTS = 500
GIT_TIMEOUT = 60  # seconds for a shallow clone
_KIND_ORDER = ("Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret", "ConfigMap",
               "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "Deployment", "StatefulSet",
               "DaemonSet", "Job", "CronJob")
_GIT_URL = re.compile(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:|\.git/?$")


@dataclass(frozen=True)
class Manifest:
    """One object to create, and the file it came from (for messages)."""

    obj: dict[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name"))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion"))

    def describe(self) -> str:
        return f"{self.kind} {self.name} ({self.source})"


def is_git_url(repo: str) -> bool:
    return bool(_GIT_URL.search(repo))


@contextmanager
def checkout(repo: str, branch: str | None = None) -> Iterator[Path]:
    """A directory holding the repository: the local path itself, or a shallow git clone removed afterwards.

    A branch with a local path clones that local repository at the branch.
    """
    if not is_git_url(repo) and not branch:
        path = Path(os.path.expanduser(repo))
        if not path.exists():
            raise UsageError(f"repository {repo} does not exist", hint="give a local path or a git URL",
                             reason="Usage")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="kf-repo-") as tmp:
        target = Path(tmp) / "repo"
        command = ["git", "clone", "--quiet", "--depth", "1"]
        if branch:
            command += ["--branch", branch]
        source = repo if is_git_url(repo) else str(Path(os.path.expanduser(repo)).resolve())
        if not is_git_url(repo):
            command.insert(2, "--no-local")  # --depth is ignored for plain local clones otherwise
        command += ["--", source, str(target)]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env,
                                  check=False)
        except FileNotFoundError:
            raise CommandFailed("git is not installed", hint="install git, or give a local path",
                                reason="Refused") from None
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"cloning {repo} took more than {GIT_TIMEOUT} s", reason="Timeout") from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["git clone failed"])[-1].removeprefix("fatal: ")
            at = f" at branch {branch}" if branch else ""
            raise UsageError(f"cannot clone {repo}{at}: {why}", hint="check the URL and the branch",
                             reason="Usage")
        yield target


def manifest_files(root: Path) -> list[Path]:
    """The manifest files under `root` (or `root` itself), sorted, skipping hidden paths and kustomizations."""
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in SKIPPED_FILES or not name.endswith(MANIFEST_SUFFIXES):
                continue
            found.append(Path(dirpath) / name)
    return found


def load(root: Path, namespace: str) -> list[Manifest]:
    """Every object under `root`, checked for use in `namespace`, in creation order."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    manifests: list[Manifest] = []
    files = manifest_files(root)
    if not files:
        raise UsageError(f"no manifests (*.yaml, *.yml, *.json) in {root}", reason="Usage")
    for path in files:
        shown = str(path.relative_to(root)) if path != root else path.name
        try:
            documents = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read {shown}: {err}", reason="Usage") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise UsageError(f"{shown}{where} is not valid YAML: {getattr(err, 'problem', err)}",
                             hint="fix the file", reason="Usage") from None
        for n, document in enumerate(documents, 1):
            for obj in _expand(document):
                manifests.append(check(obj, f"{shown}#{n}", namespace))
    if len(manifests) > MAX_OBJECTS:
        raise UsageError(f"{len(manifests)} objects is more than kf applies at once ({MAX_OBJECTS})",
                         reason="Usage")
    seen: set[tuple[str, str]] = set()
    for m in manifests:
        key = (m.kind, m.name)
        if key in seen:
            raise UsageError(f"{m.kind} {m.name} is defined twice ({m.source})", reason="Usage")
        seen.add(key)
    return sorted(manifests, key=_order)


def _expand(document: Any) -> list[Any]:
    if document is None:
        return []
    if isinstance(document, dict) and document.get("kind") == "List":
        return [item for item in document.get("items") or [] if item is not None]
    return [document]


def check(obj: Any, source: str, namespace: str) -> Manifest:
    """A Manifest for `obj`, placed into `namespace`; a UsageError naming the file when it cannot be used."""
    if not isinstance(obj, dict):
        raise UsageError(f"{source} is not a Kubernetes object (expected a mapping)", reason="Usage")
    meta = obj.get("metadata")
    if not obj.get("apiVersion") or not obj.get("kind") or not isinstance(meta, dict) or not meta.get("name"):
        raise UsageError(f"{source}: an object needs apiVersion, kind and metadata.name", reason="Usage")
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise UsageError(f"{source}: {obj['kind']} {meta['name']} names namespace {meta['namespace']}, "
                         f"not {namespace} where it goes", hint="drop metadata.namespace", reason="Usage")
    placed = {**obj, "metadata": {**meta, "namespace": namespace}}
    return Manifest(obj=placed, source=source)


def _order(m: Manifest) -> tuple[int, str, str]:
    rank = _KIND_ORDER.index(m.kind) if m.kind in _KIND_ORDER else len(_KIND_ORDER)
    return rank, m.kind, m.name


def load_one(text: str, source: str, kinds: dict[str, str], name: str | None, namespace: str,
             command: str) -> Manifest:
    """The one object of an input file (`train NAME FILE`), checked before anything is created.

    `kinds` maps each accepted `apiVersion/kind` to how it is named in messages. A YAML error says where
    (line and column); several documents, a kind the command does not take, or a metadata.name other than
    `name` are usage errors. A missing name is filled from `name`.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UsageError(f"{source}{where} is not valid YAML: {problem}", hint="fix the file",
                         reason="Usage") from None
    wanted = " or ".join(sorted(set(kinds.values())))
    if not documents:
        raise UsageError(f"{source} is empty", hint=f"give one {wanted}", reason="Usage")
    if len(documents) > 1:
        raise UsageError(f"{source} holds {len(documents)} documents; {command} takes one {wanted}",
                         hint="split the file, one object each", reason="Usage")
    obj = documents[0]
    if not isinstance(obj, dict):
        raise UsageError(f"{source} is not a Kubernetes object (expected a mapping)", reason="Usage")
    key = f"{obj.get('apiVersion')}/{obj.get('kind')}"
    if key not in kinds:
        what = f"a {obj.get('kind')} ({obj.get('apiVersion')})" if obj.get("kind") else "an object without a kind"
        article = "an" if wanted[:1] in "AEIOU" else "a"
        raise UsageError(f"{source} is {what}; {command} takes {article} {wanted}",
                         hint=f"accepted: {', '.join(sorted(kinds))}", reason="Usage")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    given = meta.get("name")
    if name and given and given != name:
        raise UsageError(f"{source} names the {obj['kind']} {given!r}, not {name!r}",
                         hint="use the same name, or drop metadata.name from the file", reason="Usage")
    obj = {**obj, "metadata": {**meta, "name": given or name}}
    return check(obj, source, namespace)
