"""What `kf admin install` would apply, rendered without a cluster: the CRD, labels, namespaces, image, the
built-in Functions and the RBAC, and `kf admin manifests` (offline) as a GitOps pipeline reads it."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from kfshell.admin import builtins, install, rbac
from kfshell.cli import main
from kfshell.errors import UsageError
from tests.unit.shell_env import fresh, make_shell

SEED_CRD = "devcluster/seed/crds/functions.kubeless.io.yaml"


def test_the_dev_cluster_seeds_the_same_function_crd():
    from pathlib import Path

    package = Path(str(install.resources.files("kfshell.admin").joinpath("crd-functions.yaml")))
    seed = Path(__file__).resolve().parents[2] / SEED_CRD
    assert seed.read_text() == package.read_text(), f"copy {package} to {SEED_CRD}"


def _schema_nodes(node, path="openAPIV3Schema"):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _schema_nodes(node["items"], f"{path}[]")


def test_the_crd_is_structural_with_status_and_columns():
    crd = install.crd()
    (version,) = crd["spec"]["versions"]
    for path, node in _schema_nodes(version["schema"]["openAPIV3Schema"]):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for embedded in ("deployment", "service", "horizontalPodAutoscaler"):
        assert spec[embedded]["x-kubernetes-preserve-unknown-fields"] is True
    assert {"function", "handler", "runtime", "deps", "checksum", "timeout"} <= set(spec)
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {"conditions", "readyReplicas", "observedGeneration"} <= set(status)
    condition = status["conditions"]["items"]["properties"]
    assert {"type", "status", "reason", "message", "lastTransitionTime"} <= set(condition)
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Ready", "Reason", "Age"]


@pytest.mark.parametrize("namespace", ["kf-system", "kf-try"])
def test_every_object_is_labelled_and_placed(namespace):
    objects = install.render(namespace)
    kinds = [o["kind"] for o in objects]
    assert kinds[:2] == ["CustomResourceDefinition", "Namespace"]
    assert kinds.index("Deployment") < kinds.index("Function")  # the controller before what it serves
    assert kinds[-len(builtins.builtin_modules()):] == ["Function"] * len(builtins.builtin_modules())
    refs = [install.Ref.of(o) for o in objects]
    assert len(set(refs)) == len(refs)
    for obj, ref in zip(objects, refs, strict=True):
        assert obj["metadata"]["labels"][install.INSTALL_LABEL] == namespace, ref
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kf", ref
        namespaced = install.KINDS[(ref.api_version, ref.kind)][1]
        assert ref.namespace == (namespace if namespaced else None), ref
        if not namespaced and ref.kind in ("ClusterRole", "ClusterRoleBinding"):
            # a second install never rewrites kf-system's cluster-wide RBAC
            assert ref.name.endswith(f"-{namespace}") == (namespace != "kf-system"), ref
        for subject in obj.get("subjects") or ():
            if subject["kind"] == "ServiceAccount" and obj["kind"] != "RoleBinding":
                assert subject["namespace"] == namespace, ref
        role_ref = obj.get("roleRef")
        if role_ref and role_ref["kind"] == "ClusterRole" and ref.kind == "ClusterRoleBinding":
            assert install.Ref("rbac.authorization.k8s.io/v1", "ClusterRole", role_ref["name"]) in refs


def test_the_image_replaces_the_placeholder_everywhere():
    objects = install.render("kf-system", "registry.example/kf/kf-runtime:0.2.0")
    text = json.dumps(objects)
    assert install.PLACEHOLDER_IMAGE not in text.replace("registry.example/kf/kf-runtime:0.2.0", "")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["registry.example/kf/kf-runtime:0.2.0"] * len(images)
    default = [o for o in install.render("kf-system") if o["kind"] == "Deployment"][0]
    assert {c["image"] for c in default["spec"]["template"]["spec"]["containers"]} == {install.DEFAULT_IMAGE}


def test_yaml_round_trip_keeps_every_object_and_source():
    objects = install.render("kf-system")
    text = install.to_yaml(objects)
    assert list(yaml.safe_load_all(text)) == objects
    assert "  function: |" in text  # sources stay readable in a GitOps repository


def test_builtins_are_functions_as_kf_deploys_them():
    modules = builtins.builtin_modules()
    functions = builtins.builtin_functions()
    assert [f["metadata"]["name"] for f in functions] == [m.replace("_", "-") for m, _, _ in modules]
    for (module, spec, source), function in zip(modules, functions, strict=True):
        meta, fspec = function["metadata"], function["spec"]
        assert function["apiVersion"] == "kubeless.io/v1beta1" and function["kind"] == "Function"
        assert meta["namespace"] == "kf-system"
        assert meta["labels"][builtins.SUBCOMMAND_LABEL] == spec["name"]
        assert json.loads(meta["annotations"][builtins.SPEC_ANNOTATION]) == spec
        assert fspec["function"] == source and fspec["handler"] == f"{module}.handler"
        assert fspec["checksum"] == "sha256:" + hashlib.sha256(source.encode()).hexdigest()
        assert fspec["timeout"] == str(int(spec.get("timeout") or 30))
        pod = fspec["deployment"]["spec"]["template"]["spec"]
        assert pod == {"serviceAccountName": rbac.RUNTIME_ACCOUNT}
    pinned = builtins.builtin_functions("reg/kf:9", namespace="x", labels={"team": "ml"})
    assert all(f["metadata"]["namespace"] == "x" and f["metadata"]["labels"]["team"] == "ml" for f in pinned)
    assert all(f["spec"]["deployment"]["spec"]["template"]["spec"]["containers"]
               == [{"name": f["metadata"]["name"], "image": "reg/kf:9"}] for f in pinned)


def test_the_checksum_is_what_the_controller_and_kf_compute():
    from kfshell.dispatch.kubeless import source_checksum

    for function in builtins.builtin_functions():
        assert function["spec"]["checksum"] == source_checksum(function["spec"]["function"])


def test_callers_may_call_every_builtin_and_the_runtime_may_impersonate():
    objects = install.render("kf-system", callers=["user:alice", "group:ml", "serviceaccount:ci:robot"])
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == rbac.CALLERS_ROLE)
    proxy = next(r for r in role["rules"] if r["resources"] == ["services/proxy"])
    assert set(proxy["verbs"]) == {"get", "create"}
    for function in (o for o in objects if o["kind"] == "Function"):
        name = function["metadata"]["name"]
        assert {f"{name}:{rbac.PORT_NAME}", name} <= set(proxy["resourceNames"])
    binding = next(o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == rbac.CALLERS_ROLE)
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("User", "alice"), ("Group", "ml"), ("ServiceAccount", "robot")]
    runtime = next(o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == rbac.RUNTIME_ROLE)
    assert {"tokenreviews", "users", "groups"} <= {r for rule in runtime["rules"] for r in rule["resources"]}
    default = rbac.callers_rbac(["status"])[1]["subjects"]
    assert default == [{"apiGroup": rbac.RBAC_GROUP, "kind": "Group", "name": "system:authenticated"}]
    with pytest.raises(UsageError, match="user:NAME, group:NAME or serviceaccount"):
        rbac.parse_caller("alice")


def test_differences_ignore_bookkeeping():
    before = {"metadata": {"name": "x", "resourceVersion": "1", "managedFields": [1], "labels": {"a": "1"}},
              "spec": {"x": 1}, "status": {"ready": 0}}
    after = {"metadata": {"name": "x", "resourceVersion": "2", "managedFields": [2], "labels": {"a": "1"}},
             "spec": {"x": 1}, "status": {"ready": 1}}
    assert install.differences(before, after) == ()
    after["metadata"]["labels"] = {"a": "2"}
    after["spec"] = {"x": 2}
    assert install.differences(before, after) == ("metadata.labels", "spec")


def test_manifests_offline_as_yaml_json_and_names(tmp_path):
    """The kubeconfig's server is a closed port: manifests never needs the cluster."""
    shell = make_shell(tmp_path)
    assert main(["admin", "manifests", "-n", "kf-gitops", "--image", "reg/kf:2"], shell.env) == 0, shell.err
    documents = list(yaml.safe_load_all(shell.out))
    assert documents == install.render("kf-gitops", "reg/kf:2")
    shell = fresh(shell)
    assert main(["admin", "manifests", "-o", "json"], shell.env) == 0, shell.err
    listing = json.loads(shell.out)
    assert listing["kind"] == "List" and len(listing["items"]) == len(install.render())
    shell = fresh(shell)
    assert main(["admin", "manifests", "-o", "name"], shell.env) == 0, shell.err
    assert shell.out.splitlines()[:2] == ["customresourcedefinition.apiextensions.k8s.io/functions.kubeless.io",
                                          "namespace/kf-system"]


def test_a_bad_namespace_or_caller_is_a_usage_error(tmp_path):
    shell = make_shell(tmp_path)
    assert main(["admin", "manifests", "-n", "Not_A_Name"], shell.env) == 2
    assert shell.err.count("\n") == 1 and "Not_A_Name" in shell.err
    shell = fresh(shell)
    assert main(["admin", "manifests", "--caller", "nobody"], shell.env) == 2
    assert shell.err.count("\n") == 1 and "--caller" in shell.err


def test_install_against_an_unreachable_cluster_exits_3(tmp_path):
    shell = make_shell(tmp_path)
    assert main(["admin", "install", "--dry-run"], shell.env) == 3
    assert shell.err.count("\n") == 1 and shell.out == ""
