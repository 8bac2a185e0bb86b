"""`create`: a new project, a Kubeflow Profile owned by the caller (or, without the Profile CRD, a namespace
with Kubeflow's labels), optionally filled from a repository of manifests, all or nothing.

Order of work, so that a failure leaves nothing behind: read and check the manifests (exit 2 on a bad file);
resolve their kinds with API discovery; create the Profile and its namespace; server-side dry run every object;
create them. A failure after the project exists deletes it again and waits until it is gone.

`-d` creates nothing: the Profile and namespace are dry-run on the server; manifests cannot be (their
namespace does not exist yet), so each is checked for a served kind and the caller's permission to create it.
"""

from __future__ import annotations

from typing import Any

from kfshell import discovery as d
from kfshell import fnkit

KF_COMMAND = {
    "name": "create",
    "help": "create a project (a Kubeflow Profile you own) and optionally apply a repository of manifests",
    "timeout": 180,
    "requires": [{"verb": "create", "group": "kubeflow.org", "resource": "profiles"}],
    "arguments": [
        {"name": "namespace", "help": "the new project's name (a DNS-1123 label)", "required": True},
        {"name": "dry_run", "kind": "flag", "flags": ["-d", "--dry-run"],
         "help": "create nothing: ask the server whether it would work and show what would be created"},
        {"name": "repo", "kind": "option", "flags": ["-r", "--repo"], "complete": "files",
         "help": "manifests to apply into the project: a local path, or a git URL"},
        {"name": "branch", "kind": "option", "flags": ["-b", "--branch"],
         "help": "the git branch (or tag) of --repo"},
        {"name": "into", "kind": "flag", "flags": ["-i", "--into"],
         "help": "switch the session into the new project afterwards"},
    ],
}

COLUMNS = ["KIND", "NAME", "NAMESPACE", "RESULT"]
# What Kubeflow's profile controller puts on a profile's namespace, so kf-made projects look the same.
NAMESPACE_LABELS = {
    "app.kubernetes.io/part-of": "kubeflow-profile",
    "istio-injection": "enabled",
    "katib.kubeflow.org/metrics-collector-injection": "enabled",
    "pipelines.kubeflow.org/enabled": "true",
    "serving.kubeflow.org/inferenceservice": "enabled",
}
CONTROLLER_WAIT = 15.0  # seconds to wait for a profile controller's namespace when we may not create it
GONE_WAIT = 90.0  # seconds to wait for a rolled-back namespace to disappear


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from kfshell import manifests
    from kfshell.cluster import whoami

    req = fnkit.request(event)
    name = fnkit.check_name(str(req.arg("namespace", "")), "project")
    repo, branch = req.arg("repo"), req.arg("branch")
    if branch and not repo:
        raise fnkit.FunctionError("Usage", "--branch needs --repo", hint="create NAME -r URL -b BRANCH")
    if repo and not fnkit.is_local(event) and not manifests.is_git_url(repo):
        raise fnkit.FunctionError("Usage", f"{repo} is a local path, but create runs on the cluster",
                                  hint="use a git URL, or run it locally (--dispatch local)")
    api = fnkit.api_client(event)
    objects: list[Any] = []
    if repo:
        with manifests.checkout(repo, branch) as root:
            objects = manifests.load(root, name)
    discovery = d.discover(api)
    resources = [_resource_for(discovery, m) for m in objects]
    config = fnkit.kubeconfig(event)
    owner = whoami(api, fallback_user=config.context(req.context).user if config else None).user
    profile = discovery.find(d.KINDS["profiles"])
    _refuse_existing(api, name, profile)
    if req.arg("dry_run"):
        rows = _dry_run(api, name, owner, profile, objects, resources)
        return fnkit.table(COLUMNS, rows)
    rows = _create_project(api, name, owner, profile)
    try:
        for m, res in zip(objects, resources, strict=True):
            _post(api, res.path(name), m.obj, dry_run=True, what=m.describe())
        for m, res in zip(objects, resources, strict=True):
            _post(api, res.path(name), m.obj, what=m.describe())
            rows.append([m.kind, m.name, name, "created"])
    except fnkit.FunctionError as err:
        _roll_back(api, name, profile)
        raise fnkit.FunctionError(err.reason, f"{err.message}; nothing was created", err.status,
                                  hint=err.hint) from None
    result = fnkit.table(COLUMNS, rows)
    if req.arg("into"):
        result["session"] = {"namespace": name}
    return result


def _resource_for(discovery: d.Discovery, m: Any) -> d.Resource:
    res = discovery.by_kind(m.api_version, m.kind)
    if res is None:
        raise fnkit.FunctionError("Invalid", f"{m.describe()}: the cluster does not serve {m.kind} "
                                  f"in {m.api_version}", hint="install its CRD or fix apiVersion/kind")
    if not res.namespaced:
        raise fnkit.FunctionError("Usage", f"{m.describe()}: {m.kind} is cluster-scoped; a project repository "
                                  "holds only namespaced objects", hint="apply it separately as an admin")
    return res


