"""`status`: the Kubeflow components and a data scientist's own services, their health, and details.

Components are the Deployments and StatefulSets in `kubeflow` and the current namespace that the Kubeflow
manifests' labels identify (kfshell.discovery). Alongside them `status list` shows what a data scientist looks
for in the current namespace: notebooks, jobs (running and finished: the job history), inference services and
tensorboards. Kinds whose CRD is missing are left out; lists the caller may not read are named in `warnings`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kfshell import discovery as d
from kfshell import fnkit

KF_COMMAND = {
    "name": "status",
    "help": "Kubeflow components and your services: list, health, info",
    "timeout": 30,
    "requires": [{"verb": "list", "group": "apps", "resource": "deployments", "namespace": "$namespace"}],
    "subcommands": [
        {
            "name": "list",
            "help": "components with ready/desired replicas, age and version; notebooks, jobs, services",
            "default": True,
            "arguments": [
                {"name": "component", "help": "show only this component (or notebook, job ...)",
                 "complete": "workloads"},
            ],
        },
        {
            "name": "health",
            "help": "per component: pods ready, restarts, recent warnings; exits 1 when something is unhealthy",
            "requires": [{"verb": "list", "group": "", "resource": "pods", "namespace": "$namespace"}],
            "arguments": [
                {"name": "component", "help": "check only this component", "complete": "components"},
            ],
        },
        {
            "name": "info",
            "help": "a component's images, services, endpoints and URLs",
            "requires": [{"verb": "list", "group": "", "resource": "services", "namespace": "$namespace"}],
            "arguments": [
                {"name": "component", "help": "the component", "required": True, "complete": "components"},
            ],
        },
    ],
}

LIST_COLUMNS = ["NAME", "TYPE", "NAMESPACE", "READY", "STATUS", "AGE", "VERSION"]
LIST_WIDE = ["WORKLOAD", "IMAGES", "URL"]
HEALTH_COLUMNS = ["NAME", "NAMESPACE", "PODS", "RESTARTS", "WARNINGS", "HEALTH", "MESSAGE"]
WARNING_WINDOW = 3600  # seconds: Warning events older than this no longer count as "recent"
BAD_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
               "CreateContainerError", "InvalidImageName", "RunContainerError")


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = fnkit.request(event)
    api = fnkit.api_client(event)
    sub = req.subcommand or "list"
    if sub == "list":
        return status_list(api, req.namespace, req.arg("component"))
    if sub == "health":
        return status_health(api, req.namespace, req.arg("component"))
    if sub == "info":
        return status_info(api, req.namespace, req.arg("component"), server=req.server(api))
    raise fnkit.FunctionError("Usage", f"unknown subcommand 'status {sub}'", hint="use list, health or info")


# ---- status list ----------------------------------------------------------------------------------------


def status_list(api: Any, namespace: str, query: str | None) -> dict[str, Any]:
    found = d.parallel(lambda job: job(), [
        lambda: d.list_components(api, d.component_namespaces(namespace)),
        lambda: _services(api, d.discover(api), namespace),
    ], workers=2)
    (components, skipped), (services, more_skipped) = found
    rows = [_component_row(c) for c in components if query is None or c.matches(query)]
    rows += [row for row in services if query is None or row[0] == query]
    if query is not None and not rows:
        names = {c.name for c in components} | {row[0] for row in services}
        raise fnkit.not_found("component", query, names)
    result = fnkit.table(LIST_COLUMNS, rows, LIST_WIDE)
    return _with_warnings(result, skipped + more_skipped)


def _component_row(c: Any) -> list[Any]:
    if c.desired == 0:
        state = "ScaledDown"
    elif c.ready >= c.desired:
        state = "Ready"
    elif c.ready == 0:
        state = "Unavailable"
    else:
        state = "Degraded"
    return [c.name, "component", c.namespace, f"{c.ready}/{c.desired}", state, c.created, c.version,
            f"{c.kind.lower()}/{c.workload}", ",".join(c.images), ""]


def _services(api: Any, discovery: Any, namespace: str) -> tuple[list[list[Any]], tuple[str, ...]]:
    """Rows for the caller's notebooks, jobs, inference services and tensorboards in `namespace`."""
    keys = ["notebooks", "tensorboards", "inferenceservices", *d.JOB_KINDS]
    listings = d.parallel(lambda key: d.list_kind(api, discovery, key, namespace), keys)
    rows: list[list[Any]] = []
    skipped: list[str] = []
    for key, listing in zip(keys, listings, strict=True):
        skipped.extend(s for s in listing.skipped if "not allowed" in s)
        items = listing.items
        if key == "notebooks":
            items = _with_statefulset_status(api, namespace, items)
        summarize = _SUMMARIES.get(key, _job_row)
        rows.extend(summarize(obj, d.KINDS[key].label) for obj in items)
    return rows, tuple(skipped)


