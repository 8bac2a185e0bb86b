"""python -m devcluster build|up|down|status|env|seed|functions"""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import build, cluster, paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="build the control-plane binary and kubectl if devcluster/ changed")
    up = sub.add_parser("up", help="build if needed, start the cluster and seed it (returns at once if up)")
    up.add_argument("--no-seed", action="store_true", help="skip the Kubeflow seed content")
    down = sub.add_parser("down", help="stop every process the cluster started")
    down.add_argument("--wipe", action="store_true", help="also delete etcd data, keys and kubeconfig")
    sub.add_parser("status", help="exit 0 when the cluster is up and answering")
    sub.add_parser("env", help="print shell exports for kubectl and kf")
    sub.add_parser("seed", help="(re)apply the CRDs and Kubeflow content")
    functions_parser = sub.add_parser("functions", help="serve kf's built-in functions in kf-system (up|down|status)")
    functions_parser.add_argument("functions_action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)

    try:
        if args.action == "build":
            build.build()
        elif args.action == "up":
            build.build()
            took = cluster.up(do_seed=not args.no_seed)
            print(f"devcluster: up ({took:.1f}s); export KUBECONFIG={paths.KUBECONFIG}", file=sys.stderr)
        elif args.action == "down":
            stopped = cluster.down(wipe=args.wipe)
            print(f"devcluster: stopped {', '.join(stopped) or 'nothing (not running)'}", file=sys.stderr)
        elif args.action == "status":
            report = cluster.status()
            for key, value in report.items():
                print(f"{key:25} {value if value is not None else 'stopped'}")
            running = [*cluster.COMPONENTS, cluster.podhost.NAME]  # the pod stand-in serves every function pod
            return 0 if report["apiserver-ready"] and all(report[c] for c in running) else 1
        elif args.action == "env":
            print(f"export KUBECONFIG={paths.KUBECONFIG}")
            print(f"export PATH={paths.BIN}:$PATH")
        elif args.action == "seed":
            cluster.seed()
        elif args.action == "functions":
            from . import functions

            return functions.command(args.functions_action)
    except (cluster.ClusterError, subprocess.CalledProcessError) as err:
        cluster.print_error(err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
