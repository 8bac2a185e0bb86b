"""Build kf's function runtime image `kf-runtime:0.1.0` without a container engine.

Three layers, each rebuilt only when its own inputs change:

1. Debian bookworm (mmdebstrap, minbase + python3, python3-pip, ca-certificates, user 1000 `kf`): slow (about a
   minute, it downloads the packages), so it is cached under the key of its recipe and the mirror's Release dates.
2. kf's dependencies, pinned with hashes in images/requirements.lock, installed by the image's own pip.
3. kf itself, a wheel built from this working tree.

Layers 2 and 3 are installed with the rootfs's pip inside a chroot of layer 1 (so Debian's install scheme and
shebangs are the image's, not the host's) and byte-compiled there (`unchecked-hash` pycs: no timestamps). Every
tar entry has a clamped mtime, sorted names and numeric owners; umoci compresses and packs the layers into an OCI
layout with fixed history/created times, and skopeo writes the docker-archive. The same inputs give the same
manifest digest (images/README.md says how that is checked).
"""

from __future__ import annotations

import email.utils
import fcntl
import hashlib
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO / "images" / "requirements.lock"
CACHE = REPO / ".cache" / "images"
NAME = "kf-runtime"
TAG = "0.1.0"
REF = f"{NAME}:{TAG}"
HOME = CACHE / NAME
LAYOUT = HOME / "oci"
ARCHIVE = CACHE / f"{NAME}.tar"
ROOTFS = HOME / "rootfs"