def _with_statefulset_status(api: Any, namespace: str, notebooks: Any) -> list[dict[str, Any]]:
    """Notebooks whose controller wrote no status get the ready count of their StatefulSet."""
    if all("readyReplicas" in (nb.get("status") or {}) for nb in notebooks):
        return list(notebooks)
    sets = d.try_list(api, f"/apis/apps/v1/namespaces/{namespace}/statefulsets", "statefulsets",
                      selector="notebook-name")
    ready = {(s.get("metadata") or {}).get("labels", {}).get("notebook-name"):
             int((s.get("status") or {}).get("readyReplicas") or 0) for s in sets.items}
    filled = []
    for nb in notebooks:
        status = nb.get("status") or {}
        name = (nb.get("metadata") or {}).get("name")
        if "readyReplicas" not in status and name in ready:
            nb = {**nb, "status": {**status, "readyReplicas": ready[name]}}
        filled.append(nb)
    return filled


def _notebook_row(nb: dict[str, Any], label: str) -> list[Any]:
    meta, status = nb.get("metadata") or {}, nb.get("status") or {}
    containers = (((nb.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = containers[0].get("image", "")
    ready = int(status.get("readyReplicas") or 0)
    state, why = d.notebook_state(nb)  # as `notebook ls` and the Jupyter web app tell it
    phase = f"{state.capitalize()} ({why.split(':')[0]})" if state in ("waiting", "warning") else state.capitalize()
    return [meta.get("name", ""), label, meta.get("namespace", ""), f"{ready}/1", phase,
            meta.get("creationTimestamp"), d.image_version(image), "", image, ""]


def _job_row(job: dict[str, Any], label: str) -> list[Any]:
    meta = job.get("metadata") or {}
    state = d.latest_condition(job) or ("Suspended" if (job.get("spec") or {}).get("suspend") else "Created")
    return [meta.get("name", ""), label, meta.get("namespace", ""), "-", state,
            meta.get("creationTimestamp"), "", "", "", ""]


def _inference_row(isvc: dict[str, Any], label: str) -> list[Any]:
    meta, status = isvc.get("metadata") or {}, isvc.get("status") or {}
    ready = d.condition_is(isvc, "Ready")
    return [meta.get("name", ""), label, meta.get("namespace", ""), "1/1" if ready else "0/1",
            "Ready" if ready else (d.latest_condition(isvc) or "NotReady"), meta.get("creationTimestamp"),
            "", "", "", status.get("url") or ""]


def _tensorboard_row(tb: dict[str, Any], label: str) -> list[Any]:
    meta, status = tb.get("metadata") or {}, tb.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    return [meta.get("name", ""), label, meta.get("namespace", ""), f"{ready}/1",
            "Ready" if ready else (d.latest_condition(tb) or "Pending"), meta.get("creationTimestamp"),
            "", "", "", ""]


_SUMMARIES = {"notebooks": _notebook_row, "inferenceservices": _inference_row, "tensorboards": _tensorboard_row}


def _with_warnings(result: dict[str, Any], skipped: tuple[str, ...] | list[str]) -> dict[str, Any]:
    if skipped:
        result["warnings"] = [f"left out {s}" for s in skipped]
    return result


# ---- status health --------------------------------------------------------------------------------------


def status_health(api: Any, namespace: str, query: str | None) -> dict[str, Any]:
    namespaces = d.component_namespaces(namespace)
    components, skipped = d.list_components(api, namespaces)
    chosen = [c for c in components if query is None or c.matches(query)]
    if query is not None and not chosen:
        raise fnkit.not_found("component", query, {c.name for c in components})
    wanted = sorted({c.namespace for c in chosen})
    pods = d.parallel(lambda ns: d.try_list(api, f"/api/v1/namespaces/{ns}/pods", f"pods in {ns}"), wanted)
    events = d.parallel(lambda ns: d.try_list(api, f"/api/v1/namespaces/{ns}/events", f"events in {ns}",
                                              field_selector="type=Warning"), wanted)
    pods_in = {ns: listing.items for ns, listing in zip(wanted, pods, strict=True)}
    events_in = {ns: listing.items for ns, listing in zip(wanted, events, strict=True)}
    skipped += tuple(s for listing in pods + events for s in listing.skipped)
    rows = []
    unhealthy = 0
    for c in chosen:
        row, healthy = health_row(c, pods_in.get(c.namespace, ()), events_in.get(c.namespace, ()))
        rows.append(row)
        unhealthy += not healthy
    result = _with_warnings(fnkit.table(HEALTH_COLUMNS, rows), skipped)
    if unhealthy:
        result["exit_status"] = 1
    return result


def health_row(c: Any, pods: Any, events: Any, now: Any = None) -> tuple[list[Any], bool]:
    """One component's health row, and whether it is healthy. Pure: pods and events are given."""
    now = now or datetime.now(timezone.utc)
    mine = [p for p in pods if d.selector_matches(c.selector, (p.get("metadata") or {}).get("labels") or {})]
    ready_pods = sum(1 for p in mine if d.condition_is(p, "Ready"))
    restarts = 0
    problems: list[str] = []
    for pod in mine:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts += int(cs.get("restartCount") or 0)
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BAD_WAITING:
                problems.append(f"pod {pod['metadata']['name']}: {waiting['reason']}")
    if c.desired and c.ready < c.desired:
        problems.insert(0, f"{c.ready}/{c.desired} replicas ready")
    pod_names = {(p.get("metadata") or {}).get("name") for p in mine}
    recent = [e for e in events if _is_recent(e, now) and _concerns(e, c.workload, pod_names)]
    recent.sort(key=_event_time)
    message = problems[0] if problems else ""
    if recent:
        last = recent[-1]
        text = f"{last.get('reason', '')}: {(last.get('message') or '').strip()}"
        message = f"{message}; {text}" if message else text
    healthy = not problems
    health = "healthy" if healthy else "unhealthy"
    if healthy and c.desired == 0:
        health = "scaled down"
    row = [c.name, c.namespace, f"{ready_pods}/{len(mine)}", restarts, len(recent), health, message[:200]]
    return row, healthy


def _event_time(event: dict[str, Any]) -> str:
    series = event.get("series") or {}
    return (series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp") or "")


def _is_recent(event: dict[str, Any], now: Any) -> bool:
    when = d.parse_time(_event_time(event))
    return when is not None and (now - when).total_seconds() <= WARNING_WINDOW


def _concerns(event: dict[str, Any], workload: str, pods: set[Any]) -> bool:
    """Whether an event is about the workload, one of its ReplicaSets, or one of its pods."""
    name = (event.get("involvedObject") or event.get("regarding") or {}).get("name") or ""
    return name == workload or name in pods or name.startswith(workload + "-")


# ---- status info ----------------------------------------------------------------------------------------


def status_info(api: Any, namespace: str, query: str, *, server: str | None = None) -> dict[str, Any]:
    """`server`: the API server as the caller reaches it (fnkit.Request.server), for the proxy URLs."""
    from kfshell.cluster import server_of

    server = server or server_of(api)
    components, skipped = d.list_components(api, d.component_namespaces(namespace))
    chosen = [c for c in components if c.matches(query)]
    if not chosen:
        raise fnkit.not_found("component", query, {c.name for c in components})
    # The current namespace's component wins over kubeflow's of the same name.
    where = namespace if any(c.namespace == namespace for c in chosen) else chosen[0].namespace
    chosen = [c for c in chosen if c.namespace == where]
    services, slices = d.parallel(lambda path: d.try_list(api, path, path.rsplit("/", 1)[-1] + f" in {where}"), [
        f"/api/v1/namespaces/{where}/services", f"/apis/discovery.k8s.io/v1/namespaces/{where}/endpointslices"])
    mine = [s for s in services.items if any(_serves(s, c) for c in chosen)]
    info = {
        "component": query,
        "namespace": where,
        "workloads": [{"kind": c.kind, "name": c.workload, "ready": f"{c.ready}/{c.desired}",
                       "version": c.version, "created": c.created} for c in chosen],
        "images": sorted({image for c in chosen for image in c.images}),
        "services": [_service_info(s) for s in mine],
        "endpoints": _endpoints(slices.items, {s["metadata"]["name"] for s in mine}),
        "urls": [url for s in mine for url in service_urls(s, server)],
    }
    return _with_warnings(fnkit.object(info), skipped + services.skipped + slices.skipped)


def _serves(service: dict[str, Any], c: Any) -> bool:
    """Whether a Service selects the component's pods (or carries its name in an identifying label)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if selector and all(c.template_labels.get(k) == v for k, v in selector.items()):
        return True
    labels = (service.get("metadata") or {}).get("labels") or {}
    return any(labels.get(key) == c.name for key in d.COMPONENT_LABELS)


def _service_info(service: dict[str, Any]) -> dict[str, Any]:
    spec = service.get("spec") or {}
    ports = [f"{p.get('port')}/{p.get('protocol', 'TCP')}"
             + (f"->{p['targetPort']}" if p.get("targetPort") not in (None, p.get("port")) else "")
             + (f" ({p['name']})" if p.get("name") else "") for p in spec.get("ports") or []]
    return {"name": service["metadata"]["name"], "type": spec.get("type", "ClusterIP"),
            "clusterIP": spec.get("clusterIP", ""), "ports": ports}


def _endpoints(slices: Any, services: set[str]) -> list[str]:
    found = []
    for s in slices:
        if ((s.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name") not in services:
            continue
        ports = [p.get("port") for p in s.get("ports") or [] if p.get("port")]
        for ep in s.get("endpoints") or []:
            ready = (ep.get("conditions") or {}).get("ready", True)
            for address in ep.get("addresses") or []:
                for port in ports or [None]:
                    where = f"{address}:{port}" if port else address
                    found.append(where if ready else f"{where} (not ready)")
    return sorted(set(found))


def service_urls(service: dict[str, Any], server: str) -> list[str]:
    """Where a Service answers: in-cluster DNS, through the API server's proxy, and any external address."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    name, ns = meta.get("name", ""), meta.get("namespace", "")
    urls = []
    for port in spec.get("ports") or []:
        scheme = "https" if port.get("port") == 443 or "https" in (port.get("name") or "") else "http"
        urls.append(f"{scheme}://{name}.{ns}.svc.cluster.local:{port.get('port')}")
        urls.append(f"{server.rstrip('/')}/api/v1/namespaces/{ns}/services/"
                    f"{'https:' if scheme == 'https' else ''}{name}:{port.get('name') or port.get('port')}/proxy/")
        if spec.get("type") in ("NodePort", "LoadBalancer") and port.get("nodePort"):
            urls.append(f"nodePort {port['nodePort']}")
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            host = ingress.get("hostname") or ingress.get("ip")
            if host:
                urls.append(f"{scheme}://{host}:{port.get('port')}")
    return urls
