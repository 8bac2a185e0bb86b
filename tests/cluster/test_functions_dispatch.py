"""kf's function commands end to end on the dev cluster, through the real `kf` CLI: `--dispatch`, commands
added to a namespace (run locally from their source, then through the service proxy once served), privileges
hiding and refusing commands, tampered sources, timeouts, callers without a token, and tokens kept out of
everything kf prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.nethost import FunctionHost
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"

HELLO = '''"""`hello`: says where it ran."""

from kfshell import fnkit

KF_COMMAND = {
    "name": "hello",
    "help": "say hello, and where from",
    "timeout": 10,
    "arguments": [{"name": "who", "help": "whom to greet"}],
}


@fnkit.entrypoint
def handler(event, context):
    req = fnkit.request(event)
    where = "locally" if fnkit.is_local(event) else "on the cluster"
    return fnkit.message(f"hello {req.arg('who') or 'world'}, {where}")
'''

HANG = '''import time

KF_COMMAND = {"name": "hang", "help": "never answers", "timeout": 2}


def handler(event, context):
    time.sleep(60)
    return "too late"
'''


class Kf:
    """Runs `python -m kfshell` as a user would, with a home of its own."""

    def __init__(self, kubeconfig: str, home: Path) -> None:
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(home), NO_COLOR="1", PAGER="cat",
                        XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
                        XDG_CACHE_HOME=str(home / "cache"))
        self.home = home

    def __call__(self, user: str, *argv: str, namespace: str | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        where = ["-n", namespace] if namespace else []
        return subprocess.run([sys.executable, "-m", "kfshell", "--context", f"kf-{user}", *where, *argv],
                              env=self.env, capture_output=True, text=True, cwd=self.home, timeout=timeout)

    def json(self, user: str, *argv: str, namespace: str | None = None):
        done = self(user, "-o", "json", *argv, namespace=namespace)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def kf(kubeconfig: str, tmp_path: Path) -> Kf:
    return Kf(kubeconfig, tmp_path)


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    directory = tmp_path / "src"
    directory.mkdir()
    (directory / "hello.py").write_text(HELLO)
    (directory / "hang.py").write_text(HANG)
    return directory


def rows_by_name(records: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in records:
        found.setdefault(record["name"], []).append(record)
    return found


def without_age(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "age"} for r in records]


def posts(host: FunctionHost) -> int:
    """How many calls the function's runtime has answered (its log has one request line per call)."""
    assert host.runtime is not None
    return host.runtime.log.count('"POST / HTTP/1.1"')


def token_of(kubeconfig: str, user: str) -> str:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    return next(u["user"]["token"] for u in config["users"] if u["name"] == f"kf-{user}")


# ---- status list through Kubeless ------------------------------------------------------------------------


def test_alice_gets_the_same_status_list_through_kubeless_as_locally(admin, kf: Kf, namespace: str) -> None:
    added = kf("admin", "command", "add", "status", str(FUNCTIONS / "status.py"), "--scope", "namespace",
               namespace=namespace)
    assert added.returncode == 0, added.stderr
    with FunctionHost(admin, namespace, "status", FUNCTIONS, "status", timeout=30) as host:
        listed = rows_by_name(kf.json("alice", "command", "list", namespace=namespace))
        assert listed["status"][0]["runs"] == f"kubeless ({namespace}/status)"
        before = posts(host)
        remote = kf.json("alice", "--dispatch", "kubeless", "status", "list", namespace=namespace)
        assert posts(host) == before + 1  # it really went through the service proxy to the runtime
        local = kf.json("alice", "--dispatch", "local", "status", "list", namespace=namespace)
        assert posts(host) == before + 1
    assert any(r["name"] == "jupyter-web-app" for r in remote)
    assert without_age(remote) == without_age(local)


# ---- privileges ------------------------------------------------------------------------------------------


