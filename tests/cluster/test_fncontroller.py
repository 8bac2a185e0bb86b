"""kf's function controller on the dev cluster (the process `python -m devcluster up` runs, as service account
kf-function-controller with deploy.yaml's RBAC): what a Function becomes, rollouts, refusals, conflicts and
garbage collection. Pods are not required to become Ready here (the node stand-in that runs them is separate)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "kubeless.io", "v1beta1", "functions"
SOURCE = "def handler(event, context):\n    return 'one'\n"
WAIT = 60.0


def _opt_in() -> dict[str, str]:
    """The label the dev cluster's controller selects Functions by, while the old harness serves the rest."""
    from devcluster.controllers import fncontroller

    return {fncontroller.OPT_IN_LABEL: "true"} if fncontroller.SELECTOR else {}


def checksum(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def function(name: str, source: str = SOURCE, *, wanted: str | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Function",
            "metadata": {"name": name, "labels": {"team": "ml", **_opt_in()}},
            "spec": {"runtime": "python3.11", "handler": "hello.handler", "function": source,
                     "function-content-type": "text", "checksum": wanted or checksum(source), "deps": "",
                     "timeout": "30", **spec}}


class Api:
    def __init__(self, admin: Any, namespace: str) -> None:
        from kubernetes import client

        self.namespace = namespace
        self.custom = client.CustomObjectsApi(admin)
        self.core = client.CoreV1Api(admin)
        self.apps = client.AppsV1Api(admin)
        self.admin = admin

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, obj)

    def function(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        read = {"ConfigMap": self.core.read_namespaced_config_map, "Service": self.core.read_namespaced_service,
                "Deployment": self.apps.read_namespaced_deployment}[kind]
        try:
            return self.admin.sanitize_for_serialization(read(name, self.namespace))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def ready_condition(self, name: str) -> dict[str, Any] | None:
        conditions = (self.function(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    def wait_reason(self, name: str, *reasons: str) -> dict[str, Any]:
        return wait_for(lambda: (c := self.ready_condition(name)) and c["reason"] in reasons and c, WAIT,
                        what=f"Function {name} to report {' or '.join(reasons)}: {self.ready_condition(name)}")

    def events(self, name: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}")
        return [self.admin.sanitize_for_serialization(e) for e in found.items
                if e.involved_object.kind == "Function"]


@pytest.fixture
def api(admin: Any, namespace: str) -> Api:
    from devcluster.controllers import fncontroller

    assert fncontroller.running(), "the dev cluster's function controller is not running: python -m devcluster up"
    return Api(admin, namespace)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") or "" for e in container.get("env") or []}  # "" is sent as no value


def test_a_function_becomes_its_configmap_deployment_and_service(api: Api) -> None:
    created = api.create(function("hello"))
    uid = created["metadata"]["uid"]
    deployment = wait_for(lambda: api.get("Deployment", "hello"), WAIT, what="the Deployment")
    configmap, service = api.get("ConfigMap", "hello"), api.get("Service", "hello")
    for obj in (configmap, service, deployment):
        assert obj["metadata"]["labels"]["function"] == "hello"
        assert obj["metadata"]["labels"]["created-by"] == "kubeless"
        assert obj["metadata"]["labels"]["team"] == "ml"  # the Function's own labels carry over
        [owner] = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Function", "hello", uid, True)
    assert configmap["data"] == {"handler": "hello.handler", "hello.py": SOURCE, "requirements.txt": ""}
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"function": "hello"}
    [port] = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http-function-port", 8080, 8080)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["kf.kubeflow.org/function-checksum"] == checksum(SOURCE)
    [prepare] = pod["spec"]["initContainers"]
    assert prepare["command"] == ["python3", "-m", "kfshell.runtime.prepare"]
    assert env_of(prepare)["FUNC_CHECKSUM"] == checksum(SOURCE)
    [container] = pod["spec"]["containers"]
    assert container["image"] == "kf-runtime:0.1.0"
    assert env_of(container) == {"FUNC_HANDLER": "handler", "MOD_NAME": "hello", "FUNC_TIMEOUT": "30",
                                 "FUNC_RUNTIME": "python3.11", "FUNC_MEMORY_LIMIT": "", "FUNC_PORT": "8080",
                                 "FUNC_NAME": "hello", "KUBELESS_INSTALL_VOLUME": "/kubeless"}
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsUser"] == 1000
    assert pod["spec"]["securityContext"]["fsGroup"] == 1000
    condition = api.wait_reason("hello", "Deploying", "Ready")
    status = api.function("hello")["status"]
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert "readyReplicas" in status and condition["status"] in ("True", "False")
    assert "Created" in {e["reason"] for e in api.events("hello")}


def test_a_new_source_rolls_the_deployment(api: Api) -> None:
    api.create(function("roll"))
    first = wait_for(lambda: api.get("Deployment", "roll"), WAIT, what="the Deployment")
    wait_for(lambda: api.apps.list_namespaced_replica_set(api.namespace, label_selector="function=roll").items,
             WAIT, what="the first ReplicaSet")
    changed = SOURCE.replace("one", "two")
    api.custom.patch_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "roll",
                                              {"spec": {"function": changed, "checksum": checksum(changed)}})

    def rolled() -> dict[str, Any] | None:
        found = api.get("Deployment", "roll")
        annotations = found["spec"]["template"]["metadata"]["annotations"]
        return found if annotations["kf.kubeflow.org/function-checksum"] == checksum(changed) else None

    second = wait_for(rolled, WAIT, what="the Deployment's pod template to name the new source")
    assert second["metadata"]["generation"] > first["metadata"]["generation"]
    assert api.get("ConfigMap", "roll")["data"]["hello.py"] == changed
    # The Deployment controller rolls it: a second ReplicaSet for the new template.
    wait_for(lambda: len(api.apps.list_namespaced_replica_set(api.namespace, label_selector="function=roll").items)
             == 2, WAIT, what="a new ReplicaSet")
    assert "Rolling" in {e["reason"] for e in api.events("roll")}


def test_a_source_that_does_not_match_its_checksum_is_never_deployed(api: Api) -> None:
    api.create(function("tampered", wanted=checksum("something else")))
    condition = api.wait_reason("tampered", "ChecksumMismatch")
    assert condition["status"] == "False"
    assert checksum(SOURCE) in condition["message"] and "not deployed" in condition["message"]
    for kind in ("ConfigMap", "Deployment", "Service"):
        assert api.get(kind, "tampered") is None, kind
    warnings = [e for e in api.events("tampered") if e["reason"] == "ChecksumMismatch"]
    assert warnings and warnings[0]["type"] == "Warning"


def test_an_existing_deployment_of_the_same_name_is_reported_and_left_alone(api: Api) -> None:
    mine = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "taken", "labels": {"app": "mine"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "mine"}},
                     "template": {"metadata": {"labels": {"app": "mine"}},
                                  "spec": {"containers": [{"name": "c", "image": "example/mine:1"}]}}}}
    before = api.admin.sanitize_for_serialization(api.apps.create_namespaced_deployment(api.namespace, mine))
    api.create(function("taken"))
    condition = api.wait_reason("taken", "Conflict")
    assert condition["status"] == "False"
    assert f"Deployment {api.namespace}/taken" in condition["message"] and "not taken over" in condition["message"]
    after = api.get("Deployment", "taken")
    assert after["metadata"].get("ownerReferences") is None
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["labels"] == {"app": "mine"}
    assert api.get("ConfigMap", "taken") is None and api.get("Service", "taken") is None  # nothing half-made
    assert "Conflict" in {e["reason"] for e in api.events("taken")}


