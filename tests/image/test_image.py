"""The runtime image itself, not the source tree: unpacked from its OCI layout by umoci, its entrypoint run as
its user from its config, in a chroot inside a private mount and PID namespace, with the env the function
controller gives a pod. The image is built first when it is missing or out of date (images.build.build)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests

from images import build

pytestmark = [
    pytest.mark.image,
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mount namespaces need root"),
]

HANDLER = '''
import os
import sys

import kfshell


def hello(event, context):
    return {
        "data": event["data"],
        "function": context["function-name"],
        "runtime": context["runtime"],
        "uid": os.getuid(),
        "gid": os.getgid(),
        "python": sys.executable,
        "kfshell": kfshell.__file__,
    }
'''

DEPS_HANDLER = '''
import tinydep


def handler(event, context):
    return {"from_dep": tinydep.VALUE, "at": tinydep.__file__}
'''


@pytest.fixture(scope="module")
def image() -> build.Image:
    try:
        return build.build()
    except build.BuildError as err:
        pytest.fail(f"the image did not build: {err}", pytrace=False)


@pytest.fixture(scope="module")
def rootfs(image: build.Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private unpacked copy (umoci), so the mount points the tests add never touch the shared one."""
    root = build.unpack(tmp_path_factory.mktemp("image") / "rootfs", image.layout)
    for mount_point in ("src", "kubeless"):
        (root / mount_point).mkdir(exist_ok=True)
    yield root
    shutil.rmtree(root)  # 340 MB; pytest would keep it with its last three temporary trees


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_image(root: Path, config: dict, argv: list[str] | None, env: Mapping[str, str],
             volumes: Mapping[str, Path]) -> list[str]:
    """The command that runs argv (default: the image's Entrypoint) in root as a container runtime would: the
    config's User and Env, in / (its WorkingDir), /dev, /proc, a fresh /tmp, each volume bind-mounted."""
    q = shlex.quote
    cfg = config["config"]
    user = cfg["User"]
    uid, _, gid = user.partition(":")
    setup = [f"mount --rbind /dev {q(str(root / 'dev'))}", f"mount -t proc proc {q(str(root / 'proc'))}",
             f"mount -t tmpfs -o mode=1777 tmpfs {q(str(root / 'tmp'))}"]
    setup += [f"mount --bind {q(str(source))} {q(str(root / inside.lstrip('/')))}" for inside, source in
              volumes.items()]
    environment = [*cfg.get("Env", []), *(f"{key}={value}" for key, value in env.items())]
    command = argv or cfg["Entrypoint"]
    setup.append(f"exec chroot --userspec={uid}:{gid or uid} --groups={gid or uid} {q(str(root))} "
                 f"/usr/bin/env -i {' '.join(q(item) for item in environment)} {' '.join(q(a) for a in command)}")
    # --kill-child: the whole PID namespace (the runtime's workers too) dies with the test's process.
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-ec", "\n".join(setup)]


@pytest.fixture
def volumes(tmp_path: Path) -> dict[str, Path]:
    """The pod's two volumes: the install volume (an emptyDir, writable by the pod's fsGroup 1000) and the
    ConfigMap's files."""
    install = tmp_path / "kubeless"
    source = tmp_path / "src"
    install.mkdir()
    source.mkdir()
    os.chown(install, 0, 1000)
    install.chmod(0o2775)
    return {"/kubeless": install, "/src": source}


@pytest.fixture
def serve(rootfs: Path, image: build.Image) -> Iterator:
    """Start the image's entrypoint with the controller's env; yields (url, process); stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(volumes: Mapping[str, Path], module: str, handler: str) -> str:
        port = free_port()
        env = {"MOD_NAME": module, "FUNC_HANDLER": handler, "FUNC_TIMEOUT": "30", "FUNC_PORT": str(port),
               "FUNC_RUNTIME": "python3.11", "FUNC_MEMORY_LIMIT": "", "FUNC_NAME": module,
               "KUBELESS_INSTALL_VOLUME": "/kubeless"}
        proc = subprocess.Popen(in_image(rootfs, build.image_config(image.layout), None, env, volumes),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the runtime exited {proc.returncode}: {proc.stdout.read()}", pytrace=False)
            try:
                requests.get(url + "/healthz", timeout=2)
                return url
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("the runtime did not listen within 60 s", pytrace=False)
                time.sleep(0.1)

    yield start
    for proc in started:
        # unshare ignores SIGTERM while it waits; its death kills the PID namespace (--kill-child).
        proc.kill()
        proc.wait(timeout=30)


def prepare(rootfs: Path, image: build.Image, volumes: Mapping[str, Path], module: str,
            checksum: str) -> subprocess.CompletedProcess:
    """The pod's init container: the image with `python3 -m kfshell.runtime.prepare`."""
    env = {"MOD_NAME": module, "FUNC_CHECKSUM": checksum, "KUBELESS_SOURCE": "/src",
           "KUBELESS_INSTALL_VOLUME": "/kubeless"}
    argv = ["python3", "-m", "kfshell.runtime.prepare"]
    return subprocess.run(in_image(rootfs, build.image_config(image.layout), argv, env, volumes),
                          capture_output=True, text=True, timeout=300)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_config_is_the_runtime_as_user_1000(image: build.Image) -> None:
    config = build.image_config(image.layout)
    assert config["config"]["User"] == "1000:1000"
    assert config["config"]["Entrypoint"] == ["python3", "-m", "kfshell.runtime"]
    assert config["config"]["WorkingDir"] == "/"  # in_image below relies on it: chroot starts there
    assert any(env.startswith("PATH=") for env in config["config"]["Env"])
    assert config["created"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(image.source_date_epoch))
    assert (config["os"], config["architecture"]) == ("linux", "amd64")


