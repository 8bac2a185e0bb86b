"""What a new user hits in the first hour (issue 12), against the dev cluster as alice, bob and admin: the
README's first example as README.md writes it, `projects`, completion offering what a command accepts,
dry runs and owned workloads, status info URLs through Kubeless, `use` under --context, -o name, the
client-certificate note once. Each test runs kf as a person does: the installed script, a fresh home."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cluster.test_devcluster_functions import functions_state, up  # noqa: F401 - the fixture
from tests.repl.shell_pty import shell_env

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
USERS = ["alice", "bob", "admin"]


def readme_first_example() -> str:
    """The first command of the README's first `kf` example block, exactly as written there."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    example = next(block for block in blocks if block.lstrip().startswith("kf "))
    return example.splitlines()[0]


def sh(kubeconfig: str, home: Path, line: str, *, extra: dict[str, str] | None = None,
       stdin: str = "") -> subprocess.CompletedProcess:
    env = {**shell_env(kubeconfig, home), **(extra or {})}
    return subprocess.run(["sh", "-c", line], input=stdin, capture_output=True, text=True, timeout=180, env=env,
                          check=False)


def kf(kubeconfig: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kf", *args], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
                          env=shell_env(kubeconfig, home), check=False)


@pytest.fixture(scope="module")
def served(functions_state):  # noqa: F811 - the built-in functions deployed in kf-system, as `make demo` has them
    up()
    return True


# ---- 1: the README's first example, and commands resolved when their turn comes --------------------------


@pytest.mark.parametrize("user", USERS)
def test_the_readmes_first_example_runs_as_written(kubeconfig, tmp_path, served, user):
    line = readme_first_example()
    assert line == 'kf -c "use alice; status list"'
    # The person had been looking at kubeflow before; the completion cache is empty (a fresh home).
    before = kf(kubeconfig, tmp_path, "use", "--context", f"kf-{user}", "kubeflow")
    assert before.returncode == 0, before.stderr
    done = sh(kubeconfig, tmp_path, line)
    assert done.returncode == 0, done.stderr
    assert "no longer known" not in done.stderr
    assert done.stdout.startswith("now in namespace alice")
    assert re.search(r"^NAME\s+TYPE\s+NAMESPACE", done.stdout, flags=re.M)
    assert re.search(r"^jupyter-web-app\s+component\s+kubeflow", done.stdout, flags=re.M)


@pytest.mark.parametrize("line", ["use kubeflow; refresh; whoami", "use --context kf-bob; whoami"])
def test_a_switch_or_refresh_mid_line_does_not_lose_the_next_command(kubeconfig, tmp_path, served, line):
    assert kf(kubeconfig, tmp_path, "use", "--context", "kf-alice", "alice").returncode == 0
    done = kf(kubeconfig, tmp_path, "-c", line)
    assert done.returncode == 0, done.stderr
    assert "no longer known" not in done.stderr and "whoami: whoami" not in done.stderr
    assert re.search(r"^user: (alice|bob)$", done.stdout, flags=re.M)


def test_a_namespace_command_right_after_use_on_the_same_line(kubeconfig, tmp_path, namespace):
    hello = tmp_path / "only_here.py"
    hello.write_text('KF_COMMAND = {"name": "only-here", "help": "a namespace command"}\n\n'
                     'def handler(event, context):\n    return "here in " + event["data"]["namespace"]\n')
    added = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-n", namespace, "command", "add", "only-here",
               str(hello), "--scope", "namespace")
    assert added.returncode == 0, added.stderr
    assert kf(kubeconfig, tmp_path, "use", "--context", "kf-alice", "alice").returncode == 0
    done = kf(kubeconfig, tmp_path, "--dispatch", "local", "-c", f"use {namespace}; only-here")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"here in {namespace}"
    typo = kf(kubeconfig, tmp_path, "-c", "whoami; stauts")
    assert typo.returncode == 2 and typo.stdout == ""  # before any `use`, a typo still runs nothing


# ---- 2: projects, and `use <TAB>` -------------------------------------------------------------------------


