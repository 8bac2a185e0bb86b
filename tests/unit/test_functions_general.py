"""The general functions' specs and pure parts, without a cluster: names, manifests, selectors, privileges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import functions
from kfshell import manifests
from kfshell.errors import UsageError
from kfshell.names import check_name, did_you_mean, dns1123_label_problem
from kfshell.registry import builtin_functions_dir, load_function_dir


def test_every_builtin_spec_passes_the_registry():
    specs, problems = load_function_dir(builtin_functions_dir(), source="builtin")
    assert problems == []
    assert {"status", "whoami", "create", "delete", "remove"} <= {s.name for s in specs}


def test_destructive_commands_ask_first():
    for name in ("delete", "remove"):
        spec = functions.load(name).KF_COMMAND
        assert spec["confirm"]
        assert any(a["name"] == "yes" for a in spec["arguments"])
    assert "{namespace}" in functions.load("delete").KF_COMMAND["confirm"]


@pytest.mark.parametrize(("name", "problem"), [
    ("ok-name-1", None), ("a", None), ("", "empty"), ("Upper", "upper-case"), ("under_score", "'_'"),
    ("-lead", "start and end"), ("trail-", "start and end"), ("x" * 64, "64 characters"), ("dot.ted", "'.'"),
])
def test_dns1123_label(name, problem):
    found = dns1123_label_problem(name)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_check_name_explains_the_rule():
    with pytest.raises(UsageError) as caught:
        check_name("Bad_Name", "project")
    assert caught.value.exit_status == 2
    assert "project name 'Bad_Name' is not valid" in caught.value.message
    assert "DNS-1123" in caught.value.hint


def test_did_you_mean():
    assert did_you_mean("jupyter", ["jupyter-web-app", "centraldashboard"]) == "did you mean jupyter-web-app?"
    assert did_you_mean("zzzz", ["jupyter-web-app"]) is None


def test_system_namespaces_are_refused():
    from functions.delete import system_namespace_reason

    for name in ("kube-system", "kube-public", "kube-node-lease", "default", "kubeflow", "kf-system", "kube-x"):
        assert system_namespace_reason(name)
    assert system_namespace_reason("team", {"control-plane": "kubeflow"})
    assert system_namespace_reason("alice") is None


def test_remove_selects_by_the_most_specific_label():
    from functions.remove import selector_for

    workloads = [
        {"metadata": {"name": "ml-pipeline-ui", "labels": {"app": "ml-pipeline-ui",
                                                            "app.kubernetes.io/component": "ml-pipeline"}}},
        {"metadata": {"name": "ml-pipeline", "labels": {"app": "ml-pipeline",
                                                         "app.kubernetes.io/component": "ml-pipeline"}}},
        {"metadata": {"name": "odd-name", "labels": {"app.kubernetes.io/name": "odd"}}},
    ]
    assert selector_for("ml-pipeline-ui", workloads) == "app=ml-pipeline-ui"
    assert selector_for("ml-pipeline", workloads) == "app=ml-pipeline"
    assert selector_for("odd-name", workloads) == "app.kubernetes.io/name=odd"
    assert selector_for("nothing", workloads) is None


def test_whoami_counts_leaf_commands_with_their_parents_requirements():
    from functions.whoami import command_count, leaf_requirements

    spec = functions.load("status").KF_COMMAND
    leaves = leaf_requirements(spec, "alice")
    assert len(leaves) == 3
    assert all(r.namespace == "alice" for needs in leaves for r in needs)
    assert {r.resource for r in leaves[1]} == {"deployments", "pods"}
    assert command_count({"runnable": 4, "total": 9}, api=None, namespace="x") == (4, 9)


# ---- manifests --------------------------------------------------------------------------------------------

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""
CONFIG = """apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ServiceAccount, metadata: {name: runner}}
"""


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_manifests_load_in_creation_order_into_the_namespace(tmp_path):
    root = repo(tmp_path, {"a-deploy.yaml": DEPLOYMENT, "sub/config.yml": CONFIG, "kustomization.yaml": "x: [",
                           ".hidden/x.yaml": "not: [valid", "README.md": "# no"})
    loaded = manifests.load(root, "proj")
    assert [(m.kind, m.name) for m in loaded] == [("ServiceAccount", "runner"), ("ConfigMap", "settings"),
                                                  ("Deployment", "web")]
    assert all(m.obj["metadata"]["namespace"] == "proj" for m in loaded)
    assert loaded[1].source == "sub/config.yml#1"


def test_manifests_refuse_another_namespace(tmp_path):
    root = repo(tmp_path, {"x.yaml": DEPLOYMENT.replace("{name: web}", "{name: web, namespace: other}")})
    with pytest.raises(UsageError, match="names namespace other"):
        manifests.load(root, "proj")


@pytest.mark.parametrize(("text", "message"), [
    ("kind: [", "not valid YAML"),
    ("just a string", "not a Kubernetes object"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name"),
])
def test_manifests_refuse_bad_files(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        manifests.load(repo(tmp_path, {"bad.yaml": text}), "proj")


def test_manifests_refuse_duplicates_and_empty_repos(tmp_path):
    with pytest.raises(UsageError, match="defined twice"):
        manifests.load(repo(tmp_path / "dup", {"a.yaml": DEPLOYMENT, "b.yaml": DEPLOYMENT}), "p")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no manifests"):
        manifests.load(tmp_path / "empty", "p")


def test_git_urls_are_recognised():
    assert manifests.is_git_url("https://github.com/kubeflow/examples")
    assert manifests.is_git_url("git@github.com:kubeflow/examples.git")
    assert manifests.is_git_url("/srv/repos/project.git")
    assert not manifests.is_git_url("./manifests")


def test_checkout_of_a_local_git_branch(tmp_path):
    source = repo(tmp_path / "src", {"app.yaml": DEPLOYMENT})

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(source), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "one")
    git("checkout", "-q", "-b", "extra")
    (source / "config.yaml").write_text(CONFIG)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "two")
    with manifests.checkout(str(source), "main") as root:
        assert [m.name for m in manifests.load(root, "p")] == ["web"]
    with manifests.checkout(str(source), "extra") as root:
        assert len(manifests.load(root, "p")) == 3
    with pytest.raises(UsageError, match="no-such-branch"), manifests.checkout(str(source), "no-such-branch"):
        pass


def test_checkout_of_a_missing_path(tmp_path):
    with pytest.raises(UsageError, match="does not exist"), manifests.checkout(str(tmp_path / "nope")):
        pass
