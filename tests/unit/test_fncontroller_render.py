"""What the function controller makes of a Function: the objects, the merges, the status (pure logic)."""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfshell.fncontroller import controller, render

SOURCE = "def handler(event, context):\n    return 'hi'\n"


def function(**spec: Any) -> dict[str, Any]:
    base = {"function": SOURCE, "handler": "hello.handler", "runtime": "python3.11",
            "function-content-type": "text", "checksum": "sha256:" + hashlib.sha256(SOURCE.encode()).hexdigest(),
            "deps": ""}
    base.update(spec)
    return {"apiVersion": "kubeless.io/v1beta1", "kind": "Function",
            "metadata": {"name": "hello", "namespace": "alice", "uid": "u-1", "generation": 3,
                         "labels": {"created-by": "kf", "kf.kubeflow.org/subcommand": "hello"},
                         "annotations": {"kf.kubeflow.org/spec": "{}",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
            "spec": base}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_source_checked_and_named_by_its_handler() -> None:
    source = render.check_source(function())
    assert (source.module, source.handler, source.file_name) == ("hello", "handler", "hello.py")
    assert source.checksum == function()["spec"]["checksum"]


def test_base64_source_is_decoded_and_its_checksum_is_of_the_decoded_text() -> None:
    encoded = base64.b64encode(SOURCE.encode()).decode()
    source = render.check_source(function(function=encoded, **{"function-content-type": "base64"}))
    assert source.code == SOURCE
    assert render.configmap(function(), source)["data"]["hello.py"] == SOURCE


def test_a_url_source_is_left_to_the_prepare_container_with_its_checksum() -> None:
    fn = function(function="https://example.com/hello.py", **{"function-content-type": "url"})
    source = render.check_source(fn)
    assert (source.url, source.checksum) == ("https://example.com/hello.py", fn["spec"]["checksum"])
    assert render.configmap(fn, source)["data"] == {"handler": "hello.handler", "requirements.txt": "",
                                                    "source-url": "https://example.com/hello.py"}
    pod = render.deployment(fn, source)["spec"]["template"]
    assert pod["metadata"]["annotations"][render.CHECKSUM_ANNOTATION] == fn["spec"]["checksum"]
    assert env(pod["spec"]["initContainers"][0])["FUNC_CHECKSUM"] == fn["spec"]["checksum"]


def test_a_source_that_does_not_match_its_checksum_is_refused() -> None:
    with pytest.raises(render.ChecksumMismatch, match="not deployed"):
        render.check_source(function(function=SOURCE + "# changed\n"))


@pytest.mark.parametrize(("spec", "why"), [
    ({"handler": "nodot"}, "module.function"),
    ({"handler": "my-mod.handler"}, "module.function"),
    ({"function-content-type": "text+zip"}, "not supported"),
    ({"function-content-type": "url", "function": "https://example.com/hello.py", "checksum": ""},
     "needs spec.checksum"),
    ({"function-content-type": "url", "function": "file:///etc/passwd"}, "not an http"),
    ({"function": ""}, "empty"),
    ({"checksum": "md5:abc"}, "sha256"),
    ({"runtime": "nodejs14"}, "Python functions"),
    ({"function": "!!notbase64", "function-content-type": "base64"}, "base64"),
])
def test_invalid_functions_say_why(spec: dict[str, Any], why: str) -> None:
    with pytest.raises(render.InvalidFunction, match=why):
        render.check_source(function(**spec))


def test_a_name_that_cannot_name_a_service_is_invalid() -> None:
    obj = function()
    obj["metadata"]["name"] = "1-starts-with-a-digit"
    with pytest.raises(render.InvalidFunction, match="DNS-1035"):
        render.check_source(obj)


def test_every_object_is_labelled_and_owned_by_the_function() -> None:
    fn = function()
    source = render.check_source(fn)
    for obj in (render.configmap(fn, source), render.service(fn), render.deployment(fn, source)):
        meta = obj["metadata"]
        assert (meta["name"], meta["namespace"]) == ("hello", "alice")
        assert meta["labels"] == {"created-by": "kubeless", "function": "hello", "kf.kubeflow.org/subcommand": "hello"}
        assert meta["ownerReferences"] == [{"apiVersion": "kubeless.io/v1beta1", "kind": "Function",
                                            "name": "hello", "uid": "u-1", "controller": True}]
        assert render.owned_by(obj, fn)
    other = copy.deepcopy(fn)
    other["metadata"]["uid"] = "u-2"  # a later Function of the same name
    assert not render.owned_by(render.service(fn), other)


def test_configmap_holds_handler_source_and_requirements() -> None:
    fn = function(deps="requests==2.31\n")
    assert render.configmap(fn, render.check_source(fn))["data"] == {
        "handler": "hello.handler", "hello.py": SOURCE, "requirements.txt": "requests==2.31\n"}


def test_default_service() -> None:
    assert render.service(function())["spec"] == {
        "type": "ClusterIP", "selector": {"function": "hello"},
        "ports": [{"name": "http-function-port", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]}


def test_spec_service_replaces_the_defaults_field_by_field() -> None:
    fn = function(service={"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 9090}]})
    spec = render.service(fn)["spec"]
    assert spec["type"] == "NodePort"
    assert spec["selector"] == {"function": "hello"}
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"}]
    deployment = render.deployment(fn, render.check_source(fn))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert env(container)["FUNC_PORT"] == "9090"  # the runtime listens where the Service sends
    assert container["ports"] == [{"containerPort": 9090, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9090}


def test_spec_service_without_ports_keeps_the_default_port() -> None:
    spec = render.service(function(service={"ports": [], "selector": {"function": "hello"}}))["spec"]
    assert spec["ports"][0]["port"] == 8080


def test_the_default_deployment() -> None:
    fn = function(timeout="30")
    source = render.check_source(fn)
    deployment = render.deployment(fn, source, image="registry.example/kf-runtime:1")
    spec = deployment["spec"]
    assert spec["selector"] == {"matchLabels": {"function": "hello"}}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    template = spec["template"]
    assert template["metadata"]["labels"]["function"] == "hello"
    assert template["metadata"]["labels"]["created-by"] == "kubeless"
    annotations = template["metadata"]["annotations"]
    assert annotations[render.CHECKSUM_ANNOTATION] == source.checksum
    assert annotations["kf.kubeflow.org/spec"] == "{}"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations  # never the whole Function
    pod = template["spec"]
    assert pod["securityContext"] == {"fsGroup": 1000}
    assert pod["volumes"] == [{"name": "hello", "emptyDir": {}},
                              {"name": "hello-source", "configMap": {"name": "hello"}}]
    [prepare] = pod["initContainers"]
    assert prepare["name"] == "prepare" and prepare["image"] == "registry.example/kf-runtime:1"
    assert prepare["command"] == ["python3", "-m", "kfshell.runtime.prepare"]
    assert prepare["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert env(prepare) == {"MOD_NAME": "hello", "FUNC_CHECKSUM": source.checksum, "KUBELESS_SOURCE": "/src",
                            "KUBELESS_INSTALL_VOLUME": "/kubeless"}
    assert {m["mountPath"]: m["name"] for m in prepare["volumeMounts"]} == {"/kubeless": "hello",
                                                                             "/src": "hello-source"}
    [container] = pod["containers"]
    assert container["name"] == "hello" and container["image"] == "registry.example/kf-runtime:1"
    assert env(container) == {"FUNC_HANDLER": "handler", "MOD_NAME": "hello", "FUNC_TIMEOUT": "30",
                              "FUNC_RUNTIME": "python3.11", "FUNC_MEMORY_LIMIT": "", "FUNC_PORT": "8080",
                              "FUNC_NAME": "hello", "KUBELESS_INSTALL_VOLUME": "/kubeless"}
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["volumeMounts"] == [{"name": "hello", "mountPath": "/kubeless"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,
                                            "allowPrivilegeEscalation": False}


def test_timeout_defaults_to_kubeless_180_seconds() -> None:
    fn = function()
    assert "timeout" not in fn["spec"]
    container = render.deployment(fn, render.check_source(fn))["spec"]["template"]["spec"]["containers"][0]
    assert env(container)["FUNC_TIMEOUT"] == "180"


def test_spec_deployment_is_the_base_and_ours_is_laid_over_it() -> None:
    fn = function(deployment={
        "metadata": {"labels": {"team": "ml"}, "annotations": {"owner": "alice"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"other": "x"}},
                 "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"labels": {"tier": "fn"}, "annotations": {"a": "b"}},
                              "spec": {"serviceAccountName": "kf-functions", "nodeSelector": {"gpu": "yes"},
                                       "securityContext": {"fsGroup": 2000},
                                       "initContainers": [{"name": "warmup", "image": "busybox"}],
                                       "volumes": [{"name": "data", "emptyDir": {}}],
                                       "containers": [{
                                           "image": "custom:1",
                                           "env": [{"name": "A", "value": "1"},
                                                   {"name": "FUNC_TIMEOUT", "value": "999"}],
                                           "resources": {"limits": {"memory": "128Mi"}},
                                           "livenessProbe": {"tcpSocket": {"port": 8080}},
                                           "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                           "securityContext": {"readOnlyRootFilesystem": True}}]}}}})
    deployment = render.deployment(fn, render.check_source(fn))
    assert deployment["metadata"]["labels"]["team"] == "ml"
    assert deployment["metadata"]["annotations"]["owner"] == "alice"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"function": "hello"}}  # ours: the Service selects on it
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0}  # as Kubeless: always
    template = spec["template"]
    assert template["metadata"]["labels"]["tier"] == "fn"
    assert template["metadata"]["annotations"]["a"] == "b"
    pod = template["spec"]
    assert pod["serviceAccountName"] == "kf-functions" and pod["nodeSelector"] == {"gpu": "yes"}
    assert pod["securityContext"] == {"fsGroup": 2000}  # theirs wins
    assert [c["name"] for c in pod["initContainers"]] == ["prepare", "warmup"]
    assert [v["name"] for v in pod["volumes"]] == ["data", "hello", "hello-source"]
    [container] = pod["containers"]
    assert container["name"] == "hello" and container["image"] == "custom:1"
    values = env(container)
    assert values["A"] == "1"
    assert values["FUNC_TIMEOUT"] == "180"  # ours laid over theirs, one entry per name
    assert [e["name"] for e in container["env"]].count("FUNC_TIMEOUT") == 1
    assert values["FUNC_MEMORY_LIMIT"] == "128Mi"
    assert container["livenessProbe"] == {"tcpSocket": {"port": 8080}}  # theirs kept, as Kubeless
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/data", "/kubeless"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert pod["initContainers"][0]["image"] == render.DEFAULT_IMAGE  # prepare: the runtime image, always


def test_a_new_source_changes_the_pod_template_so_the_deployment_rolls() -> None:
    one = function()
    changed = SOURCE + "# v2\n"
    two = function(function=changed, checksum="sha256:" + hashlib.sha256(changed.encode()).hexdigest())
    first = render.deployment(one, render.check_source(one))["spec"]["template"]
    second = render.deployment(two, render.check_source(two))["spec"]["template"]
    assert first != second
    assert first["metadata"]["annotations"][render.CHECKSUM_ANNOTATION] != \
        second["metadata"]["annotations"][render.CHECKSUM_ANNOTATION]


def test_new_requirements_roll_the_deployment_too() -> None:
    with_deps = function(deps="six\n")
    template = render.deployment(with_deps, render.check_source(with_deps))["spec"]["template"]
    assert render.DEPS_ANNOTATION in template["metadata"]["annotations"]


def test_a_long_name_keeps_volume_names_dns_labels() -> None:
    fn = function()
    fn["metadata"]["name"] = "a" * 63
    volumes = render.deployment(fn, render.check_source(fn))["spec"]["template"]["spec"]["volumes"]
    assert all(len(v["name"]) <= 63 for v in volumes)


KUBELESS_HPA = {"metadata": {"name": "hello"}, "spec": {
    "scaleTargetRef": {"kind": "Deployment", "name": "hello"}, "minReplicas": 1, "maxReplicas": 3,
    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}},
                {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}]}}


def test_kubeless_autoscaler_becomes_an_autoscaling_v2_one_for_the_functions_deployment() -> None:
    fn = function(horizontalPodAutoscaler=KUBELESS_HPA, deployment={"spec": {"replicas": 2}})
    hpa = render.autoscaler(fn)
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hello"},
        "minReplicas": 1, "maxReplicas": 3,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                "averageUtilization": 70}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"},
                                              "target": {"type": "AverageValue", "averageValue": "10"}}}]}
    # the autoscaler owns the replica count: the Deployment no longer states one
    assert "replicas" not in render.deployment(fn, render.check_source(fn))["spec"]
    assert render.autoscaler(function()) is None
    assert render.deployment(function(deployment={"spec": {"replicas": 2}}),
                             render.check_source(function()))["spec"]["replicas"] == 2


def test_an_autoscaler_without_a_maximum_or_with_an_unknown_metric_is_invalid() -> None:
    with pytest.raises(render.InvalidFunction, match="maxReplicas"):
        render.autoscaler(function(horizontalPodAutoscaler={"spec": {"minReplicas": 1}}))
    with pytest.raises(render.InvalidFunction, match="Object metric"):
        render.autoscaler(function(horizontalPodAutoscaler={"spec": {"maxReplicas": 2, "metrics": [
            {"type": "Object", "object": {"metricName": "x", "targetValue": "1"}}]}}))


def deployment_status(wanted: int = 1, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "spec": {"replicas": wanted},
            "status": {"observedGeneration": 2, **status}}


@pytest.mark.parametrize(("obj", "ready", "reason"), [
    (None, False, "Deploying"),
    (deployment_status(wanted=1), False, "Deploying"),
    (deployment_status(readyReplicas=1, updatedReplicas=1, replicas=1, availableReplicas=1), True, "Ready"),
    ({**deployment_status(readyReplicas=1, updatedReplicas=1, replicas=1, availableReplicas=1),
      "metadata": {"generation": 3}}, False, "Deploying"),
    (deployment_status(readyReplicas=1, updatedReplicas=1, replicas=2, availableReplicas=2), False, "Deploying"),
    (deployment_status(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                    "message": "too slow"}]), False, "Failed"),
    (deployment_status(wanted=0), True, "Ready"),
])
def test_readiness_from_the_deployment(obj: dict[str, Any] | None, ready: bool, reason: str) -> None:
    found = render.readiness(obj)
    assert (found.ready, found.reason) == (ready, reason)