# Bump when the recipe changes in a way its inputs below do not show (hooks, layer contents, packing).
RECIPE = 1
SUITE = "bookworm"
MIRRORS = (
    ("http://deb.debian.org/debian", "bookworm"),
    ("http://deb.debian.org/debian", "bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
)
PACKAGES = ("python3", "python3-pip", "ca-certificates")
VARIANT = "minbase"
# Docs, man pages and translations are not read in a function pod; the copyright files stay.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)
UID = 1000
USER = "kf"
CUSTOMIZE_HOOKS = (
    # The container runtime provides both; the host's copies would make the layer differ between machines.
    'rm -f "$1/etc/resolv.conf" "$1/etc/hostname"',
    f'chroot "$1" useradd --uid {UID} --user-group --create-home --shell /usr/sbin/nologin {USER}',
    f'install -d -o {UID} -g {UID} -m 0755 "$1/kubeless"',
)
PYTHON = "python3.11"
SITE = f"usr/local/lib/{PYTHON}/dist-packages"  # Debian's python3 reads /usr/local's dist-packages
# The wheels pip may pick for the image's CPython 3.11 on glibc 2.36 (x86_64), whatever the host runs.
WHEEL_TARGET = ("--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                "--platform", "manylinux_2_36_x86_64", "--platform", "manylinux_2_28_x86_64",
                "--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64", "--platform", "linux_x86_64")
SOURCES = ("pyproject.toml", "README.md", "kfshell", "functions")
ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED=1")
ENTRYPOINT = ("python3", "-m", "kfshell.runtime")


class BuildError(Exception):
    """A step of the build failed; the message says which and why (one line)."""


@dataclass(frozen=True)
class Layer:
    tar: Path  # uncompressed, reproducible
    key: str  # hash of everything that went into it
    created_by: str


@dataclass(frozen=True)
class Image:
    layout: Path
    archive: Path
    rootfs: Path
    digest: str  # the manifest's, sha256:...
    source_date_epoch: int


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(obj: object) -> str:
    return _sha256(json.dumps(obj, sort_keys=True).encode())


def _run(argv: Sequence[str], what: str, log_file: Path | None = None) -> str:
    """Run a tool; on failure one line naming the step and the tool's last error line (the rest in log_file)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BuildError(f"{what}: {argv[0]} is not installed (run `make image`, it installs the tools)") from None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        last = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
        where = f" (log: {log_file})" if log_file else ""
        raise BuildError(f"{what} failed: {last.strip() or f'exit {done.returncode}'}{where}")
    return done.stdout


@contextmanager
def _locked() -> Iterator[None]:
    """One build at a time on this machine (`make image` and a test may start together)."""
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --- layer 1: Debian ---


def release_dates() -> dict[str, int]:
    """The Date of each suite's Release file on the mirror (what changes when the packages do)."""
    dates = {}
    for mirror, suite in MIRRORS:
        url = f"{mirror}/dists/{suite}/InRelease"
        with urllib.request.urlopen(url, timeout=20) as reply:
            for raw in itertools.islice(reply, 50):  # the Date field is in the head, after the PGP armour
                line = raw.decode("utf-8", "replace")
                if line.startswith("Date:"):
                    dates[f"{mirror} {suite}"] = int(email.utils.parsedate_to_datetime(line[5:].strip()).timestamp())
                    break
        if f"{mirror} {suite}" not in dates:
            raise BuildError(f"{url} has no Date field")
    return dates


def _base_recipe(dates: dict[str, int]) -> dict[str, object]:
    return {"recipe": RECIPE, "suite": SUITE, "mirrors": MIRRORS, "packages": PACKAGES, "variant": VARIANT,
            "dpkg": DPKG_OPTIONS, "hooks": CUSTOMIZE_HOOKS, "release_dates": dates}


def debian_layer(refresh: bool = False) -> tuple[Layer, int]:
    """Layer 1 and the build's SOURCE_DATE_EPOCH (the newest Release date), from the cache when its inputs match."""
    work = HOME / "debian"
    recorded = work / "key.json"
    cached = json.loads(recorded.read_text()) if recorded.exists() and (work / "layer.tar").exists() else None
    try:
        dates = release_dates()
    except (OSError, ValueError) as exc:
        if cached is None:
            raise BuildError(f"cannot read the Debian mirror's Release dates: {exc}") from None
        log(f"Debian mirror unreachable ({exc}); reusing the cached Debian layer")
        dates = cached["recipe"]["release_dates"]
    recipe = _base_recipe(dates)
    key = _key(recipe)
    epoch = max(dates.values())
    created_by = f"mmdebstrap --variant={VARIANT} {SUITE} +{','.join(PACKAGES)}"
    if cached and cached["key"] == key and "digest" in cached and not refresh and (work / "rootfs" / "usr").is_dir():
        log(f"Debian layer: cached (mirror of {_day(epoch)})")
        return Layer(work / "layer.tar", cached["digest"], created_by), epoch
    log(f"Debian layer: mmdebstrap {SUITE} (mirror of {_day(epoch)}), about a minute")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    argv = ["mmdebstrap", f"--variant={VARIANT}", f"--include={','.join(PACKAGES)}", "--format=tar",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]  # merged /usr without the usrmerge package
    argv += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    argv += [f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS]
    argv += [SUITE, "-"]
    sources = "".join(f"deb {mirror} {suite} main\n" for mirror, suite in MIRRORS)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "TMPDIR": str(work)}
    tmp = work / "layer.tar.tmp"
    with open(tmp, "wb") as out, open(work / "mmdebstrap.log", "w") as err:
        # /dev's nodes are the container runtime's business (and cannot be made by an unprivileged unpacker).
        strap = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
        try:
            filt = subprocess.Popen(["mmtarfilter", "--path-exclude=/dev/*"], stdin=strap.stdout, stdout=out)
        except FileNotFoundError:
            strap.kill()
            raise BuildError("mmdebstrap is not installed (run `make image`, it installs the tools)") from None
        assert strap.stdin is not None and strap.stdout is not None
        strap.stdout.close()
        strap.stdin.write(sources.encode())
        strap.stdin.close()
        if strap.wait() != 0 or filt.wait() != 0:
            lines = (work / "mmdebstrap.log").read_text().splitlines()
            last = next((line for line in reversed(lines) if line.startswith("E:")), lines[-1] if lines else "")
            raise BuildError(f"mmdebstrap failed: {last} (log: {work / 'mmdebstrap.log'})")
    tar = work / "layer.tar"
    tmp.rename(tar)
    rootfs = work / "rootfs"
    rootfs.mkdir()
    _run(["tar", "-C", str(rootfs), "--numeric-owner", "-xpf", str(tar)], "unpacking the Debian layer")
    (rootfs / "dev").mkdir(exist_ok=True)
    # The layers above are keyed on this layer's content, so a rebuild that changed nothing rebuilds nothing.
    digest = _file_sha256(tar)
    recorded.write_text(json.dumps({"key": key, "digest": digest, "recipe": recipe}, indent=1, sort_keys=True)
                        + "\n")
    return Layer(tar, digest, created_by), epoch


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _day(epoch: int) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


