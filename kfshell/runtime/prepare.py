"""`python3 -m kfshell.runtime.prepare`: the function pod's init container (the controller names it `prepare`).

From the Function's ConfigMap mounted at $KUBELESS_SOURCE (/src) to the install volume $KUBELESS_INSTALL_VOLUME
(/kubeless) that the runtime serves from:
1. the source `<MOD_NAME>.py` (or, for a Function whose source is a URL, what `source-url` names, downloaded)
   must have the sha256 $FUNC_CHECKSUM (`sha256:<hex>`): otherwise one line goes to stderr and to
   /dev/termination-log (what the pod's status shows), the exit status is 2, nothing is copied;
2. it is copied to `<install volume>/<MOD_NAME>.py`;
3. a non-empty `requirements.txt` is installed with pip into `<install volume>/lib/python3.X/site-packages`,
   which the runtime puts on sys.path; pip's failure is this container's failure (exit 1, pip's last line in
   the termination log). `--target` rather than `--prefix`: Debian's Python maps a prefix to
   <prefix>/local/lib/python3.X/dist-packages, which the runtime would not look at.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

TERMINATION_LOG = "/dev/termination-log"
MISMATCH = 2  # exit status: the source is not the one the Function names
FAILED = 1  # exit status: anything else (a missing file, pip)


class PrepareError(Exception):
    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


def prepare(environ: Mapping[str, str], *, pip: Sequence[str] | None = None) -> list[str]:
    """Check, copy, install; returns what it did, one line each. Raises PrepareError.

    `pip` is the command before `install` (default: this Python's `-m pip`); tests pass their own options."""
    module = environ.get("MOD_NAME", "").strip()
    if not module.isidentifier():
        raise PrepareError(f"MOD_NAME={module!r} is not a Python module name")
    source_dir = Path(environ.get("KUBELESS_SOURCE") or "/src")
    install = Path(environ.get("KUBELESS_INSTALL_VOLUME") or "/kubeless")
    source = source_dir / f"{module}.py"
    url_file = source_dir / "source-url"
    if not source.exists() and url_file.is_file():
        url = url_file.read_text().strip()
        code = _download(url)
        source = Path(f"{module}.py")  # the name it is installed as; `url` is where it came from
        origin = url
    else:
        origin = str(source)
        try:
            code = source.read_bytes()
        except OSError as err:
            raise PrepareError(f"cannot read the function's source {source}: {err.strerror}") from None
    wanted = environ.get("FUNC_CHECKSUM", "").strip()
    found = "sha256:" + hashlib.sha256(code).hexdigest()
    done = []
    if wanted:
        algorithm, _, digest = wanted.partition(":")
        if algorithm != "sha256" or not digest:
            raise PrepareError(f"FUNC_CHECKSUM={wanted!r} is not sha256:<hex>", MISMATCH)
        if digest.lower() != found.partition(":")[2]:
            raise PrepareError(f"checksum mismatch: {origin} has {found}, the Function says {wanted}; "
                               "not serving it", MISMATCH)
        done.append(f"{origin}: {found} as the Function says")
    install.mkdir(parents=True, exist_ok=True)
    target = install / source.name
    # Through a temporary file in the volume: a restarted container never sees half a module.
    with tempfile.NamedTemporaryFile(dir=install, prefix=f".{module}.", delete=False) as handle:
        handle.write(code)
    os.replace(handle.name, target)
    os.chmod(target, 0o644)
    done.append(f"copied {origin} to {target}")
    requirements = source_dir / "requirements.txt"
    if requirements.is_file() and requirements.read_text().strip():
        command = [*(pip or [sys.executable, "-m", "pip"]), "install", "--no-cache-dir",
                   "--disable-pip-version-check", "--no-warn-script-location", "--target", str(site_packages(install)),
                   "-r", str(requirements)]
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            lines = [line for line in proc.stdout.splitlines() if line.strip()]
            raise PrepareError(f"pip install -r requirements.txt failed (exit {proc.returncode})"
                               + (f": {lines[-1].strip()}" if lines else ""))
        done.append(f"installed {requirements} into {install}")
    return done


def _download(url: str, timeout: float = 60.0) -> bytes:
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise PrepareError(f"source-url {url[:80]!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise PrepareError(f"cannot download the function's source from {url}: "
                           f"{getattr(err, 'reason', None) or err}") from None


def site_packages(install: Path) -> Path:
    """Where the function's requirements go: the runtime adds <volume>/lib/python3*/site-packages to sys.path."""
    return install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _termination_message(message: str, path: str = TERMINATION_LOG) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(message + "\n")
    except OSError:
        pass  # not in a pod, or not writable: stderr has it


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(prog="python3 -m kfshell.runtime.prepare", description=__doc__.split("\n\n")[0],
                            epilog="Settings: MOD_NAME, FUNC_CHECKSUM, KUBELESS_SOURCE, KUBELESS_INSTALL_VOLUME "
                            "(KF_TERMINATION_LOG: another termination log path)").parse_args(argv)
    try:
        for line in prepare(os.environ):
            print(f"prepare: {line}", flush=True)
    except PrepareError as err:
        print(f"prepare: {err}", file=sys.stderr, flush=True)
        _termination_message(str(err), os.environ.get("KF_TERMINATION_LOG", TERMINATION_LOG))
        return err.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
