"""Where the dev cluster keeps its binary, keys, state and logs (all under `.cache/`, ignored by git)."""

from __future__ import annotations

import os
from pathlib import Path

SOURCE = Path(__file__).resolve().parent
ROOT = SOURCE.parent
CACHE = Path(os.environ.get("KF_DEVCLUSTER_CACHE", ROOT / ".cache" / "devcluster"))
BIN = CACHE / "bin"
PKI = CACHE / "pki"
RUN = CACHE / "run"
ETCD_DATA = CACHE / "etcd"
KUBECONFIG = CACHE / "kubeconfig"
SEED = SOURCE / "seed"
CONTROLLERS = SOURCE / "controllers"  # one Go module per Kubeflow controller

BINARY = BIN / "kfdev"
KUBECTL = BIN / "kubectl"

API_PORT = 6443
ETCD_CLIENT = "http://127.0.0.1:23790"
ETCD_PEER = "http://127.0.0.1:23800"
KWOK_PORT = 10250
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
SERVER = f"https://127.0.0.1:{API_PORT}"
NODE_NAME = "kwok-node-0"