def test_docker_archive_holds_the_same_image_tagged(image: build.Image) -> None:
    with tarfile.open(image.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    index = json.loads((image.layout / "index.json").read_text())
    oci_manifest = json.loads((image.layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    # The fully qualified form of kf-runtime:0.1.0, the name a pod's `image: kf-runtime:0.1.0` resolves to.
    assert manifest[0]["RepoTags"] == [f"docker.io/library/{build.REF}"]
    assert manifest[0]["Config"].removesuffix(".json") == oci_manifest["config"]["digest"].removeprefix("sha256:")
    assert len(manifest[0]["Layers"]) == len(oci_manifest["layers"]) == 3


def test_entrypoint_serves_healthz_and_the_function_as_user_1000(rootfs: Path, volumes: dict[str, Path],
                                                                 serve) -> None:
    (volumes["/kubeless"] / "hello.py").write_text(HANDLER)
    url = serve(volumes, "hello", "hello")
    health = requests.get(url + "/healthz", timeout=10)
    assert (health.status_code, health.text.strip()) == (200, "OK")
    reply = requests.post(url + "/", json={"name": "world"}, timeout=30)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["data"] == {"name": "world"}
    assert (body["function"], body["runtime"]) == ("hello", "python3.11")
    assert (body["uid"], body["gid"]) == (1000, 1000)
    # Debian's python3 with kf installed into the image's /usr/local, not the host's Python or source tree.
    assert body["python"] == "/usr/bin/python3"
    assert body["kfshell"] == "/usr/local/lib/python3.11/dist-packages/kfshell/__init__.py"


IMPORT_ALL = """
import importlib, pkgutil, kfshell, functions
failed = []
for package in (kfshell, functions):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__"):
            try:
                importlib.import_module(module.name)
            except Exception as err:
                failed.append(f"{module.name}: {err!r}")
print("\\n".join(failed))
"""


def test_every_kf_module_imports_in_the_image(rootfs: Path, image: build.Image, volumes: dict[str, Path]) -> None:
    """A function pod imports kf's modules from the image: none may need a package only the host has."""
    argv = ["python3", "-c", IMPORT_ALL]
    done = subprocess.run(in_image(rootfs, build.image_config(image.layout), argv, {}, volumes),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_prepare_refuses_a_bad_checksum_and_copies_nothing(rootfs: Path, image: build.Image,
                                                           volumes: dict[str, Path]) -> None:
    source = HANDLER.encode()
    (volumes["/src"] / "hello.py").write_bytes(source)
    done = prepare(rootfs, image, volumes, "hello", sha256(b"another source"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "checksum mismatch" in lines[0], done.stderr
    assert list(volumes["/kubeless"].iterdir()) == []


def _wheel(name: str, source: str) -> tuple[str, bytes]:
    """A one-module wheel, so the dependency install below needs no package index."""
    dist = f"{name}-1.0.dist-info"
    files = {f"{name}.py": source.encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kf-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n" for path, data in
                     files.items()) + f"{dist}/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, data in [*files.items(), (f"{dist}/RECORD", record.encode())]:
            wheel.writestr(path, data)
    return f"{name}-1.0-py3-none-any.whl", buffer.getvalue()


def test_prepare_then_serve_with_the_functions_deps(rootfs: Path, image: build.Image,
                                                    volumes: dict[str, Path], serve) -> None:
    """spec.deps installed by the image's pip into the install volume, where the image's runtime finds them."""
    wheel_name, wheel = _wheel("tinydep", "VALUE = 'from the install volume'\n")
    (volumes["/src"] / wheel_name).write_bytes(wheel)
    (volumes["/src"] / "requirements.txt").write_text(f"/src/{wheel_name}\n")
    source = DEPS_HANDLER.encode()
    (volumes["/src"] / "withdeps.py").write_bytes(source)
    done = prepare(rootfs, image, volumes, "withdeps", sha256(source))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (volumes["/kubeless"] / "withdeps.py").read_bytes() == source
    url = serve(volumes, "withdeps", "handler")
    reply = requests.post(url + "/", json={}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"from_dep": "from the install volume",
                            "at": "/kubeless/lib/python3.11/site-packages/tinydep.py"}


def test_same_inputs_give_the_same_digest(image: build.Image, tmp_path: Path) -> None:
    """Two builds from one snapshot of kf's sources (the working tree may change meanwhile), each from scratch:
    kf's wheel, the pip installs of the locked dependencies and of kf, the byte compilation, every layer tar, the
    gzip compression and the OCI manifest and config (umoci). Shared: the cached Debian layer tar (mmdebstrap is
    bit-for-bit reproducible too with the same mirror content and SOURCE_DATE_EPOCH: images/README.md), and the
    downloaded wheels, whose hashes the lock pins."""
    sources = build.snapshot_sources(tmp_path / "sources")
    digests = []
    for name in ("first", "second"):
        digests.append(build.rebuild(tmp_path / name, sources))
        shutil.rmtree(tmp_path / name)
    assert digests[0] == digests[1]
    if build.source_key(sources) == build.source_key():  # the working tree did not change: the image is that one
        assert digests[0] == build.build().digest