def test_deleting_the_function_removes_everything_it_made(api: Api) -> None:
    api.create(function("gone"))
    wait_for(lambda: api.get("Deployment", "gone"), WAIT, what="the Deployment")
    api.custom.delete_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "gone")
    wait_for(lambda: all(api.get(kind, "gone") is None for kind in ("ConfigMap", "Deployment", "Service")),
             WAIT, what="the garbage collector to remove the Function's objects")


def test_the_controller_account_may_not_delete_or_read_secrets(api: Api) -> None:
    from kubernetes import client

    authz = client.AuthorizationV1Api(api.admin)

    def allowed(verb: str, resource: str, group: str = "") -> bool:
        review = authz.create_subject_access_review({"spec": {
            "user": "system:serviceaccount:kf-system:kf-function-controller",
            "resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": api.namespace}}})
        return bool(review.status.allowed)

    assert allowed("patch", "deployments", "apps") and allowed("patch", "functions/status", "kubeless.io")
    assert not allowed("delete", "deployments", "apps")
    assert not allowed("get", "secrets")
    assert not allowed("patch", "functions", "kubeless.io")


def test_a_command_alice_adds_to_her_namespace_is_deployed_and_removed_with_it(api: Api, kubeconfig: str,
                                                                              tmp_path: Path) -> None:
    module = tmp_path / "hello.py"
    module.write_text('KF_COMMAND = {"name": "hello", "help": "say hello"}\n\n\n'
                      "def handler(event, context):\n    return {'kind': 'message', 'text': 'hello'}\n")
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(tmp_path), NO_COLOR="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))

    def kf(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kfshell", "--context", "kf-alice", "-n", api.namespace, *words],
                              env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)

    added = kf("command", "add", "hello", str(module), "--scope", "namespace")
    assert added.returncode == 0, added.stderr
    if _opt_in():  # the dev cluster's controller takes only opted-in Functions for now (see fncontroller.py)
        api.custom.patch_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "hello",
                                                  {"metadata": {"labels": _opt_in()}})
    deployment = wait_for(lambda: api.get("Deployment", "hello"), WAIT, what="the Deployment of alice's command")
    assert deployment["metadata"]["labels"]["kf.kubeflow.org/subcommand"] == "hello"
    assert api.get("ConfigMap", "hello")["data"]["hello.py"] == module.read_text()
    assert api.get("Service", "hello")["spec"]["ports"][0]["name"] == "http-function-port"
    removed = kf("command", "remove", "hello", "--yes")
    assert removed.returncode == 0, removed.stderr
    wait_for(lambda: all(api.get(kind, "hello") is None for kind in ("ConfigMap", "Deployment", "Service")),
             WAIT, what="the objects of the removed command to go")