# --- layers 2 and 3: Python ---


def _chroot(root: Path, script: str, binds: dict[str, Path], what: str, log_file: Path) -> None:
    """Run a shell script in root, read-only, in a private mount namespace: /dev, /proc, a tmpfs /tmp, and
    each bind (a dir under /tmp, writable) mounted; nothing of it leaks to the host or stays in root."""
    q = shlex.quote
    setup = [f"mount --bind {q(str(root))} {q(str(root))}", f"mount -o remount,bind,ro {q(str(root))}",
             f"mount --rbind /dev {q(str(root / 'dev'))}", f"mount -t proc proc {q(str(root / 'proc'))}",
             f"mount -t tmpfs -o mode=1777 tmpfs {q(str(root / 'tmp'))}"]
    for inside, outside in binds.items():
        setup += [f"mkdir -p {q(str(root / inside.lstrip('/')))}",
                  f"mount --bind {q(str(outside))} {q(str(root / inside.lstrip('/')))}"]
    inner = f"umask 022; {script}"
    setup.append(f"exec chroot {q(str(root))} /usr/bin/env -i PATH=/usr/sbin:/usr/bin HOME=/root LC_ALL=C.UTF-8 "
                 f"/bin/sh -ec {q(inner)}")
    _run(["unshare", "--mount", "--fork", "--", "/bin/sh", "-ec", "\n".join(setup)], what, log_file)


def _source_files(root: Path = REPO) -> list[Path]:
    files = []
    for name in SOURCES:
        path = root / name
        if path.is_file():
            files.append(path)
            continue
        for sub in sorted(path.rglob("*")):
            if sub.is_file() and "__pycache__" not in sub.parts and sub.suffix not in (".pyc", ".pyo"):
                files.append(sub)
    return sorted(files)


def source_key(root: Path = REPO) -> str:
    """What kf's wheel is made of: the packaged files' paths and contents (a change rebuilds layer 3)."""
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def snapshot_sources(dest: Path, root: Path = REPO) -> Path:
    """A copy of the files kf's wheel is made of (a fixed input while the working tree changes); returns dest."""
    for path in _source_files(root):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return dest


