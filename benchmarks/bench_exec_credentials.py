"""One-shot `kf -c "status list" -o json` as alice by token (kf-alice) and through an exec credential plugin
(kf-alice-exec, devcluster/exec_plugin.py), paired in one run, with kubectl on the exec context beside them.

The exec context used to cost ~0.5 s more (the `kubernetes` package ran the plugin); now the difference is the
plugin's own run (a Python start, here), as for kubectl.
"""

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

        def kf_cmd(context: str) -> list[str]:
            return [kf, "--context", context, "--dispatch", "local", "-c", "status list", "-o", "json"]

        kubectl_exec = [str(paths.KUBECTL), "--context", "kf-alice-exec", "get", "deploy", "-n", "kubeflow",
                        "-o", "json"]
        token_s, exec_s, ratio = paired(lambda: run_command(kf_cmd("kf-alice"), env),
                                        lambda: run_command(kf_cmd("kf-alice-exec"), env), RUNS)
        kf_exec_s, kubectl_s, kubectl_ratio = paired(lambda: run_command(kf_cmd("kf-alice-exec"), env),
                                                     lambda: run_command(kubectl_exec, env), RUNS)
    print("one-shot status list -o json: token context vs exec-plugin context (and kubectl on the exec context)")
    print(f"  kf kf-alice (token)        {token_s.ms()}")
    print(f"  kf kf-alice-exec (plugin)  {exec_s.ms()}")
    print(f"  median ratio exec/token: {ratio:.2f}")
    print(f"  kf kf-alice-exec           {kf_exec_s.ms()}")
    print(f"  kubectl kf-alice-exec      {kubectl_s.ms()}")
    print(f"  median ratio kf/kubectl on the exec context: {kubectl_ratio:.2f}")


if __name__ == "__main__":
    main()