def test_status_keeps_the_transition_time_while_the_status_holds() -> None:
    fn = function()
    first = render.status(fn, False, "Deploying", "0/1", 0, "2026-01-01T00:00:00Z")
    fn["status"] = first
    second = render.status(fn, False, "Deploying", "still 0/1", 0, "2026-01-01T00:01:00Z")
    assert second["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    third = render.status(fn, True, "Ready", "1/1", 1, "2026-01-01T00:02:00Z")
    assert third["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    assert third["observedGeneration"] == 3 and third["readyReplicas"] == 1
    assert render.same_status(first, render.status(fn, False, "Deploying", "0/1", 0, "later"))
    assert not render.same_status(first, second)
    bumped = {**first, "observedGeneration": 4}
    assert render.same_status(first, bumped, generation=False)
    assert not render.same_status(first, bumped)


def test_pod_trouble_reports_a_failed_prepare_with_its_message() -> None:
    pod = {"status": {"initContainerStatuses": [{
        "name": "prepare", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "message": "pip install -r requirements.txt failed"}}}]}}
    assert controller.pod_trouble(pod) == \
        "init container prepare exited 1: pip install -r requirements.txt failed"
    retried = {"status": {"initContainerStatuses": [{
        "name": "prepare", "ready": False, "restartCount": 2, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 2, "message": "checksum mismatch"}}}]}}
    assert controller.pod_trouble(retried) == "init container prepare exited 2 (2 restarts): checksum mismatch"
    recovered = {"status": {"containerStatuses": [{
        "name": "hello", "ready": True, "restartCount": 1, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 1}}}]}}
    assert controller.pod_trouble(recovered) is None
    pulling = {"status": {"containerStatuses": [{"name": "hello", "state": {
        "waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}}
    assert controller.pod_trouble(pulling) == "container hello: ImagePullBackOff: no such image"
    assert controller.pod_trouble({"status": {"containerStatuses": [{"name": "hello", "state": {
        "running": {}}}]}}) is None


def test_deploy_yaml_is_least_privilege_and_runs_the_controller_as_non_root() -> None:
    docs = list(yaml.safe_load_all((Path(render.__file__).parent / "deploy.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert sorted(kinds) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
    assert all("namespace" not in d["metadata"] for d in docs)  # the installer puts them in kf-system
    rules = {(g, r): sorted(rule["verbs"]) for rule in kinds["ClusterRole"]["rules"]
             for g in rule["apiGroups"] for r in rule["resources"]}
    assert rules == {
        ("kubeless.io", "functions"): ["get", "list", "watch"],
        ("kubeless.io", "functions/status"): ["patch", "update"],
        ("", "configmaps"): ["create", "get", "patch"],
        ("", "services"): ["create", "get", "patch"],
        ("apps", "deployments"): ["create", "get", "list", "patch", "watch"],
        ("autoscaling", "horizontalpodautoscalers"): ["create", "delete", "get", "patch"],
        ("", "pods"): ["list", "watch"],
        ("", "events"): ["create", "patch"],
    }
    assert kinds["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "kf-function-controller", "namespace": "kf-system"}]
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kf-function-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == "kf-runtime:0.1.0"
    assert container["command"][:3] == ["python3", "-m", "kfshell.fncontroller"]
