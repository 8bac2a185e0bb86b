"""A kubeconfig exec credential plugin for the dev cluster: prints a user's token as an ExecCredential.

    python devcluster/exec_plugin.py TOKEN_FILE [--log FILE] [--expires-in SECONDS]

It answers in the apiVersion kf or kubectl asks for in KUBERNETES_EXEC_INFO (v1 or v1beta1). `--log` appends
one line per run (tests count the runs); `--expires-in` sets status.expirationTimestamp. Context
`kf-alice-exec` of the dev cluster's kubeconfig uses it with alice's token, as EKS, GKE and AKS users
authenticate through their clouds' plugins.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="exec_plugin")
    parser.add_argument("token_file")
    parser.add_argument("--log")
    parser.add_argument("--expires-in", type=float)
    args = parser.parse_args(argv)
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    version = info.get("apiVersion") or "client.authentication.k8s.io/v1"
    try:
        with open(args.token_file) as handle:
            token = handle.read().strip()
    except OSError as err:
        print(f"exec_plugin: cannot read {args.token_file}: {err.strerror}", file=sys.stderr)
        return 1
    if args.log:
        with open(args.log, "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "interactive": (info.get("spec") or {}).get("interactive"),
                                  "apiVersion": version}) + "\n")
    status: dict[str, str] = {"token": token}
    if args.expires_in is not None:
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=args.expires_in)
        status["expirationTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    json.dump({"apiVersion": version, "kind": "ExecCredential", "status": status}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
