"""`kf logs` across a component's pods against the dev cluster (each KWOK pod serves its own log file)."""

from __future__ import annotations

import selectors
import signal
import time
from datetime import datetime, timezone

import pytest

from tests.cluster.pod_helpers import append_log, kf, make_pod, spawn, wait_ready
from tests.conftest import wait_for


@pytest.fixture
def home(tmp_path):
    return tmp_path


@pytest.fixture
def two_pods(admin, namespace):
    for name in ("web-a", "web-b"):
        make_pod(admin, namespace, name, labels={"app": "web"})
    wait_ready(admin, namespace, "web-a", "web-b")
    append_log(namespace, "web-a", "hello from a")
    append_log(namespace, "web-b", "hello from b")
    return "web"


def test_logs_of_a_two_pod_component_prefix_each_pod(kubeconfig, home, namespace, two_pods):
    done = kf(kubeconfig, home, "kf-alice", namespace, "logs", two_pods)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert "[web-a] hello from a" in lines
    assert "[web-b] hello from b" in lines


def test_one_pod_has_no_prefix(kubeconfig, home, namespace, two_pods):
    done = kf(kubeconfig, home, "kf-alice", namespace, "logs", "web-a")
    assert done.returncode == 0, done.stderr
    assert "hello from a" in done.stdout.decode().splitlines()


def test_since_and_tail_limit_the_lines(kubeconfig, home, admin, namespace):
    make_pod(admin, namespace, "old", labels={"app": "old"})
    wait_ready(admin, namespace, "old")
    append_log(namespace, "old", "from 2020", when=datetime(2020, 1, 1, tzinfo=timezone.utc))
    append_log(namespace, "old", "recent one", "recent two")
    since = kf(kubeconfig, home, "kf-alice", namespace, "logs", "old", "--since", "10m")
    assert since.returncode == 0, since.stderr
    assert since.stdout.decode().splitlines()[-2:] == ["recent one", "recent two"]
    assert "from 2020" not in since.stdout.decode()
    tail = kf(kubeconfig, home, "kf-alice", namespace, "logs", "old", "--tail", "1")
    assert tail.stdout.decode().splitlines() == ["recent two"]
    stamped = kf(kubeconfig, home, "kf-alice", namespace, "logs", "old", "--tail", "1", "--timestamps")
    assert stamped.stdout.decode().split(" ", 1)[1].strip() == "recent two"


class Lines:
    """A follower's stdout, read as it comes."""

    def __init__(self, process):
        self.process, self.text = process, ""
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            left = deadline - time.monotonic()
            assert left > 0, f"did not see {needle!r}; got {self.text!r}; stderr so far unavailable"
            if self.selector.select(min(left, 0.5)):
                chunk = self.process.stdout.read1(65536)
                if not chunk:
                    assert needle in self.text, f"kf logs ended without {needle!r}: {self.text!r}"
                self.text += chunk.decode()


def test_follow_shows_new_lines_and_pods_that_start_later(kubeconfig, home, admin, namespace, two_pods):
    follower = spawn(kubeconfig, home, "kf-alice", namespace, "logs", two_pods, "-f")
    try:
        out = Lines(follower)
        out.wait_for("[web-b] hello from b")
        append_log(namespace, "web-a", "written while following")
        out.wait_for("[web-a] written while following")
        make_pod(admin, namespace, "web-c", labels={"app": "web"})
        wait_ready(admin, namespace, "web-c")
        append_log(namespace, "web-c", "a late pod speaks")
        out.wait_for("[web-c] a late pod speaks")
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(30)
    assert follower.returncode == 130


def test_a_finished_jobs_logs_print(kubeconfig, home, admin, namespace):
    from kubernetes import client

    # The pods a TrainJob's JobSet makes: batch Jobs, labelled with the JobSet's (= the TrainJob's) name.
    # KWOK completes pods owned by a Job.
    client.BatchV1Api(admin).create_namespaced_job(namespace, {
        "metadata": {"name": "mnist-train-node-0"},
        "spec": {"template": {
            "metadata": {"labels": {"jobset.sigs.k8s.io/jobset-name": "mnist-train"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "node", "image": "kf-test:1"}]}}}})

    def finished() -> str | None:
        pods = client.CoreV1Api(admin).list_namespaced_pod(
            namespace, label_selector="jobset.sigs.k8s.io/jobset-name=mnist-train").items
        done = [p for p in pods if p.status.phase == "Succeeded"]
        return done[0].metadata.name if done else None

    pod = wait_for(finished, timeout=60, what="the job's pod to succeed")
    from tests.cluster.pod_helpers import log_file

    wait_for(lambda: log_file(namespace, pod).exists(), what="the pod's log file")
    append_log(namespace, pod, "epoch 3: loss 0.01")
    done = kf(kubeconfig, home, "kf-alice", namespace, "logs", "mnist-train")
    assert done.returncode == 0, done.stderr
    assert "epoch 3: loss 0.01" in done.stdout.decode()
    follow = kf(kubeconfig, home, "kf-alice", namespace, "logs", "mnist-train", "-f", timeout=60)
    assert follow.returncode == 0, follow.stderr  # every pod has finished: following ends by itself
    assert "epoch 3: loss 0.01" in follow.stdout.decode()