def test_a_pod_that_cannot_prepare_its_function_is_reported_with_its_reason(api: Api, current_image: None) -> None:
    """The node stand-in runs the prepare init container; pip failing there shows in the Function's status."""
    api.create(function("nodeps", deps="--no-index\nkf-no-such-package==9.9\n"))
    condition = api.wait_reason("nodeps", "Failed")
    assert condition["status"] == "False"
    assert "init container prepare exited 1" in condition["message"]
    assert "pip install -r requirements.txt failed" in condition["message"]
    assert "kf-no-such-package" in condition["message"]
    assert api.function("nodeps")["status"]["readyReplicas"] == 0


def test_the_informer_lists_watches_and_lists_again_when_its_version_expired(admin: Any, kubeconfig: str,
                                                                            namespace: str) -> None:
    """The controller's list+watch (kfshell.fncontroller.informer) against the real API server."""
    import threading

    from kfshell.clients import api_client
    from kfshell.fncontroller import informer
    from kfshell.kubeconfig import load_kubeconfig

    api = api_client(load_kubeconfig(kubeconfig, context="kf-admin"))
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    watcher = informer.Informer(api, f"/api/v1/namespaces/{namespace}/configmaps", lambda kind, obj: seen.append(
        (kind, obj["metadata"]["name"])), stop, selector="kf-test=informer")
    core = Api(admin, namespace).core
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before", "labels": {"kf-test": "informer"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unlabelled"}})
    watcher.start()
    try:
        wait_for(watcher.synced.is_set, WAIT, what="the first list")
        assert ("ADDED", "before") in seen and all(name != "unlabelled" for _, name in seen)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "after", "labels": {"kf-test": "informer"}}})
        wait_for(lambda: watcher.get(namespace, "after"), WAIT, what="the watch to bring the new ConfigMap")
        core.delete_namespaced_config_map("before", namespace)
        wait_for(lambda: ("DELETED", "before") in seen, WAIT, what="the watch to bring the deletion")
        assert watcher.get(namespace, "before") is None
        # A version the server no longer has (410 Gone) means: list again.
        with pytest.raises(informer._Gone):
            watcher._watch("1")
    finally:
        stop.set()
        watcher.close()
        watcher.join(10)


