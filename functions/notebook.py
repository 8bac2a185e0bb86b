"""`notebook`: Kubeflow notebook servers (`kubeflow.org/v1` Notebook), as the Jupyter web app makes and shows them.

`create` builds the Notebook the web app's form would (image, CPU and memory requests with limits 1.2 times
them, GPUs as `nvidia.com/gpu` limits, shared memory, a workspace PVC), checks everything with a server-side
dry run, then creates the PVCs and the Notebook, all or nothing. `stop` and `start` set and remove the
`kubeflow-resource-stopped` annotation as the web app does (the controller then scales the StatefulSet to 0
and back). The state `ls` shows is the web app's: ready, waiting, warning, terminating, stopped, stopping.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from kfshell import discovery as d
from kfshell import fnkit
from kfshell import workloads as w

KF_COMMAND = {'name': 'notebook',
 'help': 'notebook servers: ls, create, start, stop, describe, delete',
 'timeout': 330,
 'requires': [{'verb': 'list', 'group': 'kubeflow.org', 'resource': 'notebooks', 'namespace': '$namespace'}],
 'subcommands': [{'name': 'ls',
                  'help': 'notebooks with image, state (and why), CPU/memory/GPU, age and URL path',
                  'default': True},
                 {'name': 'create',
                  'help': 'a notebook server, with a workspace volume, as the Jupyter web app makes it',
                  'requires': [{'verb': 'create',
                                'group': 'kubeflow.org',
                                'resource': 'notebooks',
                                'namespace': '$namespace'}],
                  'arguments': [{'name': 'name',
                                 'help': "the new notebook's name (a DNS-1123 label)",
                                 'required': True},
                                {'name': 'image',
                                 'kind': 'option',
                                 'flags': ['--image'],
                                 'help': "an image, or one of Kubeflow's by name: scipy (default), pytorch, "
                                         'pytorch-cuda, tensorflow, tensorflow-cuda, codeserver, rstudio'},
                                {'name': 'cpu',
                                 'kind': 'option',
                                 'flags': ['--cpu'],
                                 'help': 'CPU request, e.g. 0.5 or 2 (default 0.5)'},
                                {'name': 'memory',
                                 'kind': 'option',
                                 'flags': ['--memory'],
                                 'help': 'memory request, e.g. 1Gi (default 1Gi)'},
                                {'name': 'gpu',
                                 'kind': 'option',
                                 'flags': ['--gpu'],
                                 'type': 'int',
                                 'help': 'NVIDIA GPUs (nvidia.com/gpu)'},
                                {'name': 'volume',
                                 'kind': 'option',
                                 'flags': ['--volume'],
                                 'repeat': True,
                                 'help': 'SIZE (a new PVC, e.g. 10Gi) or an existing PVC, with :MOUNT; the first '
                                         'is the workspace (/home/jovyan; default a new 5Gi PVC NAME-workspace)'},
                                {'name': 'no_volume',
                                 'kind': 'flag',
                                 'flags': ['--no-volume'],
                                 'help': 'no workspace volume'},
                                {'name': 'wait',
                                 'kind': 'flag',
                                 'flags': ['--wait'],
                                 'help': 'wait until the notebook reaches the state (the default on a terminal)'},
                                {'name': 'no_wait',
                                 'kind': 'flag',
                                 'flags': ['--no-wait'],
                                 'help': 'return at once'},
                                {'name': 'timeout',
                                 'kind': 'option',
                                 'flags': ['--timeout'],
                                 'type': 'int',
                                 'help': 'seconds to wait (default 300)'}]},
                 {'name': 'start',
                  'help': 'start a stopped notebook',
                  'requires': [{'verb': 'patch',
                                'group': 'kubeflow.org',
                                'resource': 'notebooks',
                                'namespace': '$namespace'}],
                  'arguments': [{'name': 'name', 'help': 'the notebook', 'required': True, 'complete': 'notebooks'},
                                {'name': 'wait',
                                 'kind': 'flag',
                                 'flags': ['--wait'],
                                 'help': 'wait until the notebook reaches the state (the default on a terminal)'},
                                {'name': 'no_wait',
                                 'kind': 'flag',
                                 'flags': ['--no-wait'],
                                 'help': 'return at once'},
                                {'name': 'timeout',
                                 'kind': 'option',
                                 'flags': ['--timeout'],
                                 'type': 'int',
                                 'help': 'seconds to wait (default 300)'}]},
                 {'name': 'stop',
                  'help': 'stop a notebook (its pod goes; the workspace stays)',
                  'requires': [{'verb': 'patch',
                                'group': 'kubeflow.org',
                                'resource': 'notebooks',
                                'namespace': '$namespace'}],
                  'arguments': [{'name': 'name', 'help': 'the notebook', 'required': True, 'complete': 'notebooks'},
                                {'name': 'wait',
                                 'kind': 'flag',
                                 'flags': ['--wait'],
                                 'help': 'wait until the notebook reaches the state (the default on a terminal)'},
                                {'name': 'no_wait',
                                 'kind': 'flag',
                                 'flags': ['--no-wait'],
                                 'help': 'return at once'},
                                {'name': 'timeout',
                                 'kind': 'option',
                                 'flags': ['--timeout'],
                                 'type': 'int',
                                 'help': 'seconds to wait (default 300)'}]},
                 {'name': 'describe',
                  'help': "a notebook's state and why, resources, volumes, pod, URL and conditions",
                  'requires': [{'verb': 'get',
                                'group': 'kubeflow.org',
                                'resource': 'notebooks',
                                'namespace': '$namespace'}],
                  'arguments': [{'name': 'name',
                                 'help': 'the notebook',
                                 'required': True,
                                 'complete': 'notebooks'}]},
                 {'name': 'delete',
                  'help': 'delete a notebook (its workspace PVC stays)',
                  'confirm': 'delete notebook {name}',
                  'requires': [{'verb': 'delete',
                                'group': 'kubeflow.org',
                                'resource': 'notebooks',
                                'namespace': '$namespace'}],
                  'arguments': [{'name': 'name', 'help': 'the notebook', 'required': True, 'complete': 'notebooks'},
                                {'name': 'yes', 'kind': 'flag', 'flags': ['-y', '--yes'], 'help': 'do not ask'}]}]}

STOP_ANNOTATION = d.NOTEBOOK_STOPPED
REGISTRY = "kubeflownotebookswg"
IMAGES = {
    "scipy": f"{REGISTRY}/jupyter-scipy:v1.10.0",
    "pytorch": f"{REGISTRY}/jupyter-pytorch-full:v1.10.0",
    "pytorch-cuda": f"{REGISTRY}/jupyter-pytorch-cuda-full:v1.10.0",
    "tensorflow": f"{REGISTRY}/jupyter-tensorflow-full:v1.10.0",
    "tensorflow-cuda": f"{REGISTRY}/jupyter-tensorflow-cuda-full:v1.10.0",
    "codeserver": f"{REGISTRY}/codeserver-python:v1.10.0",
    "rstudio": f"{REGISTRY}/rstudio-tidyverse:v1.10.0",
}
SERVER_TYPES = {"codeserver": "group-one", "rstudio": "group-two"}  # the web app's names for them
DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_WORKSPACE = "0.5", "1Gi", "5Gi"
LIMIT_FACTOR = 1.2
HOME = "/home/jovyan"
GPU = "nvidia.com/gpu"
COLUMNS = ["NAME", "IMAGE", "STATE", "CPU", "MEMORY", "GPU", "AGE", "URL"]
WIDE = ["REASON", "VOLUMES"]
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = fnkit.request(event)
    api = fnkit.api_client(event)
    res = w.resource(api, d.KINDS["notebooks"])
    sub = req.subcommand or "ls"
    if sub == "ls":
        return fnkit.table(COLUMNS, [ls_row(nb) for nb in sorted(w.listed(api, res, req.namespace),
                                                                  key=lambda o: o["metadata"]["name"])], WIDE)
    name = fnkit.check_name(str(req.arg("name", "")), "notebook")
    if sub == "create":
        return create(event, req, api, res, name)
    if sub in ("start", "stop"):
        return start_stop(req, api, res, name, stop=sub == "stop")
    if sub == "describe":
        return fnkit.object(describe(api, res, req.namespace, name))
    if sub == "delete":
        w.delete(api, res, req.namespace, name, "notebook")
        return fnkit.message(f"notebook {name} deleted (its volumes stay)")
    raise fnkit.FunctionError("Usage", f"unknown subcommand 'notebook {sub}'",
                              hint="use ls, create, start, stop, describe or delete")


# ---- state, as the Jupyter web app computes it ------------------------------------------------------------


def shown_state(nb: dict[str, Any]) -> str:
    phase, why = d.notebook_state(nb)
    if phase in ("waiting", "warning"):
        return f"{phase} ({why.split(':')[0]})"
    return phase


def _container(nb: dict[str, Any]) -> dict[str, Any]:
    containers = (((nb.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return containers[0]


def ls_row(nb: dict[str, Any]) -> list[Any]:
    meta = nb.get("metadata") or {}
    container = _container(nb)
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    image = container.get("image", "")
    volumes = [v.get("persistentVolumeClaim", {}).get("claimName") for v in
               (((nb.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
               if v.get("persistentVolumeClaim")]
    return [meta.get("name", ""), image.rsplit("/", 1)[-1], shown_state(nb),
            str(requests.get("cpu") or limits.get("cpu") or ""),
            str(requests.get("memory") or limits.get("memory") or ""),
            str(limits.get(GPU) or requests.get(GPU) or 0), d.age(meta.get("creationTimestamp")),
            url_path(meta.get("namespace", ""), meta.get("name", "")), d.notebook_state(nb)[1], ",".join(volumes)]


def url_path(namespace: str, name: str) -> str:
    return f"/notebook/{namespace}/{name}/"


# ---- create ------------------------------------------------------------------------------------------------


def quantity(value: str, what: str) -> str:
    """A Kubernetes quantity as given; a usage error naming the flag when it is not one."""
    text = str(value).strip()
    if not _QUANTITY.match(text) or float(_QUANTITY.match(text).group(1)) <= 0:
        raise fnkit.FunctionError("Usage", f"{what} {value!r} is not a positive quantity",
                                  hint="e.g. --cpu 0.5 or --cpu 500m, --memory 2Gi, --volume 10Gi")
    return text


def scaled(value: str, factor: float = LIMIT_FACTOR) -> str:
    """A quantity times `factor` (the web app's limit factor): 0.5 → 0.6, 1Gi → 1.2Gi, 500m → 600m."""
    number, unit = _QUANTITY.match(value).groups()
    result = round(float(number) * factor, 3)
    text = f"{result:.3f}".rstrip("0").rstrip(".")
    return f"{text}{unit or ''}"


def parse_volumes(name: str, specs: list[str], no_volume: bool) -> list[dict[str, Any]]:
    """[{pvc, size (None: an existing claim), mount}] from `--volume SIZE|PVC[:MOUNT]`; the first is the workspace."""
    if no_volume:
        if specs:
            raise fnkit.FunctionError("Usage", "--no-volume and --volume do not go together")
        return []
    specs = specs or [DEFAULT_WORKSPACE]
    volumes = []
    for i, spec in enumerate(specs):
        source, _, mount = str(spec).partition(":")
        mount = mount or (HOME if i == 0 else f"/home/jovyan/{source if not _QUANTITY.match(source) else f'data-{i}'}")
        if not mount.startswith("/"):
            raise fnkit.FunctionError("Usage", f"--volume {spec}: the mount path {mount!r} must be absolute")
        if _QUANTITY.match(source):
            pvc = f"{name}-workspace" if i == 0 else f"{name}-volume-{i}"
            volumes.append({"pvc": pvc, "size": quantity(source, "--volume"), "mount": mount})
        else:
            volumes.append({"pvc": fnkit.check_name(source, "PVC"), "size": None, "mount": mount})
    mounts = [v["mount"] for v in volumes]
    if len(set(mounts)) != len(mounts):
        raise fnkit.FunctionError("Usage", "two volumes are mounted at the same path")
    return volumes


def image_of(choice: str | None) -> tuple[str, str]:
    """(image, server type) for `--image`: one of Kubeflow's by short name, or any image as given."""
    if not choice:
        return IMAGES["scipy"], "jupyter"
    if choice in IMAGES:
        return IMAGES[choice], SERVER_TYPES.get(choice, "jupyter")
    if "/" not in choice and ":" not in choice and "." not in choice:
        from kfshell.names import did_you_mean

        raise fnkit.FunctionError("Usage", f"--image {choice!r} is not one of Kubeflow's images",
                                  hint=did_you_mean(choice, IMAGES) or f"use one of {', '.join(IMAGES)}, "
                                  "or a full image reference")
    return choice, "jupyter"


def notebook_manifest(name: str, namespace: str, *, image: str, server_type: str, cpu: str, memory: str,
                      gpu: int, volumes: list[dict[str, Any]], creator: str,
                      service_account: str | None) -> dict[str, Any]:
    """The Notebook the Jupyter web app's form makes for these choices."""
    limits: dict[str, Any] = {"cpu": scaled(cpu), "memory": scaled(memory)}
    if gpu:
        limits[GPU] = str(gpu)
    mounts = [{"name": "dshm", "mountPath": "/dev/shm"}]
    pod_volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    for v in volumes:
        mounts.append({"name": v["pvc"], "mountPath": v["mount"]})
        pod_volumes.append({"name": v["pvc"], "persistentVolumeClaim": {"claimName": v["pvc"]}})
    annotations = {"notebooks.kubeflow.org/server-type": server_type}
    if creator:
        annotations["notebooks.kubeflow.org/creator"] = creator
    if server_type != "jupyter":
        annotations["notebooks.kubeflow.org/http-rewrite-uri"] = "/"
    pod: dict[str, Any] = {
        "containers": [{
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
            "volumeMounts": mounts,
        }],
        "volumes": pod_volumes,
    }
    if service_account:
        pod["serviceAccountName"] = service_account
    return {"apiVersion": "kubeflow.org/v1", "kind": "Notebook",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, "annotations": annotations},
            "spec": {"template": {"spec": pod}}}