def _refuse_existing(api: Any, name: str, profile: d.Resource | None) -> None:
    from kfshell.cluster import ApiError, request_json

    checks = [("namespace", f"/api/v1/namespaces/{name}")]
    if profile is not None:
        checks.append(("profile", profile.path(name=name)))
    for what, path in checks:
        try:
            request_json(api, "GET", path)
        except ApiError as err:
            if err.status in (403, 404):  # may not look: the create itself will say whether it is allowed
                continue
            raise
        raise fnkit.FunctionError("AlreadyExists", f"{what} {name} already exists",
                                  hint="pick another name, or `use` it")


def _profile(name: str, owner: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name},
            "spec": {"owner": {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner}}}


def _namespace(name: str, owner: str, profile: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(NAMESPACE_LABELS), "annotations": {"owner": owner}}
    if profile is not None:
        # Owned by the Profile, as the profile controller does it: deleting the Profile deletes the namespace.
        meta["ownerReferences"] = [{"apiVersion": profile["apiVersion"], "kind": "Profile", "name": name,
                                    "uid": profile["metadata"]["uid"], "controller": True}]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _dry_run(api: Any, name: str, owner: str, profile: d.Resource | None, objects: list[Any],
             resources: list[d.Resource]) -> list[list[Any]]:
    from kfshell.cluster import Requirement, can_i_all

    rows = []
    if profile is not None:
        _post(api, profile.path(), _profile(name, owner), dry_run=True, what=f"Profile {name}")
        rows.append(["Profile", name, "", f"would be created (owner {owner})"])
    _post(api, "/api/v1/namespaces", _namespace(name, owner), dry_run=True, what=f"Namespace {name}")
    rows.append(["Namespace", name, "", "would be created"])
    needs = [Requirement(verb="create", resource=r.plural, group=r.group, namespace=name) for r in resources]
    allowed = can_i_all(api, needs)
    for m, need in zip(objects, needs, strict=True):
        if not allowed[need]:
            group = f".{need.group}" if need.group else ""
            raise fnkit.FunctionError("Forbidden", f"{m.describe()}: you may not create {need.resource}{group} "
                                      f"in namespace {name}", hint="ask a cluster admin for this permission")
        rows.append([m.kind, m.name, name, "would be created"])
    return rows


def _create_project(api: Any, name: str, owner: str, profile: d.Resource | None) -> list[list[Any]]:
    rows = []
    created_profile = None
    if profile is not None:
        created_profile = _post(api, profile.path(), _profile(name, owner), what=f"Profile {name}")
        rows.append(["Profile", name, "", f"created (owner {owner})"])
    try:
        _post(api, "/api/v1/namespaces", _namespace(name, owner, created_profile), what=f"Namespace {name}")
    except fnkit.FunctionError as err:
        if err.reason == "AlreadyExists" and created_profile is not None:
            pass  # the profile controller was quicker: its namespace is the project's
        elif err.reason == "Forbidden" and created_profile is not None and _controller_made(api, name):
            pass  # we may not create namespaces, but the profile controller did
        else:
            if created_profile is not None:
                _roll_back(api, name, profile)
            raise
    rows.append(["Namespace", name, "", "created"])
    return rows


def _controller_made(api: Any, name: str) -> bool:
    return fnkit.wait_for(lambda: _exists(api, f"/api/v1/namespaces/{name}"), CONTROLLER_WAIT)


def _exists(api: Any, path: str) -> bool:
    from kfshell.cluster import ApiError, request_json

    try:
        request_json(api, "GET", path)
    except ApiError as err:
        if err.status == 404:
            return False
        raise
    return True


def _post(api: Any, path: str, obj: dict[str, Any], *, what: str, dry_run: bool = False) -> dict[str, Any]:
    """POST one object; an API refusal becomes a FunctionError that names the object."""
    from kfshell.cluster import ApiError, request_json, translate

    try:
        return request_json(api, "POST", path, body=obj, query={"dryRun": "All" if dry_run else None})
    except ApiError as exc:
        err = translate(exc)
        if err.exit_status != 1:
            raise
        prefix = "dry run: " if dry_run else ""
        raise fnkit.FunctionError(err.reason or "Invalid", f"{prefix}{what}: {err.message}", hint=err.hint) from None


def _roll_back(api: Any, name: str, profile: d.Resource | None) -> None:
    """Delete the half-made project and wait (bounded) until its namespace is gone."""
    from kfshell.cluster import ApiError, request_json

    paths = ([profile.path(name=name)] if profile is not None else []) + [f"/api/v1/namespaces/{name}"]
    for path in paths:
        try:
            request_json(api, "DELETE", path, body={"propagationPolicy": "Background"})
        except ApiError as err:
            if err.status not in (404, 409):
                raise
    fnkit.wait_for(lambda: not _exists(api, f"/api/v1/namespaces/{name}"), GONE_WAIT)
