"""Kubeconfig files: the users' one (kf-admin, kf-alice, kf-alice-exec, kf-bob) and one per control-plane
component."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import yaml

from . import paths

CLUSTER = "kf-dev"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _cluster() -> dict:
    return {"name": CLUSTER, "cluster": {"server": paths.SERVER,
                                         "certificate-authority-data": _b64(paths.PKI / "ca.crt")}}


def _cert_user(name: str, stem: str) -> dict:
    return {"name": name, "user": {"client-certificate-data": _b64(paths.PKI / f"{stem}.crt"),
                                   "client-key-data": _b64(paths.PKI / f"{stem}.key")}}


def _write(path: Path, config: dict) -> None:
    import tempfile

    # A temporary file of its own: two launchers writing at once must not mix their halves.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with open(fd, "w") as handle:
        handle.write(yaml.safe_dump(config, sort_keys=False))
    Path(tmp).chmod(0o600)
    Path(tmp).replace(path)


def write_component(stem: str) -> Path:
    """A kubeconfig for one component, authenticating with its client certificate."""
    path = paths.PKI / f"{stem}.kubeconfig"
    _write(path, {
        "apiVersion": "v1", "kind": "Config", "clusters": [_cluster()], "users": [_cert_user(stem, stem)],
        "contexts": [{"name": stem, "context": {"cluster": CLUSTER, "user": stem}}], "current-context": stem,
    })
    return path


def exec_user(token_file: Path, *extra_args: str, api_version: str = "client.authentication.k8s.io/v1") -> dict:
    """A user entry whose credentials come from devcluster/exec_plugin.py (an exec credential plugin)."""
    return {"apiVersion": api_version, "command": sys.executable,
            # -S: no site packages to import; the plugin needs only the standard library (and starts faster)
            "args": ["-S", str(paths.SOURCE / "exec_plugin.py"), str(token_file), *extra_args],
            "interactiveMode": "Never", "provideClusterInfo": False}


def write_users() -> Path:
    """The kubeconfig for people and tests: admin by certificate, alice and bob by bearer token, and alice
    again through an exec plugin (context kf-alice-exec)."""
    users = [_cert_user("kf-admin", "admin")]
    for name in ("alice", "bob"):
        users.append({"name": f"kf-{name}", "user": {"token": (paths.PKI / f"{name}.token").read_text().strip()}})
    users.append({"name": "kf-alice-exec", "user": {"exec": exec_user(paths.PKI / "alice.token")}})
    contexts = [
        {"name": "kf-admin", "context": {"cluster": CLUSTER, "user": "kf-admin", "namespace": "default"}},
        {"name": "kf-alice", "context": {"cluster": CLUSTER, "user": "kf-alice", "namespace": "alice"}},
        {"name": "kf-alice-exec", "context": {"cluster": CLUSTER, "user": "kf-alice-exec", "namespace": "alice"}},
        {"name": "kf-bob", "context": {"cluster": CLUSTER, "user": "kf-bob", "namespace": "alice"}},
    ]
    _write(paths.KUBECONFIG, {"apiVersion": "v1", "kind": "Config", "clusters": [_cluster()], "users": users,
                              "contexts": contexts, "current-context": "kf-admin", "preferences": {}})
    return paths.KUBECONFIG


def ensure_users() -> None:
    """Rewrite the users' kubeconfig when it lacks a context this launcher writes (same keys and tokens)."""
    try:
        current = yaml.safe_load(paths.KUBECONFIG.read_text()) or {}
    except (OSError, yaml.YAMLError):
        current = {}
    names = {c.get("name") for c in current.get("contexts") or []}
    if not {"kf-admin", "kf-alice", "kf-alice-exec", "kf-bob"} <= names:
        write_users()
