"""The function pod's init container (`python3 -m kfshell.runtime.prepare`) on temporary directories."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfshell.runtime import prepare

SOURCE = "def handler(event, context):\n    return 'hello'\n"
ROOT = Path(__file__).resolve().parents[2]


def checksum(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    src, install = tmp_path / "src", tmp_path / "kubeless"
    src.mkdir()
    install.mkdir()
    (src / "hello.py").write_text(SOURCE)
    (src / "handler").write_text("hello.handler")
    (src / "requirements.txt").write_text("")
    return src, install


def run(src: Path, install: Path, wanted: str, termination: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOD_NAME": "hello", "FUNC_CHECKSUM": wanted, "KUBELESS_SOURCE": str(src),
           "KUBELESS_INSTALL_VOLUME": str(install), "KF_TERMINATION_LOG": str(termination),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kfshell.runtime.prepare"], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_matching_source_is_copied_into_the_install_volume(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    src, install = dirs
    proc = run(src, install, checksum(SOURCE), tmp_path / "termination-log")
    assert proc.returncode == 0, proc.stderr
    assert (install / "hello.py").read_text() == SOURCE
    assert "copied" in proc.stdout
    assert not (tmp_path / "termination-log").exists()
    assert sorted(p.name for p in install.iterdir()) == ["hello.py"]  # no temporary file left, no deps installed


def test_a_mismatched_source_exits_2_copies_nothing_and_says_why_in_one_line(dirs: tuple[Path, Path],
                                                                               tmp_path: Path) -> None:
    src, install = dirs
    termination = tmp_path / "termination-log"
    proc = run(src, install, checksum("something else"), termination)
    assert proc.returncode == 2
    assert list(install.iterdir()) == []
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "checksum mismatch" in lines[0] and checksum(SOURCE) in lines[0]
    assert termination.read_text().strip() == lines[0].removeprefix("prepare: ")


def test_a_checksum_that_is_not_sha256_is_refused(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    src, install = dirs
    proc = run(src, install, "md5:abc", tmp_path / "termination-log")
    assert proc.returncode == 2
    assert "not sha256" in proc.stderr
    assert list(install.iterdir()) == []


def test_a_missing_source_fails_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    proc = run(tmp_path / "src", tmp_path / "kubeless", checksum(SOURCE), tmp_path / "termination-log")
    assert proc.returncode == 1
    assert "hello.py" in proc.stderr and "cannot read" in proc.stderr


def _wheel(directory: Path, name: str = "kftinydep", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (the format pip installs; no network, no build backend needed)."""
    files = {f"{name}/__init__.py": f"VALUE = {version!r}\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                 "Tag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_requirements_are_installed_where_the_runtime_looks(dirs: tuple[Path, Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src, install = dirs
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    (src / "requirements.txt").write_text("kftinydep==1.0\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    env = {"MOD_NAME": "hello", "FUNC_CHECKSUM": checksum(SOURCE), "KUBELESS_SOURCE": str(src),
           "KUBELESS_INSTALL_VOLUME": str(install)}
    done = prepare.prepare(env)
    assert any("installed" in line for line in done)
    # The runtime's worker puts <volume>/lib/python3*/site-packages on sys.path: import it from there.
    found = subprocess.run(
        [sys.executable, "-c", "import glob, sys; sys.path[:0] = glob.glob(sys.argv[1]); import kftinydep; "
         "print(kftinydep.VALUE, kftinydep.__file__)", str(install / "lib" / "python3*" / "site-packages")],
        capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert found.returncode == 0, found.stderr
    value, path = found.stdout.split()
    assert value == "1.0" and Path(path).is_relative_to(install)


def test_a_requirement_pip_cannot_find_fails_the_container_with_pips_reason(
        dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, install = dirs
    (src / "requirements.txt").write_text("kf-no-such-package==9.9\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    termination = tmp_path / "termination-log"
    proc = run(src, install, checksum(SOURCE), termination)
    assert proc.returncode == 1
    message = termination.read_text().strip()
    assert message.startswith("pip install -r requirements.txt failed") and "kf-no-such-package" in message


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """SOURCE at http://127.0.0.1:PORT/hello.py (a Function whose source is a URL)."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.py").write_text(SOURCE)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path / "www")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_url_source_is_downloaded_checked_and_copied(tmp_path: Path, served: str) -> None:
    src, install = tmp_path / "src", tmp_path / "kubeless"
    src.mkdir()
    (src / "source-url").write_text(f"{served}/hello.py")
    proc = run(src, install, checksum(SOURCE), tmp_path / "termination-log")
    assert proc.returncode == 0, proc.stderr
    assert (install / "hello.py").read_text() == SOURCE
    assert f"{served}/hello.py" in proc.stdout


def test_a_url_source_that_changed_since_its_checksum_is_not_served(tmp_path: Path, served: str) -> None:
    src, install = tmp_path / "src", tmp_path / "kubeless"
    src.mkdir()
    (src / "source-url").write_text(f"{served}/hello.py")
    proc = run(src, install, checksum("an older version"), tmp_path / "termination-log")
    assert proc.returncode == 2
    assert "checksum mismatch" in proc.stderr and not install.exists()
    (src / "source-url").write_text(f"{served}/nothere.py")
    missing = run(src, install, checksum(SOURCE), tmp_path / "termination-log2")
    assert missing.returncode == 1
    assert "cannot download the function's source" in (tmp_path / "termination-log2").read_text()
