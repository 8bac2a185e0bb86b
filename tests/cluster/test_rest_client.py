"""kfshell.rest against the dev cluster's real API server: credentials, watches, impersonation, and a command
path that never loads the kubernetes package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from kfshell import cluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


def client(kubeconfig: str, context: str) -> cluster.RestClient:
    return cluster.api_client(cluster.load_kubeconfig(kubeconfig, context), context)


def test_status_list_never_imports_kubernetes(kubeconfig, tmp_path):
    env = {**os.environ, "KUBECONFIG": kubeconfig, "XDG_STATE_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kfshell", "--context", "kf-alice", "-c",
                           "status list", "-o", "json"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(row["name"] == "jupyter-web-app" for row in json.loads(done.stdout))
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert not {"kubernetes", "urllib3", "requests"} & imported


def test_each_kind_of_credentials_authenticates(kubeconfig):
    admin = cluster.whoami(client(kubeconfig, "kf-admin"))  # client certificate and key, as data
    assert "system:masters" in admin.groups
    assert cluster.whoami(client(kubeconfig, "kf-alice")).user == "alice"  # bearer token
    assert cluster.bearer_token(client(kubeconfig, "kf-admin")) is None


def test_impersonation_acts_with_the_impersonated_users_rights(kubeconfig):
    as_bob = client(kubeconfig, "kf-admin").impersonating("bob", ["system:authenticated"])
    assert cluster.whoami(as_bob).user == "bob"
    with pytest.raises(cluster.ApiError) as caught:
        cluster.request_json(as_bob, "GET", "/api/v1/namespaces/kubeflow/secrets")
    err = cluster.translate(caught.value)
    assert (err.reason, err.message) == ("Forbidden", "bob may not list secrets in namespace kubeflow")


def test_a_watch_sees_an_object_created_after_it_started(kubeconfig, admin, namespace):
    api = client(kubeconfig, "kf-alice")
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    version = cluster.request_json(api, "GET", path)["metadata"]["resourceVersion"]
    response = api.stream("GET", path, query={"watch": True, "resourceVersion": version, "timeoutSeconds": 30},
                          timeout=(cluster.CONNECT_TIMEOUT, 40))
    seen: list[str] = []

    def read() -> None:
        pending = b""
        for chunk in response.stream():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            seen.extend(json.loads(line)["object"]["metadata"]["name"] for line in lines if line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    name = f"cm-{uuid.uuid4().hex[:6]}"
    cluster.request_json(api, "POST", path, body={"metadata": {"name": name}, "data": {"k": "v"}})
    deadline = time.monotonic() + 20
    while name not in seen and time.monotonic() < deadline:
        reader.join(0.05)
    response.shutdown()
    reader.join(5)
    assert name in seen and not reader.is_alive()


def test_a_missing_object_keeps_the_servers_message(kubeconfig):
    with pytest.raises(cluster.ApiError) as caught:
        cluster.request_json(client(kubeconfig, "kf-alice"), "GET", "/api/v1/namespaces/alice/configmaps/nope")
    err = cluster.translate(caught.value)
    assert (err.reason, err.message, err.exit_status) == ("NotFound", 'configmaps "nope" not found', 1)