def projects(kubeconfig: str, home: Path, user: str) -> dict[str, str]:
    done = kf(kubeconfig, home, "--context", f"kf-{user}", "projects", "-o", "json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row["role"] for row in json.loads(done.stdout)}


def test_projects_as_alice_bob_and_admin(kubeconfig, tmp_path, namespace):
    alice, bob, admin = (projects(kubeconfig, tmp_path / user, user) for user in USERS)
    assert alice["alice"] == "owner"  # her profile's namespace (the owner annotation)
    assert bob == {"alice": "view"}  # what bob's context works in; he may list nothing else
    assert admin["alice"] == "edit" and admin[namespace] == "edit" and "kube-system" in admin
    assert "kube-system" not in alice
    # A namespace alice was given and has used appears, with her role there; bob's too.
    assert namespace not in alice
    home = tmp_path / "alice"
    assert kf(kubeconfig, home, "--context", "kf-alice", "use", namespace).returncode == 0
    assert projects(kubeconfig, home, "alice")[namespace] == "edit"
    home = tmp_path / "bob"
    assert kf(kubeconfig, home, "--context", "kf-bob", "use", namespace).returncode == 0
    assert projects(kubeconfig, home, "bob") == {"alice": "view", namespace: "view"}


def test_use_tab_offers_the_projects_of_a_user_who_may_not_list_namespaces(kubeconfig, tmp_path, namespace):
    assert kf(kubeconfig, tmp_path, "--context", "kf-alice", "use", namespace).returncode == 0
    done = sh(kubeconfig, tmp_path, "kf __complete --context kf-alice use ''", extra={"KF_COMPLETE_TIMEOUT": "20"})
    offered = {line.split("\t")[0]: line.split("\t")[1] for line in done.stdout.splitlines()}
    assert offered.get("alice", "").startswith("Project  owner")
    assert offered.get(namespace, "").startswith("Project  edit")
    assert "kube-system" not in offered


# ---- 3 and 4: completion offers what a command accepts; dry runs; owned workloads --------------------------


@pytest.fixture
def project(admin, namespace):
    """A notebook `nu-nb` with the StatefulSet its controller owns, and a component `my-model`."""
    from kubernetes import client

    objects = client.CustomObjectsApi(admin)
    notebook = objects.create_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", {
        "apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": "nu-nb"},
        "spec": {"template": {"spec": {"containers": [{"name": "nu-nb", "image": "jupyter/minimal:1"}]}}}})
    labels = {"notebook-name": "nu-nb", "statefulset": "nu-nb"}
    apps = client.AppsV1Api(admin)
    try:
        apps.create_namespaced_stateful_set(namespace, {
            "metadata": {"name": "nu-nb", "labels": labels, "ownerReferences": [{
                "apiVersion": "kubeflow.org/v1", "kind": "Notebook", "name": "nu-nb",
                "uid": notebook["metadata"]["uid"], "controller": True}]},
            "spec": {"replicas": 1, "serviceName": "", "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "nu-nb", "image": "jupyter/minimal:1"}]}}}})
    except client.ApiException as err:
        if err.status != 409:  # the notebook controller made it first
            raise
    model = {"app": "my-model", "app.kubernetes.io/part-of": "kubeflow"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "my-model", "labels": model},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "my-model"}},
                 "template": {"metadata": {"labels": model},
                              "spec": {"containers": [{"name": "model", "image": "example.com/model:1"}]}}}})
    return namespace


def offered(kubeconfig: str, home: Path, namespace: str, line: str) -> list[str]:
    done = sh(kubeconfig, home, f"kf __complete --context kf-alice -n {namespace} {line}",
              extra={"KF_COMPLETE_TIMEOUT": "20"})
    return [entry.split("\t")[0] for entry in done.stdout.splitlines()]


def test_completion_offers_what_the_command_accepts(kubeconfig, tmp_path, project):
    assert offered(kubeconfig, tmp_path, project, "status list nu") == ["nu-nb"]
    listed = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-n", project, "status", "list", "nu-nb", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [row["type"] for row in json.loads(listed.stdout)] == ["notebook"]
    removable = offered(kubeconfig, tmp_path, project, "remove ''")
    assert removable == ["my-model"]  # not kubeflow's components, which alice cannot remove, nor nu-nb


def test_a_dry_run_never_asks_and_nothing_is_asked_about_what_is_not_there(kubeconfig, tmp_path, project):
    alice = ["--context", "kf-alice", "-n", project]
    dry = kf(kubeconfig, tmp_path, *alice, "-c", "remove -d my-model")
    assert dry.returncode == 0, dry.stderr
    assert "would be removed" in dry.stdout and "confirmation" not in dry.stderr
    missing = kf(kubeconfig, tmp_path, *alice, "-c", "remove nosuch")
    assert missing.returncode == 1
    assert "component 'nosuch' not found" in missing.stderr and "confirmation" not in missing.stderr
    asked = kf(kubeconfig, tmp_path, *alice, "-c", "remove my-model")
    assert asked.returncode == 2 and "needs confirmation (pass --yes" in asked.stderr