def build_wheel(out: Path, root: Path = REPO) -> Path:
    """kf's wheel from a clean copy of the sources (setuptools' build/ dir could hold deleted modules)."""
    with tempfile.TemporaryDirectory(prefix="kf-wheel-") as tmp:
        src = snapshot_sources(Path(tmp) / "src", root)
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("kfshell-*.whl"):
            old.unlink()
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
              "-w", str(out), str(src)], "building kf's wheel")
    wheels = sorted(out.glob("kfshell-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"building kf's wheel left {len(wheels)} wheels in {out}")
    return wheels[0]


def download_wheels(dest: Path) -> None:
    """The locked dependency wheels (pip checks every hash; files already there are reused)."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
            "--require-hashes", *WHEEL_TARGET, "-d", str(dest), "-r", str(LOCK_FILE)]
    try:  # all there already: no need for the index
        _run([*argv, "--no-index", "--find-links", str(dest)], "checking the downloaded wheels")
    except BuildError:
        _run(argv, "downloading the locked wheels (images/requirements.lock)")


def _tar_tree(tree: Path, out: Path, epoch: int) -> None:
    """A reproducible tar of tree's contents: sorted, mtimes = epoch, root-owned, no atime/ctime."""
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, ns=(epoch * 10**9, epoch * 10**9), follow_symlinks=False)
    entries = sorted(p.name for p in tree.iterdir())
    _run(["tar", "--sort=name", "--format=posix",
          "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
          f"--mtime=@{epoch}", "--numeric-owner", "--owner=0", "--group=0",
          "-C", str(tree), "-cf", str(out), *entries], f"packing {out.name}")


def _stage(work: Path) -> Path:
    stage = work / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


COMPILE = (f"python3 -m compileall -q -j 2 --invalidation-mode unchecked-hash -s /tmp/stage -p / "
           f"/tmp/stage/{SITE}")


def deps_layer(debian: Layer, epoch: int, home: Path = HOME, force: bool = False) -> Layer:
    """Layer 2: the locked dependencies, installed by the image's pip into /usr/local and byte-compiled."""
    lock = LOCK_FILE.read_text()
    key = _key({"recipe": RECIPE, "below": debian.key, "lock": lock, "epoch": epoch})
    work = home / "deps"
    layer = Layer(work / "layer.tar", key, "pip install -r images/requirements.lock")
    if not force and _cached(work, key):
        log("dependencies layer: cached")
        return layer
    log("dependencies layer: pip install -r images/requirements.lock")
    wheels = CACHE / "wheels"
    download_wheels(wheels)
    stage = _stage(work)
    script = ("python3 -m pip install -q --disable-pip-version-check --no-cache-dir --no-index "
              "--find-links /tmp/wheels --no-deps --require-hashes --ignore-installed --no-compile "
              "--no-warn-script-location --root /tmp/stage -r /tmp/lock/requirements.lock; " + COMPILE)
    _chroot(debian.tar.parent / "rootfs", script, {"/tmp/wheels": wheels, "/tmp/lock": LOCK_FILE.parent,
                                                   "/tmp/stage": stage}, "installing the dependencies",
            work / "pip.log")
    return _finish(work, stage, layer, epoch)


def kf_layer(deps: Layer, debian: Layer, epoch: int, home: Path = HOME, force: bool = False,
             root: Path = REPO) -> Layer:
    """Layer 3: kf's wheel from root (this tree); `pip check` proves the lock holds everything kf requires."""
    key = _key({"recipe": RECIPE, "below": deps.key, "sources": source_key(root), "epoch": epoch})
    work = home / "kf"
    layer = Layer(work / "layer.tar", key, "pip install kfshell-0.1.0-py3-none-any.whl")
    if not force and _cached(work, key):
        log("kf layer: cached")
        return layer
    log("kf layer: kf's wheel from this tree")
    wheel_dir = work / "wheel"
    wheel = build_wheel(wheel_dir, root)
    stage = _stage(work)
    deps_stage = work / "deps-tree"
    shutil.rmtree(deps_stage, ignore_errors=True)
    deps_stage.mkdir()
    _run(["tar", "-C", str(deps_stage), "-xf", str(deps.tar)], "unpacking the dependencies layer")
    script = ("python3 -m pip install -q --disable-pip-version-check --no-cache-dir --no-index --no-deps "
              "--ignore-installed --no-compile --no-warn-script-location --root /tmp/stage "
              f"/tmp/wheel/{wheel.name}; {COMPILE}")
    binds = {"/tmp/wheel": wheel_dir, "/tmp/stage": stage, "/tmp/deps": deps_stage}
    rootfs = debian.tar.parent / "rootfs"
    try:
        _chroot(rootfs, script, binds, "installing kf", work / "pip.log")
        check = f"PYTHONPATH=/tmp/stage/{SITE}:/tmp/deps/{SITE} python3 -m pip check --disable-pip-version-check"
        try:
            _chroot(rootfs, check, binds, "pip check", work / "pip-check.log")
        except BuildError as exc:
            raise BuildError(f"images/requirements.lock does not hold what kf requires ({exc}): "
                             "run `python -m images lock`") from None
    finally:
        shutil.rmtree(deps_stage, ignore_errors=True)
    return _finish(work, stage, layer, epoch)


def _cached(work: Path, key: str) -> bool:
    recorded = work / "key"
    return recorded.exists() and recorded.read_text() == key and (work / "layer.tar").exists()


def _finish(work: Path, stage: Path, layer: Layer, epoch: int) -> Layer:
    (work / "key").unlink(missing_ok=True)  # an interrupted build must not leave the old key on the new tar
    tmp = work / "layer.tar.tmp"
    _tar_tree(stage, tmp, epoch)
    tmp.rename(layer.tar)
    shutil.rmtree(stage)
    (work / "key").write_text(layer.key)
    return layer


# --- packing ---


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pack(layers: Sequence[Layer], layout: Path, epoch: int) -> str:
    """An OCI layout holding REF built from layers (umoci); returns the manifest digest. Replaces layout whole."""
    created = _iso(epoch)
    tmp = layout.with_name(layout.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    image = f"{tmp}:{TAG}"
    _run(["umoci", "init", "--layout", str(tmp)], "umoci init")
    _run(["umoci", "new", "--image", image], "umoci new")
    for layer in layers:
        _run(["umoci", "raw", "add-layer", "--image", image, "--history.created", created,
              "--history.created_by", layer.created_by, str(layer.tar)], f"adding {layer.tar}")
    config = ["umoci", "config", "--image", image, "--created", created, "--history.created", created,
              "--history.created_by", "kf runtime config", "--os", "linux", "--architecture", "amd64",
              "--config.user", f"{UID}:{UID}", "--config.workingdir", "/", "--config.exposedports", "8080/tcp"]
    for arg in ENTRYPOINT:
        config += ["--config.entrypoint", arg]
    for env in ENV:
        config += ["--config.env", env]
    for label in (f"org.opencontainers.image.title={NAME}", f"org.opencontainers.image.version={TAG}",
                  "org.opencontainers.image.description=kf's Kubeless-compatible Python 3.11 function runtime"):
        config += ["--config.label", label]
    _run(config, "umoci config")
    _run(["umoci", "gc", "--layout", str(tmp)], "umoci gc")
    for blob in (tmp / "blobs" / "sha256").iterdir():
        blob.chmod(0o644)  # umoci writes 0600; readers (a registry push, H3's node) need not be root
    shutil.rmtree(layout, ignore_errors=True)
    tmp.rename(layout)
    return manifest_digest(layout)


def manifest_digest(layout: Path = LAYOUT) -> str:
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == TAG:
            return entry["digest"]
    raise BuildError(f"{layout} has no image tagged {TAG}")


def image_config(layout: Path = LAYOUT) -> dict:
    """The image's config (User, Entrypoint, Env, ...) as a container runtime reads it."""
    blob = layout / "blobs" / "sha256"
    manifest = json.loads((blob / manifest_digest(layout).split(":", 1)[1]).read_text())
    return json.loads((blob / manifest["config"]["digest"].split(":", 1)[1]).read_text())


def write_archive(layout: Path, archive: Path) -> None:
    tmp = archive.with_name(archive.name + ".tmp")
    tmp.unlink(missing_ok=True)
    _run(["skopeo", "copy", "-q", f"oci:{layout}:{TAG}", f"docker-archive:{tmp}:{REF}"], "skopeo copy")
    tmp.rename(archive)


def unpack(dest: Path, layout: Path = LAYOUT) -> Path:
    """The image's root filesystem unpacked into dest (a new directory) by umoci; returns dest.

    Builds the image first when there is none."""
    if not (layout / "index.json").exists():
        if layout != LAYOUT:
            raise BuildError(f"no OCI layout at {layout}")
        build()
    with _locked():  # not while a build replaces the layout
        return _unpack(Path(dest), layout)


def _unpack(dest: Path, layout: Path) -> Path:
    if dest.exists() and any(dest.iterdir()):
        raise BuildError(f"{dest} exists and is not empty")
    if dest.exists():
        dest.rmdir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # --keep-dirlinks: the later layers' /usr/... entries must not replace Debian's merged-/usr links.
    _run(["umoci", "raw", "unpack", "--keep-dirlinks", "--image", f"{layout}:{TAG}", str(dest)], "umoci unpack")
    return dest


def rootfs(build_if_missing: bool = True) -> Path:
    """The current unpacked rootfs (.cache/images/kf-runtime/rootfs, a link to the digest's directory)."""
    if not (ROOTFS / "usr").is_dir():
        if not build_if_missing:
            raise BuildError(f"no unpacked image at {ROOTFS}: run `make image`")
        build()
    return ROOTFS


def _update_rootfs(digest: str) -> None:
    """Point ROOTFS at a rootfs of digest; the one before stays (pods may still run from it), older ones go."""
    store = HOME / "rootfs.d"
    store.mkdir(parents=True, exist_ok=True)
    name = digest.split(":", 1)[1][:16]
    target = store / name
    if (target / "usr").is_dir() and ROOTFS.is_symlink() and os.readlink(ROOTFS) == f"rootfs.d/{name}":
        return
    if not (target / "usr").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        _unpack(target, LAYOUT)
    link = HOME / "rootfs.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(f"rootfs.d/{name}")
    if ROOTFS.exists() and not ROOTFS.is_symlink():
        shutil.rmtree(ROOTFS)
    previous = os.readlink(ROOTFS) if ROOTFS.is_symlink() else ""
    link.rename(ROOTFS)  # atomic: a reader sees the old tree or the new one
    in_use = _mounted_trees()
    for old in store.iterdir():
        if old.name not in (name, Path(previous).name) and str(old.resolve()) not in in_use:
            shutil.rmtree(old, ignore_errors=True)


def _mounted_trees() -> str:
    """The mount tables of every mount namespace: a tree still in one (a pod's overlay lower dir on the dev
    cluster, which lives in the pod's own namespace) is not removed."""
    tables, seen = [], set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            namespace = os.readlink(proc / "ns" / "mnt")
            if namespace not in seen:
                tables.append((proc / "mountinfo").read_text())
                seen.add(namespace)
        except OSError:
            continue  # gone, or not ours to read
    return "\n".join(tables)


def build(refresh: bool = False) -> Image:
    """Build (or bring up to date) REF in LAYOUT, ARCHIVE and ROOTFS; each step is skipped when its inputs are
    unchanged. refresh rebuilds the Debian layer even when its inputs look the same."""
    with _locked():
        debian, epoch = debian_layer(refresh)
        deps = deps_layer(debian, epoch)
        kf = kf_layer(deps, debian, epoch)
        layers = (debian, deps, kf)
        key = _key({"recipe": RECIPE, "layers": [layer.key for layer in layers]})
        state_file = HOME / "image.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        if state.get("key") == key and (LAYOUT / "index.json").exists() and ARCHIVE.exists():
            digest = state["digest"]
            log(f"OCI layout and docker-archive: up to date ({digest})")
        else:
            log("packing the OCI layout (umoci) and the docker-archive (skopeo)")
            digest = pack(layers, LAYOUT, epoch)
            write_archive(LAYOUT, ARCHIVE)
            state_file.write_text(json.dumps({"key": key, "digest": digest}) + "\n")
        _update_rootfs(digest)
        return Image(LAYOUT, ARCHIVE, ROOTFS, digest, epoch)


def rebuild(dest: Path, root: Path = REPO) -> str:
    """Rebuild layers 2 and 3 from scratch (kf from the sources in root) and pack them over the cached Debian
    layer into dest/oci; returns the manifest digest (for checking that the same inputs give the same digest)."""
    with _locked():
        debian, epoch = debian_layer()
        deps = deps_layer(debian, epoch, home=dest, force=True)
        kf = kf_layer(deps, debian, epoch, home=dest, force=True, root=root)
        return pack((debian, deps, kf), dest / "oci", epoch)


def lock() -> Path:
    """Resolve kf's dependencies for the image's Python and write them, pinned with hashes, to LOCK_FILE."""
    with tempfile.TemporaryDirectory(prefix="kf-lock-") as tmp:
        out = Path(tmp)
        wheel = build_wheel(out / "kf")
        _run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", *WHEEL_TARGET,
              "-d", str(out / "deps"), str(wheel)], "resolving kf's dependencies")
        lines = []
        for path in sorted((out / "deps").glob("*.whl"), key=lambda p: p.name.lower()):
            name, version = path.name.split("-")[:2]
            if name.lower() == "kfshell":
                continue
            lines.append(f"{name.lower().replace('_', '-')}=={version} "
                         f"--hash=sha256:{_sha256(path.read_bytes())}")
    LOCK_FILE.write_text("# kf's dependencies in the runtime image (CPython 3.11, x86_64), pinned so that the same\n"
                         "# inputs give the same image. Regenerate: python -m images lock\n" + "\n".join(lines) + "\n")
    return LOCK_FILE
