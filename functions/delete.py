"""`delete`: delete a project (its Kubeflow Profile, if any, and its namespace) and wait until it is gone.

System namespaces are refused whatever the caller's rights. Asking "are you sure?" is the client's job: the
spec's `confirm` says so, and `-y/--yes` skips the question in scripts.
"""

from __future__ import annotations

from typing import Any

from kfshell import discovery as d
from kfshell import fnkit

KF_COMMAND = {
    "name": "delete",
    "help": "delete a project (its Profile and namespace, with everything in it) and wait until it is gone",
    "timeout": 180,
    "confirm": "delete project {namespace} and everything in it",
    "requires": [{"verb": "delete", "group": "", "resource": "namespaces"}],
    "arguments": [
        {"name": "namespace", "help": "the project to delete", "required": True, "complete": "namespaces"},
        {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask for confirmation"},
    ],
}

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default", "kubeflow", "kf-system",
                     "istio-system", "cert-manager", "knative-serving", "knative-eventing", "auth",
                     "oauth2-proxy")
GONE_WAIT = 150.0  # seconds; the command's timeout (180 s) leaves room to answer


def system_namespace_reason(name: str, labels: dict[str, str] | None = None) -> str | None:
    """Why `name` is a system namespace kf will not delete, or None."""
    if name in SYSTEM_NAMESPACES:
        return f"{name} is a system namespace"
    if name.startswith("kube-"):
        return f"{name} belongs to Kubernetes (kube-*)"
    if (labels or {}).get("control-plane") == "kubeflow":
        return f"{name} holds Kubeflow's control plane (label control-plane=kubeflow)"
    return None


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from kfshell.cluster import ApiError, request_json

    req = fnkit.request(event)
    name = fnkit.check_name(str(req.arg("namespace", "")), "project")
    reason = system_namespace_reason(name)
    if reason:
        raise fnkit.FunctionError("Refused", f"will not delete {name}: {reason}",
                                  hint="delete it with kubectl if you really mean it")
    api = fnkit.api_client(event)
    namespace = _get(api, f"/api/v1/namespaces/{name}")
    profile_kind = d.discover(api).find(d.KINDS["profiles"])
    # Who may not read Profiles may still own a namespace to delete: then the namespace decides.
    profile = _get(api, profile_kind.path(name=name), forbidden_ok=True) if profile_kind is not None else None
    if namespace is None and profile is None:
        raise fnkit.not_found("project", name, _namespace_names(api))
    if namespace is not None:
        reason = system_namespace_reason(name, (namespace.get("metadata") or {}).get("labels") or {})
        if reason:
            raise fnkit.FunctionError("Refused", f"will not delete {name}: {reason}")
    deleted = []
    for kind, path, found in (("Profile", profile_kind.path(name=name) if profile_kind else "", profile),
                              ("namespace", f"/api/v1/namespaces/{name}", namespace)):
        if found is None:
            continue
        try:
            request_json(api, "DELETE", path, body={"propagationPolicy": "Background"})
            deleted.append(kind)
        except ApiError as err:
            if err.status != 404:  # already gone (the Profile took its namespace with it)
                raise
    if not fnkit.wait_for(lambda: _get(api, f"/api/v1/namespaces/{name}") is None, GONE_WAIT):
        raise fnkit.FunctionError("Timeout", f"namespace {name} is still terminating after {GONE_WAIT:g} s",
                                  hint=f"check its finalizers: kubectl get namespace {name} -o yaml")
    result = fnkit.message(f"project {name} deleted ({' and '.join(deleted) or 'nothing left to delete'})")
    if name == req.namespace:
        result["session"] = {"namespace": _fallback_namespace(event, name)}
    return result


def _get(api: Any, path: str, forbidden_ok: bool = False) -> dict[str, Any] | None:
    """The object at `path`, or None when it does not exist (or, with `forbidden_ok`, may not be read)."""
    from kfshell.cluster import ApiError, request_json

    try:
        return request_json(api, "GET", path)
    except ApiError as err:
        if err.status == 404 or (forbidden_ok and err.status == 403):
            return None
        raise


def _namespace_names(api: Any) -> list[str]:
    """Namespace names for "did you mean", or none when the caller may not list them."""
    listing = d.try_list(api, "/api/v1/namespaces", "namespaces")
    return [(ns.get("metadata") or {}).get("name", "") for ns in listing.items]


def _fallback_namespace(event: dict[str, Any], deleted: str) -> str:
    """Where the session goes when its namespace was deleted: the context's own namespace, else default."""
    config = fnkit.kubeconfig(event)
    if config is not None:
        own = config.namespace(fnkit.request(event).context)
        if own != deleted:
            return own
    return "default"