def test_a_kubeless_autoscaler_is_made_in_autoscaling_v2_and_removed_with_the_spec(api: Api) -> None:
    from kubernetes import client

    autoscaling = client.AutoscalingV2Api(api.admin)
    kubeless_hpa = {"metadata": {"name": "scaled"}, "spec": {  # as `kubeless autoscale create` wrote it (v2beta1)
        "scaleTargetRef": {"kind": "Deployment", "name": "scaled"}, "minReplicas": 1, "maxReplicas": 4,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 60}}]}}
    api.create(function("scaled", horizontalPodAutoscaler=kubeless_hpa))

    def hpa() -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        try:
            return api.admin.sanitize_for_serialization(
                autoscaling.read_namespaced_horizontal_pod_autoscaler("scaled", api.namespace))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    made = wait_for(hpa, WAIT, what="the HorizontalPodAutoscaler")
    assert made["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "scaled"}
    assert made["spec"]["maxReplicas"] == 4
    assert made["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert made["metadata"]["ownerReferences"][0]["name"] == "scaled"
    api.custom.patch_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "scaled",
                                              {"spec": {"horizontalPodAutoscaler": None}})
    wait_for(lambda: hpa() is None, WAIT, what="the autoscaler to go with its spec")
    assert api.get("Deployment", "scaled") is not None


def test_a_function_made_again_at_once_takes_its_place_once_the_old_objects_are_collected(api: Api) -> None:
    api.create(function("again"))
    wait_for(lambda: api.get("Deployment", "again"), WAIT, what="the first Deployment")
    api.custom.delete_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "again")
    uid = api.create(function("again", SOURCE.replace("one", "two")))["metadata"]["uid"]

    def owned_by_the_new_one() -> bool:
        objects = [api.get(kind, "again") for kind in ("ConfigMap", "Deployment", "Service")]
        return all(o and o["metadata"]["ownerReferences"][0]["uid"] == uid for o in objects)

    wait_for(owned_by_the_new_one, WAIT, what="the new Function's own objects")
    assert api.get("ConfigMap", "again")["data"]["hello.py"] == SOURCE.replace("one", "two")
    # The earlier Function's leftovers were waited for, not reported as someone else's.
    assert all(e["reason"] != "Conflict" for e in api.events("again") if e["involvedObject"]["uid"] == uid)


@pytest.fixture(scope="module")
def current_image() -> None:
    """The stand-in runs pods from the runtime image's rootfs: it must hold this tree's kfshell."""
    from images import build

    try:
        build.build()
    except build.BuildError as err:
        pytest.fail(f"the image did not build: {err}", pytrace=False)


