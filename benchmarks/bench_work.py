"""One-shot `kf notebook ls` and `kf train ls` (-o json) beside `kubectl get notebooks` / `kubectl get trainjobs`
(-o json), paired in one run against alice's namespace.

kf does more per call than kubectl here: API discovery (to name a missing Kubeflow component instead of a 404),
and for `train ls` the three job kinds (TrainJob, PyTorchJob, TFJob) listed in parallel.
"""

from __future__ import annotations

import os
import tempfile

from benchmarks.timing import bench_env, installed_kf, paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))
PAIRS = (("notebook ls", "notebooks"), ("train ls", "trainjobs"))


def main() -> None:
    kf = installed_kf()
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home, KUBECONFIG=str(paths.KUBECONFIG))
        for line, plural in PAIRS:
            kf_cmd = [kf, "--context", "kf-alice", "-n", "alice", "-o", "json", *line.split()]
            kubectl_cmd = [str(paths.KUBECTL), "--context", "kf-alice", "-n", "alice", "get", plural, "-o", "json"]
            kf_s, kubectl_s, ratio = paired(lambda c=kf_cmd: run_command(c, env),
                                            lambda c=kubectl_cmd: run_command(c, env), RUNS)
            print(f"kf {line} -o json vs kubectl get {plural} -o json")
            print(f"  kf       {kf_s.ms()}")
            print(f"  kubectl  {kubectl_s.ms()}")
            print(f"  median ratio kf/kubectl: {ratio:.2f}")


if __name__ == "__main__":
    main()