def test_bob_is_refused_create_and_does_not_see_it(kf: Kf, namespace: str) -> None:
    refused = kf("bob", "create", "bobs-project", namespace=namespace)
    assert refused.returncode == 1
    assert refused.stderr == ("kf: create: you may not run create: it needs create profiles.kubeflow.org "
                              "cluster-wide (ask an admin for that permission; `command list --all` shows what "
                              "you may not run)\n")
    helped = kf("bob", "help", namespace=namespace)
    names = [line.split()[0] for line in helped.stdout.splitlines() if line.startswith("  ")]
    assert "status" in names and "create" not in names and "delete" not in names
    assert "create" in [line.split()[0] for line in kf("admin", "help").stdout.splitlines()
                        if line.startswith("  ")]
    assert "You may not run it here: it needs create profiles.kubeflow.org cluster-wide" in \
        kf("bob", "help", "create", namespace=namespace).stdout
    visible = rows_by_name(kf.json("bob", "command", "list", namespace=namespace))
    assert "create" not in visible and visible["status"][0]["allowed"] is True
    everything = rows_by_name(kf.json("bob", "command", "list", "--all", namespace=namespace))
    assert everything["create"][0]["allowed"] is False


def test_whoami_counts_the_commands_the_client_checked(kf: Kf, sources: Path, namespace: str) -> None:
    def count() -> tuple[int, int]:
        runnable, _, total = kf.json("bob", "whoami", namespace=namespace)["commands"].partition(" of ")
        return int(runnable), int(total)

    before = count()
    added = kf("bob", "command", "add", "make-pods", str(sources / "hello.py"), "--requires", "create:pods",
               namespace=namespace)
    assert added.returncode == 0, added.stderr
    assert count() == (before[0], before[1] + 1)  # one more command, which bob may not run
    refused = kf("bob", "make-pods", namespace=namespace)
    assert refused.returncode == 1
    assert f"it needs create pods in namespace {namespace}" in refused.stderr


# ---- a command added to a namespace ------------------------------------------------------------------------


def test_a_namespace_command_is_listed_runs_locally_then_through_kubeless(admin, kf: Kf, sources: Path,
                                                                           namespace: str) -> None:
    added = kf("alice", "command", "add", "hello", str(sources / "hello.py"), "--scope", "namespace",
               namespace=namespace)
    assert added.returncode == 0, added.stderr
    assert f"Function {namespace}/hello (version 1" in added.stdout
    row = rows_by_name(kf.json("alice", "command", "list", namespace=namespace))["hello"][0]
    assert (row["scope"], row["source"], row["version"]) == ("namespace", f"{namespace}/hello", "1")
    assert kf("alice", "--dispatch", "local", "hello", "you", namespace=namespace).stdout == "hello you, locally\n"
    assert kf("alice", "hello", namespace="alice").returncode == 2  # another namespace does not have it

    with FunctionHost(admin, namespace, "hello", sources, "hello", timeout=10) as host:
        row = rows_by_name(kf.json("alice", "command", "list", namespace=namespace))["hello"][0]
        assert row["runs"] == f"kubeless ({namespace}/hello)"
        assert kf("alice", "hello", "you", namespace=namespace).stdout == "hello you, on the cluster\n"
        # bob only views the namespace and may not call its Services: auto runs it for him locally
        assert kf("bob", "hello", namespace=namespace).stdout == "hello world, locally\n"
        forced = kf("bob", "--dispatch", "kubeless", "-v", "hello", namespace=namespace)
        assert forced.returncode == 1
        assert "you may not call this function: needs services/proxy on service hello" in forced.stderr
        for secret in (token_of(kf.env["KUBECONFIG"], "bob"), token_of(kf.env["KUBECONFIG"], "alice")):
            assert secret not in forced.stderr + forced.stdout + host.runtime.log

    (sources / "hello2.py").write_text(HELLO.replace('"hello {', '"hi {'))
    upgraded = kf("alice", "command", "upgrade", "hello", str(sources / "hello2.py"), namespace=namespace)
    assert upgraded.returncode == 0, upgraded.stderr
    assert rows_by_name(kf.json("alice", "command", "list", namespace=namespace))["hello"][0]["version"] == "2"
    # The controller rolls the Function's Deployment: the new source answers on the cluster.
    wait_for(lambda: kf("alice", "hello", namespace=namespace).stdout == "hi world, on the cluster\n", timeout=120,
             interval=1.0, what="the upgraded source to answer on the cluster")
    assert kf("alice", "--dispatch", "local", "hello", namespace=namespace).stdout == "hi world, locally\n"
    removed = kf("alice", "command", "remove", "hello", "--yes", namespace=namespace)
    assert removed.returncode == 0, removed.stderr
    assert kf("alice", "hello", namespace=namespace).returncode == 2


