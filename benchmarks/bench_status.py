"""`kf -c "status list" -o json` against `kubectl get deploy -n kubeflow -o json`, paired in one run."""

from __future__ import annotations

import compileall
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))


def kf_script() -> str:
    """The installed console script itself: a version manager's shim (pyenv) would add its own ~0.1 s."""
    script = Path(sys.executable).parent / "kf"
    if not script.exists():
        sys.exit("bench_status: kf is not installed beside this Python (make install)")
    return str(script)


def main() -> None:
    kf = kf_script()
    # A user's installed kf has compiled modules; make sure ours do too, and let Python keep them.
    compileall.compile_dir(str(paths.ROOT / "kfshell"), quiet=1)
    compileall.compile_dir(str(paths.ROOT / "functions"), quiet=1)
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, KUBECONFIG=str(paths.KUBECONFIG), XDG_STATE_HOME=home, XDG_CONFIG_HOME=home,
                   XDG_CACHE_HOME=home, NO_COLOR="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        kf_cmd = [kf, "--context", "kf-alice", "-c", "status list", "-o", "json"]
        kubectl_cmd = [str(paths.KUBECTL), "--context", "kf-alice", "get", "deploy", "-n", "kubeflow", "-o", "json"]
        kf_s, kubectl_s, ratio = paired(lambda: run_command(kf_cmd, env), lambda: run_command(kubectl_cmd, env),
                                        RUNS)
    print("status list -o json (kf) vs kubectl get deploy -n kubeflow -o json")
    print(f"  kf       {kf_s.ms()}")
    print(f"  kubectl  {kubectl_s.ms()}")
    print(f"  median ratio kf/kubectl: {ratio:.2f} (aim <= 1.5)")


if __name__ == "__main__":
    main()
