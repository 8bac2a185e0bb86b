"""`kf -c "status list" -o json` against `kubectl get deploy -n kubeflow -o json`, paired in one run."""

from __future__ import annotations

import os
import tempfile

from benchmarks.timing import bench_env, installed_kf, paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))


def main() -> None:
    kf = installed_kf()
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home, KUBECONFIG=str(paths.KUBECONFIG))
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
