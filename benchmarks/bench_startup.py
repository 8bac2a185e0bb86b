"""Time to the first kf> prompt on a pseudo-terminal, beside `kubectl version --client` in the same run.

`python -m benchmarks bench_startup` (part of `make bench`). Each sample spawns `kf --context kf-alice` on a
pty, reads until the prompt `kf kf-alice:...> ` is on screen, then leaves with Ctrl-D.
"""

from __future__ import annotations

import os
import re
import tempfile
import time

import pexpect

from benchmarks.timing import bench_env, installed_kf, paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
PROMPT = "kf kf-alice:"


def time_to_prompt(kf: str, env: dict[str, str], timeout: float = 20.0) -> float:
    started = time.perf_counter()
    child = pexpect.spawn(kf, ["--context", "kf-alice"], env=env, dimensions=(24, 100), encoding="utf-8")
    seen = ""
    try:
        while PROMPT not in ANSI.sub("", seen):
            seen += child.read_nonblocking(4096, timeout=timeout)
        elapsed = time.perf_counter() - started
        child.sendcontrol("d")
        child.expect(pexpect.EOF, timeout=timeout)
    finally:
        child.close(force=True)
    return elapsed


def main() -> None:
    kf = installed_kf()
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home, KUBECONFIG=str(paths.KUBECONFIG), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
        kubectl = [str(paths.KUBECTL), "version", "--client"]
        kf_s, kubectl_s, ratio = paired(lambda: time_to_prompt(kf, env), lambda: run_command(kubectl, env), RUNS)
    print("time to the first kf> prompt vs kubectl version --client")
    print(f"  kf prompt  {kf_s.ms()}  (aim < 500 ms)")
    print(f"  kubectl    {kubectl_s.ms()}")
    print(f"  median ratio kf/kubectl: {ratio:.2f}")


if __name__ == "__main__":
    main()
