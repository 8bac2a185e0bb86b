"""Build the multi-call control-plane binary, kubectl and the Kubeflow controllers, each only when its sources changed.

Every Go compile holds /tmp/kf-go-build.lock (fcntl), so two `up`s, test sessions or engineers never compile at
once on this machine: a second one waits, then finds the binary built.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import paths

K8S_VERSION = "v1.36.3"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "pod-workdirs")


GO_LOCK = Path("/tmp/kf-go-build.lock")
GO_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -buildvcs=false"}


@contextlib.contextmanager
def go_lock() -> Iterator[None]:
    """Hold the machine-wide Go build lock (shared with `flock /tmp/kf-go-build.lock ...`)."""
    if _inherited_lock():
        yield
        return
    with open(GO_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _inherited_lock() -> bool:
    """Whether we run under `flock /tmp/kf-go-build.lock ...`, which hands its locked descriptor down.

    Locking the file again through a new descriptor would wait for that lock, i.e. for ourselves.
    """
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(fd) != str(GO_LOCK):
                continue
            fcntl.flock(int(fd.name), fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: succeeds at once
            return True
        except OSError:
            continue
    return False


def _digest(root: Path, skip: Path | None = None) -> hashlib._Hash:
    """A digest of every file a Go build reads under root (skipping the nested modules under `skip`)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if skip is not None and path.is_relative_to(skip):
            continue
        if path.suffix in {".go", ".mod", ".sum"} and path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest


def source_digest() -> str:
    """A digest of the control-plane module (the controllers' modules are their own)."""
    digest = _digest(paths.SOURCE, skip=paths.CONTROLLERS)
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
    """Build the control plane and the controllers into .cache/devcluster/bin; True when a build ran."""
    built = _build_control_plane(force)
    from . import controllers  # the controllers' table; it imports nothing heavy

    for controller in controllers.CONTROLLERS:
        built = build_module(controller.module, controller.package, controller.binary, force) or built
    return built


def _build_control_plane(force: bool) -> bool:
    stamp = paths.BIN / ".source-digest"
    if not force and _stamped(stamp, source_digest(), paths.BINARY, paths.KUBECTL):
        _link_components()
        return False
    with go_lock():
        digest = source_digest()  # another process may have built it while we waited
        if not force and _stamped(stamp, digest, paths.BINARY, paths.KUBECTL):
            _link_components()
            return False
        paths.BIN.mkdir(parents=True, exist_ok=True)
        targets = [(paths.BINARY, "./cmd/kfdev"), (paths.KUBECTL, "k8s.io/kubernetes/cmd/kubectl")]
        for output, package in targets:
            _go_build(paths.SOURCE, package, output, _ldflags())
        _link_components()
        stamp.write_text(digest)
    return True


def build_module(module: Path, package: str, output: Path, force: bool = False) -> bool:
    """Build one controller's Go module (its own go.mod) into `output` when the module's files changed."""
    stamp = output.with_name(f".{output.name}.digest")
    if not force and _stamped(stamp, _digest(module).hexdigest(), output):
        return False
    with go_lock():
        digest = _digest(module).hexdigest()
        if not force and _stamped(stamp, digest, output):
            return False
        paths.BIN.mkdir(parents=True, exist_ok=True)
        _go_build(module, package, output, "-s -w")
        stamp.write_text(digest)
    return True


def _stamped(stamp: Path, digest: str, *outputs: Path) -> bool:
    return stamp.exists() and all(o.exists() for o in outputs) and stamp.read_text() == digest


def _go_build(module: Path, package: str, output: Path, ldflags: str) -> None:
    started = time.monotonic()
    print(f"devcluster: building {output.name} (a cold build takes minutes)", file=sys.stderr)
    tmp = output.with_name(output.name + ".tmp")
    subprocess.run(["nice", "-n", "10", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package],
                   cwd=module, env=dict(os.environ, **GO_ENV), check=True)
    tmp.replace(output)  # a running process keeps its old binary; the next start gets the new one
    print(f"devcluster: built {output.name} in {time.monotonic() - started:.0f}s", file=sys.stderr)


def _link_components() -> None:
    """One symlink per component, so `ps` and pid checks show which component a process is."""
    for name in COMPONENTS:
        link = paths.BIN / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(paths.BINARY.name)
