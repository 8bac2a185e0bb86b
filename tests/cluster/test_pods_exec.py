"""`kf run` through the API server's websocket exec against the dev cluster (KWOK runs the commands here),
and the dev cluster's exec telling the truth about exit codes, as a kubelet does."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.cluster.pod_helpers import kf, make_pod, private_namespace, wait_ready


@pytest.fixture
def home(tmp_path):
    return tmp_path


@pytest.fixture
def worker(admin, namespace):
    make_pod(admin, namespace, "worker", labels={"app": "trainer"})
    wait_ready(admin, namespace, "worker")
    return "worker"


def test_kubectl_exec_exits_with_the_remote_status(kubeconfig, namespace, worker):
    from devcluster import paths

    done = subprocess.run([str(paths.BIN / "kubectl"), "--kubeconfig", kubeconfig, "--context", "kf-admin",
                           "-n", namespace, "exec", worker, "--", "sh", "-c", "exit 7"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert "exit code 7" in done.stderr


@pytest.mark.parametrize("status", [0, 1, 42])
def test_run_exits_with_the_commands_status(kubeconfig, home, namespace, worker, status):
    done = kf(kubeconfig, home, "kf-alice", namespace, "run", worker, "--", "sh", "-c", f"exit {status}")
    assert done.returncode == status, done.stderr
    assert b"Traceback" not in done.stderr


def test_a_missing_command_exits_127(kubeconfig, home, namespace, worker):
    done = kf(kubeconfig, home, "kf-alice", namespace, "run", worker, "--", "no-such-command-kf")
    assert done.returncode == 127, done.stderr


def test_stdout_and_stderr_stay_apart(kubeconfig, home, namespace, worker):
    done = kf(kubeconfig, home, "kf-alice", namespace, "run", worker, "--",
              "sh", "-c", "echo to-out; echo to-err >&2; echo $POD_NAME")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == ["to-out", worker]
    assert b"to-err" in done.stderr


def test_piped_stdin_reaches_the_command(kubeconfig, home, namespace, worker):
    script = b"import sys\nprint(sum(int(x) for x in sys.argv[1:]) * 2)\n"
    done = kf(kubeconfig, home, "kf-alice", namespace, "run", worker, "--", "python3", "-", "20", "1",
              stdin=script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "42"


def test_a_name_resolves_to_its_ready_pod_and_says_so_when_there_is_none(kubeconfig, home, admin, namespace):
    make_pod(admin, namespace, "mnist-notebook-0", labels={"notebook-name": "mnist-notebook"},
             containers=("mnist-notebook",))
    wait_ready(admin, namespace, "mnist-notebook-0")
    done = kf(kubeconfig, home, "kf-alice", namespace, "run", "mnist-notebook", "--", "sh", "-c", "echo $POD_NAME")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "mnist-notebook-0"
    missing = kf(kubeconfig, home, "kf-alice", namespace, "run", "mnist-notebok", "--", "true")
    assert missing.returncode == 1
    assert b"mnist-notebook" in missing.stderr  # did you mean


def test_a_container_is_chosen_by_name_and_a_script_is_told_the_choices(kubeconfig, home, admin, namespace):
    make_pod(admin, namespace, "two", containers=("app", "sidecar"))
    wait_ready(admin, namespace, "two")
    refused = kf(kubeconfig, home, "kf-alice", namespace, "run", "two", "--", "true")
    assert refused.returncode == 2
    assert b"app, sidecar" in refused.stderr
    named = kf(kubeconfig, home, "kf-alice", namespace, "run", "two", "sidecar", "--", "true")
    assert named.returncode == 0, named.stderr


def test_bob_is_refused_exec_before_anything_is_tried(kubeconfig, home, namespace, worker):
    done = kf(kubeconfig, home, "kf-bob", namespace, "run", worker, "--", "true")
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "bob may not" in lines[0] and "create pods/exec" in lines[0]


def test_bob_is_refused_logs_he_may_not_read(kubeconfig, home, admin):
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    private_namespace(admin, name)
    try:
        done = kf(kubeconfig, home, "kf-bob", name, "logs", "anything")
        assert done.returncode == 1
        assert "get pods/log" in done.stderr.decode()
    finally:
        from kubernetes import client

        client.CoreV1Api(admin).delete_namespace(name)


def test_the_v4_protocol_still_carries_output_and_the_exit_code(kubeconfig, namespace, worker):
    # Servers without v5 answer v4 (kf offers both, v5 first); the exit code travels the same way.
    from kfshell import wschannel
    from kfshell.cluster import api_client
    from kfshell.kubeconfig import load_kubeconfig

    api = api_client(load_kubeconfig(kubeconfig, "kf-alice"), "kf-alice")
    query = [("command", "sh"), ("command", "-c"), ("command", "echo v4-out; exit 5"), ("container", "main"),
             ("stdout", True), ("stderr", True)]
    sock = wschannel.connect(api, f"/api/v1/namespaces/{namespace}/pods/{worker}/exec", query,
                             protocols=(wschannel.V4,))
    assert sock.protocol == wschannel.V4
    out, status = b"", None
    while (message := sock.recv()) is not None:
        channel, data = message
        if channel == wschannel.STDOUT:
            out += data
        elif channel == wschannel.ERROR:
            status = wschannel.parse_status(data)
    sock.close()
    assert out == b"v4-out\n"
    assert wschannel.exit_code(status) == 5
