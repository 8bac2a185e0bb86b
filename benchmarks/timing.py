"""Small timing helpers shared by the benchmarks: run commands repeatedly and summarise."""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Summary:
    """Seconds per run: median, 95th percentile and count."""

    median: float
    p95: float
    runs: int

    def ms(self) -> str:
        return f"median {self.median * 1000:7.1f} ms  p95 {self.p95 * 1000:7.1f} ms  (n={self.runs})"


def summarise(samples: Sequence[float]) -> Summary:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Summary(statistics.median(ordered), p95, len(ordered))


def time_call(fn: Callable[[], object], runs: int, warmup: int = 1) -> Summary:
    """Time `fn` `runs` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return summarise(samples)


def run_command(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run a command to completion, failing loudly: a benchmark of a failing command measures nothing."""
    proc = subprocess.run(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")


def paired(a: Callable[[], object], b: Callable[[], object], runs: int) -> tuple[Summary, Summary, float]:
    """Alternate a and b so both see the same machine load; returns both summaries and the median of a/b."""
    a(), b()
    sa, sb, ratios = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        a()
        t1 = time.perf_counter()
        b()
        t2 = time.perf_counter()
        sa.append(t1 - t0)
        sb.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    return summarise(sa), summarise(sb), statistics.median(ratios)


def installed_kf() -> str:
    """The installed console script itself, with kf's modules compiled as a user's install has them.

    A version manager's shim (pyenv) would add its own ~0.1 s to every run."""
    script = Path(sys.executable).parent / "kf"
    if not script.exists():
        sys.exit("benchmarks: kf is not installed beside this Python (make install)")
    root = Path(__file__).resolve().parent.parent
    for package in ("kfshell", "functions"):
        compileall.compile_dir(str(root / package), quiet=1)
    return str(script)


def typical_kf() -> str:
    """kf as a user installs it (pipx-style): a virtual environment of its own holding kf's wheel and the
    locked dependencies (images/requirements.lock), modules compiled. Its interpreter reads only that
    environment's site directory, so this machine's own site `.pth` (~45 ms a start, no part of kf) is not
    in its figures. Rebuilt when kf's sources or the lock change; returns its `kf` script."""
    import hashlib
    import tempfile

    from images import build

    venv = Path(__file__).resolve().parent.parent / ".cache" / "bench" / "venv"
    python, stamp = venv / "bin" / "python", venv / "kf-inputs"
    key = build.source_key() + hashlib.sha256(build.LOCK_FILE.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == key:
        return str(venv / "bin" / "kf")
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True)
    wheels = build.CACHE / "wheels"
    build.download_wheels(wheels)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--disable-pip-version-check",
           "--no-index", "--find-links", str(wheels), "--no-deps"]
    subprocess.run([*pip, "--require-hashes", "-r", str(build.LOCK_FILE)], check=True)
    with tempfile.TemporaryDirectory(prefix="kf-bench-wheel-") as out:
        subprocess.run([*pip, str(build.build_wheel(Path(out)))], check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    compileall.compile_dir(purelib, quiet=1)  # this machine sets PYTHONDONTWRITEBYTECODE
    stamp.write_text(key)
    return str(venv / "bin" / "kf")


def bench_env(home: str, **extra: str) -> dict[str, str]:
    """The environment for timed kf runs: a private XDG home, no colour, compiled modules kept, and kf in its
    own process (KF_AGENT=0; `agent_env` for the warm agent's figures)."""
    env = dict(os.environ, XDG_STATE_HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home, NO_COLOR="1",
               KF_AGENT="0", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def agent_env(env: dict[str, str], runtime: str) -> dict[str, str]:
    """`env` with kf's agent on, its socket under `runtime` (a private XDG_RUNTIME_DIR)."""
    os.chmod(runtime, 0o700)
    changed = dict(env, XDG_RUNTIME_DIR=runtime)
    changed.pop("KF_AGENT", None)
    return changed


def warm_agent(argv: Sequence[str], env: dict[str, str], timeout: float = 60.0) -> None:
    """Run `argv` until the agent (started by the first run) answers it."""
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(list(argv), env=dict(env, KF_AGENT_DEBUG="1"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if "kf: agent:" not in proc.stderr:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the agent never answered {' '.join(argv)}: {proc.stderr[-300:]}")
        time.sleep(0.2)


def agent_pids(runtime: str) -> list[int]:
    """The pids of the agents whose sockets are under `runtime` (from each socket's peer credentials)."""
    import socket

    pids = []
    folder = Path(runtime) / "kf"
    for path in folder.glob("agent-*.sock") if folder.exists() else []:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(str(path))
                cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            except OSError:
                continue
        pids.append(int.from_bytes(cred[:4], sys.byteorder))
    return pids


def stop_agents(runtime: str) -> None:
    """End the agents whose sockets are under `runtime`."""
    import signal

    for pid in agent_pids(runtime):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)


def vm_hwm_mib(pid: int) -> float:
    """The peak resident set (VmHWM) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def agent_rss_mib(runtime: str) -> float:
    """The peak resident set of the agents under `runtime`, summed."""
    return sum(vm_hwm_mib(pid) for pid in agent_pids(runtime))