def test_a_tampered_source_is_refused(admin, kf: Kf, sources: Path, namespace: str) -> None:
    from kubernetes import client

    assert kf("alice", "command", "add", "hello", str(sources / "hello.py"), "--scope", "namespace",
              namespace=namespace).returncode == 0
    client.CustomObjectsApi(admin).patch_namespaced_custom_object(
        "kubeless.io", "v1beta1", namespace, "functions", "hello",
        {"spec": {"function": HELLO.replace("hello {", "gotcha {")}})
    for mode in ("auto", "local"):
        refused = kf("alice", "--dispatch", mode, "hello", namespace=namespace)
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert (f"refusing to run hello from Function {namespace}/hello: its source no longer matches its "
                "checksum") in refused.stderr
    row = rows_by_name(kf.json("alice", "command", "list", namespace=namespace))["hello"][0]
    assert row["runs"] == "refused: source changed"
    # Upgrading with a vouched-for source repairs it.
    assert kf("alice", "command", "upgrade", "hello", str(sources / "hello.py"),
              namespace=namespace).returncode == 0
    assert kf("alice", "--dispatch", "local", "hello", namespace=namespace).stdout == "hello world, locally\n"
    # auto: on the cluster once the controller's pod serves it, locally until then
    assert kf("alice", "hello", namespace=namespace).stdout in ("hello world, locally\n",
                                                                "hello world, on the cluster\n")


def test_a_hanging_cluster_function_times_out_with_exit_1(admin, kf: Kf, sources: Path, namespace: str) -> None:
    hang = sources / "hang_module"
    hang.mkdir()
    (hang / "hang.py").write_text(HANG)
    assert kf("alice", "command", "add", "hang", str(hang / "hang.py"), "--scope", "namespace",
              namespace=namespace).returncode == 0
    with FunctionHost(admin, namespace, "hang", hang, "hang", timeout=2):
        started = time.monotonic()
        done = kf("alice", "--dispatch", "kubeless", "hang", namespace=namespace)
        took = time.monotonic() - started
    assert done.returncode == 1
    assert f"kf: hang: function {namespace}/hang did not finish within 2s" in done.stderr
    assert took < 20


def test_a_caller_with_a_client_certificate_is_told_once_and_runs_locally(admin, kf: Kf, sources: Path,
                                                                             namespace: str) -> None:
    assert kf("alice", "command", "add", "hello", str(sources / "hello.py"), "--scope", "namespace",
              namespace=namespace).returncode == 0
    with FunctionHost(admin, namespace, "hello", sources, "hello", timeout=10) as host:
        both = kf("admin", "-c", "hello; hello again", namespace=namespace)
        assert both.returncode == 0, both.stderr
        assert both.stdout == "hello world, locally\nhello again, locally\n"
        assert both.stderr.count("\n") == 1
        assert both.stderr.startswith("kf: note: your credentials are a client certificate, not a bearer token")
        forced = kf("admin", "--dispatch", "kubeless", "hello", namespace=namespace)
        assert forced.returncode == 1
        assert "cannot run hello on the cluster" in forced.stderr
        assert posts(host) == 0
