"""Who the built-in functions are, and who may call them.

The functions' own identity is the service account `kf-functions`: it may review tokens and impersonate
users, groups and service accounts, nothing else. Every API call a function makes for a caller impersonates
that caller (kfshell/runtime/caller.py), so the caller's own RBAC decides what the call may do.

Callers need, in the functions' namespace: to find the Functions (kf lists them by label), to see that their
Services have ready endpoints, and to reach each function through the API server's service proxy. RBAC names a
proxied Service NAME:PORT when the URL names the port, as kf and `kubeless function call` do
(.../services/status:http-function-port/proxy/), and NAME when it does not; both are granted. By default every
authenticated user may call (calling grants nothing by itself); `--caller` narrows that.

Cluster-scoped objects are named after the namespace when it is not kf-system, so a second install (in another
namespace) never rewrites the first one's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kfshell.errors import UsageError

NAMESPACE = "kf-system"
RUNTIME_ACCOUNT = "kf-functions"
RUNTIME_ROLE = "kf-function-runtime"
CALLERS_ROLE = "kf-function-callers"
PORT_NAME = "http-function-port"  # the port name Kubeless gives every function's Service
DEFAULT_CALLERS = ("group:system:authenticated",)
RBAC_GROUP = "rbac.authorization.k8s.io"


def cluster_name(base: str, namespace: str) -> str:
    """The name of a cluster-scoped object of the install in `namespace`."""
    return base if namespace == NAMESPACE else f"{base}-{namespace}"


def parse_caller(text: str) -> dict[str, str]:
    """An RBAC subject from `user:NAME`, `group:NAME` or `serviceaccount:NAMESPACE:NAME`."""
    kind, _, rest = text.partition(":")
    if kind == "user" and rest:
        return {"apiGroup": RBAC_GROUP, "kind": "User", "name": rest}
    if kind == "group" and rest:
        return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": rest}
    namespace, _, name = rest.partition(":")
    if kind == "serviceaccount" and namespace and name:
        return {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    raise UsageError(f"--caller {text!r}: give user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME",
                     reason="Usage")


def runtime_rbac(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """The functions' service account and its cluster-wide rights (review tokens, impersonate)."""
    role = cluster_name(RUNTIME_ROLE, namespace)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": RUNTIME_ACCOUNT, "namespace": namespace}},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": {"name": role},
         "rules": [
             {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
             {"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
         ]},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": RUNTIME_ACCOUNT, "namespace": namespace}]},
    ]


def callers_rbac(function_names: Iterable[str], namespace: str = NAMESPACE,
                 callers: Sequence[str] = DEFAULT_CALLERS) -> list[dict[str, Any]]:
    """A Role letting `callers` find and call the functions `function_names` in `namespace`, and its binding."""
    names = sorted(set(function_names))
    proxied = [n for name in names for n in (f"{name}:{PORT_NAME}", name)]
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["kubeless.io"], "resources": ["functions"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    ]
    if proxied:
        rules.append({"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create"],
                      "resourceNames": proxied})
    return [
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role",
         "metadata": {"name": CALLERS_ROLE, "namespace": namespace}, "rules": rules},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding",
         "metadata": {"name": CALLERS_ROLE, "namespace": namespace},
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": CALLERS_ROLE},
         "subjects": [parse_caller(c) for c in callers]},
    ]
