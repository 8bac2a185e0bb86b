"""`kf run NB -- true` against `kubectl exec NB -- true`, and `kf logs` against `kubectl logs`, paired in one run
against alice's notebook and training job on the dev cluster."""

from __future__ import annotations

import os
import tempfile

from benchmarks.timing import bench_env, installed_kf, paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))


def main() -> None:
    kf = installed_kf()
    kubectl = [str(paths.KUBECTL), "--context", "kf-alice", "-n", "alice"]
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home, KUBECONFIG=str(paths.KUBECONFIG))
        pairs = (
            ("run mnist-notebook -- true (kf) vs kubectl exec mnist-notebook-0 -- true",
             [kf, "--context", "kf-alice", "-n", "alice", "run", "mnist-notebook", "--", "true"],
             [*kubectl, "exec", "mnist-notebook-0", "--", "true"]),
            ("logs mnist-train (kf, both nodes) vs kubectl logs -l jobset.sigs.k8s.io/jobset-name=mnist-train",
             [kf, "--context", "kf-alice", "-n", "alice", "logs", "mnist-train"],
             [*kubectl, "logs", "-l", "jobset.sigs.k8s.io/jobset-name=mnist-train", "--prefix"]),
        )
        for title, kf_cmd, kubectl_cmd in pairs:
            kf_s, kubectl_s, ratio = paired(lambda c=kf_cmd: run_command(c, env),
                                            lambda c=kubectl_cmd: run_command(c, env), RUNS)
            print(title)
            print(f"  kf       {kf_s.ms()}")
            print(f"  kubectl  {kubectl_s.ms()}")
            print(f"  median ratio kf/kubectl: {ratio:.2f}")


if __name__ == "__main__":
    main()
