"""Kubeconfig files: the users' one (kf-admin, kf-alice, kf-bob) and one per control-plane component."""

from __future__ import annotations

import base64
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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def write_component(stem: str) -> Path:
    """A kubeconfig for one component, authenticating with its client certificate."""
    path = paths.PKI / f"{stem}.kubeconfig"
    _write(path, {
        "apiVersion": "v1", "kind": "Config", "clusters": [_cluster()], "users": [_cert_user(stem, stem)],
        "contexts": [{"name": stem, "context": {"cluster": CLUSTER, "user": stem}}], "current-context": stem,
    })
    return path


def write_users() -> Path:
    """The kubeconfig for people and tests: admin by certificate, alice and bob by bearer token."""
    users = [_cert_user("kf-admin", "admin")]
    for name in ("alice", "bob"):
        users.append({"name": f"kf-{name}", "user": {"token": (paths.PKI / f"{name}.token").read_text().strip()}})
    contexts = [
        {"name": "kf-admin", "context": {"cluster": CLUSTER, "user": "kf-admin", "namespace": "default"}},
        {"name": "kf-alice", "context": {"cluster": CLUSTER, "user": "kf-alice", "namespace": "alice"}},
        {"name": "kf-bob", "context": {"cluster": CLUSTER, "user": "kf-bob", "namespace": "alice"}},
    ]
    _write(paths.KUBECONFIG, {"apiVersion": "v1", "kind": "Config", "clusters": [_cluster()], "users": users,
                              "contexts": contexts, "current-context": "kf-admin", "preferences": {}})
    return paths.KUBECONFIG
