"""`kf projects -o json` as alice, bob and admin, each paired with the nearest kubectl call
(`kubectl get namespaces`, which alice and bob may not even make: for them `kubectl auth can-i --list -n alice`)."""

from __future__ import annotations

import os
import tempfile

from benchmarks.timing import bench_env, installed_kf, paired, run_command
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "10"))


def main() -> None:
    kf = installed_kf()
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home, KUBECONFIG=str(paths.KUBECONFIG))
        print("projects -o json (kf) vs kubectl")
        for user in ("alice", "bob", "admin"):
            kf_cmd = [kf, "--context", f"kf-{user}", "projects", "-o", "json"]
            if user == "admin":
                kubectl_cmd = [str(paths.KUBECTL), "--context", "kf-admin", "get", "namespaces", "-o", "json"]
            else:
                kubectl_cmd = [str(paths.KUBECTL), "--context", f"kf-{user}", "auth", "can-i", "--list", "-n", "alice"]
            kf_s, kubectl_s, ratio = paired(lambda c=kf_cmd: run_command(c, env),
                                            lambda c=kubectl_cmd: run_command(c, env), RUNS)
            print(f"  {user:6} kf       {kf_s.ms()}")
            print(f"  {user:6} kubectl  {kubectl_s.ms()}   ratio kf/kubectl {ratio:.2f}")


if __name__ == "__main__":
    main()