def test_deploy_yaml_runs_the_controller_in_cluster_from_the_image(api: Api, current_image: None) -> None:
    """deploy.yaml's account, RBAC and Deployment, in a namespace of their own, run by the node stand-in from the
    runtime image with in-cluster credentials; it watches the test's namespace only (--namespace) and applies
    what a Function there asks for (beside the dev cluster's own controller, which applies the same)."""
    import uuid

    import yaml
    from kubernetes import client

    from kfshell.fncontroller import render

    home = f"kf-test-fnc-{uuid.uuid4().hex[:8]}"
    binding = f"kf-function-controller-{home}"
    docs = {d["kind"]: d for d in yaml.safe_load_all((Path(render.__file__).parent / "deploy.yaml").read_text())}
    docs["ClusterRoleBinding"]["metadata"]["name"] = binding
    docs["ClusterRoleBinding"]["subjects"][0]["namespace"] = home
    deployment = docs["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["command"] += [f"--namespace={api.namespace}", "-v"]
    # The dev cluster's node stand-in runs the pods labelled as function pods (KWOK only pretends to run others).
    deployment["spec"]["template"]["metadata"]["labels"]["created-by"] = "kubeless"
    rbac = client.RbacAuthorizationV1Api(api.admin)
    api.core.create_namespace({"metadata": {"name": home, "labels": {"kf.kubeflow.org/test": "true"}}})
    try:
        wait_for(lambda: api.core.list_namespaced_service_account(home, field_selector="metadata.name=default").items,
                 WAIT, what=f"service account default in {home}")
        api.core.create_namespaced_service_account(home, docs["ServiceAccount"])
        rbac.create_cluster_role_binding(docs["ClusterRoleBinding"])
        api.apps.create_namespaced_deployment(home, deployment)

        def ready_pod() -> str | None:
            for pod in api.core.list_namespaced_pod(home, label_selector="app.kubernetes.io/name="
                                                    "kf-function-controller").items:
                if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
                    return pod.metadata.name
            return None

        pod = wait_for(ready_pod, 120, interval=0.5, what="the in-cluster controller's pod to be Ready (/readyz)")
        api.create(function("incluster"))

        def log() -> str:
            return api.core.read_namespaced_pod_log(pod, home)

        wait_for(lambda: f"{api.namespace}/incluster: applied Deployment" in log(), WAIT,
                 what="the in-cluster controller to apply the Function's Deployment")
        assert "https://10.96.0.1:443" in log()  # the kubernetes Service, as a pod reaches the API server
        assert "WARNING" not in log()
    finally:
        rbac.delete_cluster_role_binding(binding)
        api.core.delete_namespace(home)


def test_a_spec_deployment_the_api_server_refuses_makes_the_function_invalid_with_its_reason(api: Api) -> None:
    api.create(function("refused", deployment={"spec": {"replicas": -1}}))
    condition = api.wait_reason("refused", "Invalid")
    assert condition["status"] == "False"
    assert condition["message"].startswith("the API server refused the Deployment:")
    assert "replicas" in condition["message"]
    api.custom.patch_namespaced_custom_object(GROUP, VERSION, api.namespace, PLURAL, "refused",
                                              {"spec": {"deployment": {"spec": {"replicas": 1}}}})
    api.wait_reason("refused", "Deploying", "Ready")  # fixed: deployed
    assert api.get("Deployment", "refused")["spec"]["replicas"] == 1


@pytest.fixture
def source_server(tmp_path: Path):
    """SOURCE over HTTP on every host address: pods reach the host at the kubernetes Service's address."""
    import http.server
    import threading

    from devcluster import podhost

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.py").write_text(SOURCE)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{podhost.SERVICE_HOST}:{server.server_address[1]}/hello.py"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_source_is_downloaded_by_the_pod_and_checked_there(api: Api, source_server: str,
                                                                 current_image: None) -> None:
    api.create(function("fetched", source_server, wanted=checksum(SOURCE), **{"function-content-type": "url"}))
    api.create(function("stale", source_server, wanted=checksum("an older version"),
                        **{"function-content-type": "url"}))
    assert api.get("ConfigMap", "fetched") is None or "hello.py" not in api.get("ConfigMap", "fetched")["data"]
    ready = api.wait_reason("fetched", "Ready")
    assert ready["status"] == "True"  # the runtime serves the downloaded module (/healthz answers)
    assert api.get("ConfigMap", "fetched")["data"]["source-url"] == source_server
    failed = api.wait_reason("stale", "Failed")
    assert "init container prepare exited 2" in failed["message"] and "checksum mismatch" in failed["message"]