def pvc_manifest(name: str, namespace: str, size: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


_PVCS = d.Resource(group="", version="v1", kind="PersistentVolumeClaim", plural="persistentvolumeclaims",
                   namespaced=True)


def create(event: dict[str, Any], req: fnkit.Request, api: Any, res: d.Resource, name: str) -> dict[str, Any]:
    ns = req.namespace
    image, server_type = image_of(req.arg("image"))
    cpu = quantity(req.arg("cpu", DEFAULT_CPU), "--cpu")
    memory = quantity(req.arg("memory", DEFAULT_MEMORY), "--memory")
    gpu = int(req.arg("gpu", 0))
    if gpu < 0:
        raise fnkit.FunctionError("Usage", "--gpu cannot be negative")
    volumes = parse_volumes(name, list(req.arg("volume", [])), bool(req.arg("no_volume")))
    _refuse_taken(api, res, ns, name, volumes)
    account = "default-editor" if _exists(api, f"/api/v1/namespaces/{ns}/serviceaccounts/default-editor") else None
    nb = notebook_manifest(name, ns, image=image, server_type=server_type, cpu=cpu, memory=memory, gpu=gpu,
                           volumes=volumes, creator=w.caller_name(event, req, api), service_account=account)
    new_pvcs = [pvc_manifest(v["pvc"], ns, v["size"]) for v in volumes if v["size"]]
    # Everything is checked by the server first; only then is anything made.
    w.check_and_create(api, res, ns, nb, f"notebook {name}", dry_run_only=True)
    for pvc in new_pvcs:
        w.check_and_create(api, _PVCS, ns, pvc, f"PVC {pvc['metadata']['name']}", dry_run_only=True)
    made: list[str] = []
    try:
        for pvc in new_pvcs:
            w.check_and_create(api, _PVCS, ns, pvc, f"PVC {pvc['metadata']['name']}")
            made.append(pvc["metadata"]["name"])
        w.check_and_create(api, res, ns, nb, f"notebook {name}")
    except BaseException as err:
        for pvc_name in made:  # all or nothing: the volumes made for this notebook go again
            w.delete_quietly(api, _PVCS.path(ns, pvc_name))
        raise w.nothing_created(err) from None
    storage = ", ".join(f"{v['pvc']} at {v['mount']}" + (f" (new, {v['size']})" if v["size"] else "")
                        for v in volumes) or "no volumes"
    text = (f"notebook {name} created: {image}, {cpu} CPU, {memory} memory"
            + (f", {gpu} GPU" if gpu else "") + f"; {storage}; URL path {url_path(ns, name)}")
    if w.waits(req):
        _wait_for(api, res, ns, name, req, ("ready",))
        text += "; it is ready"
    return fnkit.message(text)


def _refuse_taken(api: Any, res: d.Resource, ns: str, name: str, volumes: list[dict[str, Any]]) -> None:
    if _exists(api, res.path(ns, name)):
        raise fnkit.FunctionError("AlreadyExists", f"notebook {name} already exists in namespace {ns}",
                                  hint="pick another name, or `notebook start` it")
    for v in volumes:
        there = _exists(api, _PVCS.path(ns, v["pvc"]))
        if v["size"] and there:
            raise fnkit.FunctionError("AlreadyExists", f"PVC {v['pvc']} already exists in namespace {ns}",
                                      hint=f"mount it with --volume {v['pvc']}:{v['mount']}")
        if not v["size"] and not there:
            raise fnkit.FunctionError("NotFound", f"PVC {v['pvc']} not found in namespace {ns}",
                                      hint="give a size (e.g. --volume 10Gi) for a new one")


def _exists(api: Any, path: str) -> bool:
    from kfshell.cluster import ApiError, request_json

    try:
        request_json(api, "GET", path)
    except ApiError as err:
        if err.status in (403, 404):  # may not look: the create says whether it is allowed
            return False
        raise
    return True


# ---- start, stop, describe ---------------------------------------------------------------------------------


def start_stop(req: fnkit.Request, api: Any, res: d.Resource, name: str, *, stop: bool) -> dict[str, Any]:
    ns = req.namespace
    nb = w.get(api, res, ns, name, "notebook")
    stopped = STOP_ANNOTATION in ((nb.get("metadata") or {}).get("annotations") or {})
    if stop and stopped:
        raise fnkit.FunctionError("Conflict", f"notebook {name} is already stopped", hint="`notebook start` it")
    if not stop and not stopped:
        return fnkit.message(f"notebook {name} is not stopped ({d.notebook_state(nb)[0]})")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    w.merge_patch(api, res, ns, name, {"metadata": {"annotations": {STOP_ANNOTATION: when if stop else None}}})
    verb = "stopped" if stop else "started"
    if not w.waits(req):
        return fnkit.message(f"notebook {name} {verb}")
    _wait_for(api, res, ns, name, req, ("stopped",) if stop else ("ready",))
    return fnkit.message(f"notebook {name} {verb}: it is {'stopped' if stop else 'ready'}")


def _wait_for(api: Any, res: d.Resource, ns: str, name: str, req: fnkit.Request, phases: tuple[str, ...]) -> None:
    def read() -> dict[str, Any]:
        return w.get(api, res, ns, name, "notebook")

    w.wait_until(read, lambda nb: d.notebook_state(nb)[0] in phases, float(req.arg("timeout", 300)), f"notebook {name}",
                 lambda nb: "{} ({})".format(*d.notebook_state(nb)))


def describe(api: Any, res: d.Resource, ns: str, name: str) -> dict[str, Any]:
    nb = w.get(api, res, ns, name, "notebook")
    meta, status = nb.get("metadata") or {}, nb.get("status") or {}
    container = _container(nb)
    phase, why = d.notebook_state(nb)
    pods = d.try_list(api, f"/api/v1/namespaces/{ns}/pods", "pods", selector=f"notebook-name={name}")
    events = d.try_list(api, f"/api/v1/namespaces/{ns}/events", "events", field_selector="type=Warning")
    mine = {name} | {p["metadata"]["name"] for p in pods.items}
    warnings = [f"{e.get('reason', '')}: {(e.get('message') or '').strip()}" for e in events.items
                if (e.get("involvedObject") or {}).get("name") in mine][-5:]
    spec = ((nb.get("spec") or {}).get("template") or {}).get("spec") or {}
    info = {
        "name": name, "namespace": ns, "state": phase, "reason": why, "image": container.get("image", ""),
        "resources": container.get("resources") or {},
        "volumes": [{"pvc": v["persistentVolumeClaim"].get("claimName"),
                     "mount": next((m.get("mountPath") for m in container.get("volumeMounts") or []
                                    if m.get("name") == v.get("name")), "")}
                    for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")],
        "url": url_path(ns, name), "created": meta.get("creationTimestamp"),
        "stoppedSince": (meta.get("annotations") or {}).get(STOP_ANNOTATION),
        "readyReplicas": int(status.get("readyReplicas") or 0),
        "containerState": status.get("containerState") or {},
        "conditions": w.conditions_view(nb),
        "pods": [{"name": p["metadata"]["name"], "phase": (p.get("status") or {}).get("phase", "")}
                 for p in pods.items],
        "warnings": warnings,
    }
    return {k: v for k, v in info.items() if v not in (None, "", [], {})} | {"state": phase}
