"""Build the multi-call control-plane binary and kubectl from the Go module, only when the sources changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

from . import paths

K8S_VERSION = "v1.36.3"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "pod-workdirs")


def source_digest() -> str:
    """A digest of every file the Go build reads from this directory."""
    digest = hashlib.sha256()
    for path in sorted(paths.SOURCE.rglob("*")):
        if path.suffix in {".go", ".mod", ".sum"} and path.is_file():
            digest.update(str(path.relative_to(paths.SOURCE)).encode())
            digest.update(path.read_bytes())
    digest.update(K8S_VERSION.encode())
    return digest.hexdigest()


def _ldflags() -> str:
    major, minor, _ = K8S_VERSION.lstrip("v").split(".")
    stamps = {
        "k8s.io/component-base/version.gitVersion": K8S_VERSION,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/client-go/pkg/version.gitVersion": K8S_VERSION,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return "-s -w " + " ".join(f"-X {k}={v}" for k, v in stamps.items())


def build(force: bool = False) -> bool:
    """Build into .cache/devcluster/bin; return True when a build ran."""
    stamp = paths.BIN / ".source-digest"
    digest = source_digest()
    up_to_date = paths.BINARY.exists() and paths.KUBECTL.exists() and stamp.exists()
    if up_to_date and stamp.read_text() == digest and not force:
        _link_components()
        return False
    paths.BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod -buildvcs=false")
    targets = [(paths.BINARY, "./cmd/kfdev"), (paths.KUBECTL, "k8s.io/kubernetes/cmd/kubectl")]
    for output, package in targets:
        started = time.monotonic()
        print(f"devcluster: building {output.name} (a cold build takes many minutes)", file=sys.stderr)
        subprocess.run(["go", "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(output), package],
                       cwd=paths.SOURCE, env=env, check=True)
        print(f"devcluster: built {output.name} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    _link_components()
    stamp.write_text(digest)
    return True


def _link_components() -> None:
    """One symlink per component, so `ps` and pid checks show which component a process is."""
    for name in COMPONENTS:
        link = paths.BIN / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(paths.BINARY.name)
