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


def bench_env(home: str, **extra: str) -> dict[str, str]:
    """The environment for timed kf runs: a private XDG home, no colour, compiled modules kept."""
    env = dict(os.environ, XDG_STATE_HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home, NO_COLOR="1", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