def test_a_workload_a_notebook_owns_is_removed_through_the_notebook(kubeconfig, tmp_path, admin, project):
    from kubernetes import client

    refused = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-n", project, "remove", "nu-nb", "--yes")
    assert refused.returncode == 1
    assert "StatefulSet nu-nb belongs to Notebook nu-nb" in refused.stderr
    assert f"kubectl delete notebooks.kubeflow.org nu-nb -n {project}" in refused.stderr
    assert client.AppsV1Api(admin).read_namespaced_stateful_set("nu-nb", project)  # still there


# ---- 5: URLs on the caller's server ------------------------------------------------------------------------


def test_status_info_urls_use_the_callers_server_through_kubeless(kubeconfig, tmp_path, served):
    import yaml

    server = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"].rstrip("/")
    done = kf(kubeconfig, tmp_path, "--context", "kf-alice", "--dispatch", "kubeless", "status", "info",
              "jupyter-web-app", "-o", "json")
    assert done.returncode == 0, done.stderr
    proxied = [url for url in json.loads(done.stdout)["urls"] if "/proxy/" in url]
    assert proxied and all(url.startswith(f"{server}/api/v1/namespaces/kubeflow/services/") for url in proxied)


# ---- 6 and 8: use under --context, scripting edges ---------------------------------------------------------


def test_use_under_context_is_remembered_for_that_context(kubeconfig, tmp_path):
    switched = kf(kubeconfig, tmp_path, "--context", "kf-alice", "use", "kubeflow")
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout == "kf-alice will now use namespace kubeflow\n"
    where = kf(kubeconfig, tmp_path, "--context", "kf-alice", "use", "-o", "json")
    assert json.loads(where.stdout) == {"context": "kf-alice", "namespace": "kubeflow"}


def test_scripting_edges(kubeconfig, tmp_path, served):
    nameless = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-o", "name", "whoami")
    assert nameless.returncode == 2 and "-o name: this answer has no name" in nameless.stderr
    bad = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-n", "ünï", "status", "list")
    assert bad.returncode == 2 and "namespace name 'ünï' is not valid" in bad.stderr
    listed = kf(kubeconfig, tmp_path, "--context", "kf-alice", "status", "list", "-o", "json")
    records = json.loads(listed.stdout)
    assert all("age" not in r for r in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created"]) for r in records if r["created"])
    table = kf(kubeconfig, tmp_path, "--context", "kf-alice", "status", "list")
    assert re.search(r"^jupyter-web-app\s+component\s+kubeflow\s+1/1\s+Ready\s+\d+[smhdy]", table.stdout, flags=re.M)
    commands = json.loads(kf(kubeconfig, tmp_path, "--context", "kf-alice", "command", "list", "-o", "json").stdout)
    assert {type(r["allowed"]) for r in commands} <= {bool, type(None)}
    piped = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-c", "status list | head -2")
    assert piped.returncode == 2 and "kf does not pipe" in piped.stderr and "kf status list | head -2" in piped.stderr


def test_the_client_certificate_note_is_told_once(kubeconfig, tmp_path, served):
    notes = []
    for _ in range(2):
        done = kf(kubeconfig, tmp_path, "--context", "kf-admin", "status", "list", "-o", "name")
        assert done.returncode == 0, done.stderr
        notes.append(done.stderr.count("your credentials are a client certificate"))
    assert notes == [1, 0]


def test_user_commands_added_elsewhere_are_seen_by_an_open_prompt(kubeconfig, tmp_path):
    from tests.repl.shell_pty import Pty

    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text('KF_COMMAND = {"name": "sleeper"}\n\ndef handler(event, context):\n    return "zzz"\n')
    prompt = Pty(["--context", "kf-alice"], shell_env(kubeconfig, tmp_path))
    try:
        prompt.expect("kf kf-alice:alice>")
        added = kf(kubeconfig, tmp_path, "command", "add", "sleeper", str(sleeper))  # another terminal
        assert added.returncode == 0, added.stderr
        prompt.sendline("sleeper")
        prompt.expect("zzz")
    finally:
        prompt.close()
