"""What `kf admin install` puts on a cluster, in order, and applying, diffing and removing it.

Objects, in install order: the Function CRD (kfshell/admin/crd-functions.yaml), the namespace (kf-system by
default), the function controller (kfshell/fncontroller/deploy.yaml: its service account, RBAC and Deployment,
with the runtime image), the built-in functions' service account and RBAC and the callers' RBAC
(kfshell/admin/rbac.py), then the built-in Functions (kfshell/admin/builtins.py). Every object carries the
label `kf.kubeflow.org/install: <namespace>`.

Install is a server-side apply of each object (field manager `kf-admin`, forced: the install's values win),
so running it again is a no-op, and with a new `--image` it is the upgrade. An object install made (it was not
there before) is annotated `kf.kubeflow.org/install-created`; uninstall deletes only those. What was there
before (the shared CRD of a cluster that had one, a kf-system that existed) stays, and uninstall takes off the
labels install added to it (annotation `kf.kubeflow.org/install-added-labels`). A dry run asks the API server
(`dryRun=All`) what each apply would give and compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from kfshell.admin import builtins, rbac
from kfshell.errors import CommandFailed

NAMESPACE = rbac.NAMESPACE
DEFAULT_IMAGE = "kf-runtime:0.1.0"
PLACEHOLDER_IMAGE = "kf-runtime:0.1.0"  # the image string kfshell/fncontroller/deploy.yaml carries
INSTALL_LABEL = "kf.kubeflow.org/install"
CREATED_ANNOTATION = "kf.kubeflow.org/install-created"
ADDED_LABELS_ANNOTATION = "kf.kubeflow.org/install-added-labels"  # on what was there before: labels to take off
PART_OF = {"app.kubernetes.io/part-of": "kf"}
FIELD_MANAGER = "kf-admin"
CRD_NAME = "functions.kubeless.io"
ESTABLISH_TIMEOUT = 60.0
DELETE_TIMEOUT = 120.0

# apiVersion, kind -> (plural, namespaced): the kinds an install holds
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("kubeless.io/v1beta1", "Function"): ("functions", True),
}


@dataclass(frozen=True)
class Ref:
    """Which object: enough to find it on the API server and to name it as kubectl does."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        meta = obj.get("metadata") or {}
        return cls(str(obj["apiVersion"]), str(obj["kind"]), str(meta["name"]), meta.get("namespace"))

    @property
    def plural(self) -> str:
        try:
            return KINDS[(self.api_version, self.kind)][0]
        except KeyError:
            raise CommandFailed(f"kf admin cannot install a {self.kind} ({self.api_version})",
                                reason="Unsupported") from None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, *, collection: bool = False) -> str:
        base = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        where = f"/namespaces/{self.namespace}" if self.namespace else ""
        return f"{base}{where}/{self.plural}" + ("" if collection else f"/{self.name}")

    @property
    def shown(self) -> str:
        """`deployment.apps/kf-function-controller`, `namespace/kf-system`."""
        kind = self.kind.lower() + (f".{self.group}" if self.group else "")
        return f"{kind}/{self.name}"


@dataclass(frozen=True)
class Change:
    """What install or uninstall did (or, in a dry run, would do) to one object."""

    ref: Ref
    action: str  # create(d), change(d), unchanged, delete(d), keep/kept
    fields: tuple[str, ...] = ()  # the top-level fields that differ, for a change


# ------------------------------------------------------------------------------------------------ render


def crd() -> dict[str, Any]:
    """The Function CRD, as kfshell/admin/crd-functions.yaml has it."""
    import yaml

    return yaml.safe_load(resources.files("kfshell.admin").joinpath("crd-functions.yaml").read_text())


def controller_objects(namespace: str = NAMESPACE, image: str = DEFAULT_IMAGE) -> list[dict[str, Any]]:
    """The function controller's objects from kfshell/fncontroller/deploy.yaml, placed in `namespace`, with
    `image` instead of the placeholder, and cluster-scoped names made the install's own (rbac.cluster_name)."""
    import yaml

    try:
        text = resources.files("kfshell.fncontroller").joinpath("deploy.yaml").read_text()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise CommandFailed(f"this kf has no function controller manifests (kfshell/fncontroller/deploy.yaml): "
                            f"{err}", reason="NotInstalled") from None
    documents = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    cluster_roles = {doc["metadata"]["name"] for doc in documents if doc.get("kind") == "ClusterRole"}
    placed = []
    for doc in documents:
        if doc.get("kind") == "Namespace":
            continue  # the install makes its own
        doc = _replace_strings(doc, PLACEHOLDER_IMAGE, image)
        meta = doc.setdefault("metadata", {})
        _, namespaced = KINDS.get((doc.get("apiVersion"), doc.get("kind")), (None, True))
        if namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            meta["name"] = rbac.cluster_name(meta["name"], namespace)
        role_ref = doc.get("roleRef") or {}
        if role_ref.get("kind") == "ClusterRole" and role_ref.get("name") in cluster_roles:
            role_ref["name"] = rbac.cluster_name(role_ref["name"], namespace)
        for subject in doc.get("subjects") or ():
            if subject.get("kind") == "ServiceAccount" and subject.get("namespace") in (None, NAMESPACE):
                subject["namespace"] = namespace
        placed.append(doc)
    return placed


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    return value


def render(namespace: str = NAMESPACE, image: str | None = None,
           callers: Sequence[str] = rbac.DEFAULT_CALLERS) -> list[dict[str, Any]]:
    """Every object of an install in `namespace`, in the order it is applied."""
    functions = builtins.builtin_functions(namespace=namespace)
    objects = [
        crd(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        *controller_objects(namespace, image or DEFAULT_IMAGE),
        *rbac.runtime_rbac(namespace),
        *rbac.callers_rbac([f["metadata"]["name"] for f in functions], namespace, callers),
        *functions,
    ]
    for obj in objects:
        Ref.of(obj).plural  # noqa: B018 - every kind must be one kf admin knows how to apply
        meta = obj["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), **PART_OF, INSTALL_LABEL: namespace}
    return objects


def to_yaml(objects: Iterable[Mapping[str, Any]]) -> str:
    """Multi-document YAML, multi-line strings (a function's source) as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(list(objects), Dumper=Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True)


# ---------------------------------------------------------------------------------------- access checks


def needed_access(objects: Iterable[Mapping[str, Any]], verbs: Sequence[str]) -> list[Any]:
    """The reviews that acting on `objects` with `verbs` takes (one per verb and resource type and place)."""
    from kfshell.cluster import Requirement

    wanted = []
    for obj in objects:
        ref = Ref.of(obj)
        wanted += [Requirement(verb=verb, resource=ref.plural, group=ref.group, namespace=ref.namespace)
                   for verb in verbs]
    return list(dict.fromkeys(wanted))


def require_admin(api: Any, objects: Iterable[Mapping[str, Any]], verbs: Sequence[str], what: str) -> None:
    """Refuse with one line, before anything is done, when the user lacks any of the access `what` needs."""
    from kfshell import cluster
    from kfshell.privileges import describe

    wanted = needed_access(objects, verbs)
    try:
        answers = cluster.can_i_all(api, wanted)
    except Exception as exc:  # noqa: BLE001 - unreachable or refused credentials: the line they deserve
        raise cluster.translate(exc) from exc
    missing = [need for need in wanted if not answers.get(need)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CommandFailed(f"for cluster administrators only: you may not {describe(missing[0])}{more}",
                            hint=f"ask a cluster administrator to run {what}", reason="Forbidden")


# ------------------------------------------------------------------------------------------------ apply


def _get(api: Any, ref: Ref) -> dict[str, Any] | None:
    from kfshell import cluster

    try:
        return cluster.request_json(api, "GET", ref.path())
    except cluster.ApiError as err:
        if err.status == 404:
            return None  # no such object, or (a Function before its CRD) no such resource yet
        raise


def _apply(api: Any, obj: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
    from kfshell import cluster

    query = {"fieldManager": FIELD_MANAGER, "force": "true"}
    if dry_run:
        query["dryRun"] = "All"
    return cluster.request_json(api, "PATCH", Ref.of(obj).path(), query=query, body=obj,
                                headers={"Content-Type": "application/apply-patch+yaml"})


_VOLATILE_META = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields that differ between two versions of an object (status and bookkeeping ignored), as
    `spec`, `metadata.labels`..."""
    changed = []
    for key in sorted(set(before) | set(after)):
        if key == "status":
            continue
        if key == "metadata":
            old, new = before.get(key) or {}, after.get(key) or {}
            changed += [f"metadata.{k}" for k in sorted(set(old) | set(new))
                        if k not in _VOLATILE_META and old.get(k) != new.get(k)]
        elif before.get(key) != after.get(key):
            changed.append(key)
    return tuple(changed)


def _desired(obj: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The object to apply, marked with what uninstall needs to know: made by the install (it was not there
    before, or install made it), or else which of its labels the install added."""
    meta = dict(obj["metadata"])
    annotations = dict(meta.get("annotations") or {})
    had = (current or {}).get("metadata") or {}
    had_annotations = had.get("annotations") or {}
    if current is None or CREATED_ANNOTATION in had_annotations:
        annotations[CREATED_ANNOTATION] = "true"
    else:
        added = had_annotations.get(ADDED_LABELS_ANNOTATION)
        if added is None:
            added = ",".join(sorted(set(meta.get("labels") or {}) - set(had.get("labels") or {})))
        if added:
            annotations[ADDED_LABELS_ANNOTATION] = added
    if annotations:
        meta["annotations"] = annotations
    return {**obj, "metadata": meta}


def install(api: Any, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False,
            progress: Callable[[Change], None] | None = None) -> list[Change]:
    """Apply `objects` in order (the CRD first, waiting until it is established); in a dry run, only ask the
    API server what would change. Built-in Functions an earlier install made that are no longer built-ins
    are deleted."""
    changes: list[Change] = []
    for obj in objects:
        ref = Ref.of(obj)
        with _about(ref, changes, dry_run):
            change = _install_one(api, obj, ref, dry_run)
        changes.append(change)
        if progress is not None:
            progress(change)
    for stale in _stale_functions(api, objects):
        change = Change(stale, "delete" if dry_run else "deleted")
        if not dry_run:
            with _about(stale, changes, dry_run):
                _delete(api, stale)
        changes.append(change)
        if progress is not None:
            progress(change)
    return changes


@contextmanager
def _about(ref: Ref, done: Sequence[Change], dry_run: bool) -> Iterator[None]:
    """An API error on one object becomes one line naming it, and saying how far the install got."""
    from kfshell import cluster
    from kfshell.errors import KfError

    try:
        yield
    except KfError:
        raise
    except Exception as exc:  # noqa: BLE001 - ApiError, a lost connection: translated, with the object named
        err = cluster.translate(exc)
        if isinstance(exc, cluster.ApiError):
            err.message = f"{ref.shown}: {err.message}"
        applied = sum(1 for c in done if c.action != "unchanged")
        if not dry_run and applied and err.hint is None:
            err.hint = f"{applied} objects were applied before it; run it again once this is fixed"
        raise err from exc


def _install_one(api: Any, obj: Mapping[str, Any], ref: Ref, dry_run: bool) -> Change:
    """Apply one object (or, in a dry run, ask what applying it would change)."""
    current = _get(api, ref)
    if ref.kind == "Namespace" and current and (current.get("metadata") or {}).get("deletionTimestamp"):
        raise CommandFailed(f"namespace {ref.name} is being deleted", hint="wait until it is gone, then "
                            "install again", reason="Conflict")
    desired = _desired(obj, current)
    if dry_run and current is None:
        change = Change(ref, "create")
    elif dry_run:
        fields = differences(current, _apply(api, desired, dry_run=True))
        change = Change(ref, "change" if fields else "unchanged", fields)
    else:
        result = _apply(api, desired, dry_run=False)
        fields = differences(current, result) if current is not None else ()
        change = Change(ref, "created" if current is None else "changed" if fields else "unchanged", fields)
        if ref.kind == "CustomResourceDefinition":
            _wait_established(api, ref)
    return change


def _wait_established(api: Any, ref: Ref) -> None:
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    while True:
        conditions = ((_get(api, ref) or {}).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if time.monotonic() > deadline:
            raise CommandFailed(f"the API server did not establish CRD {ref.name} within "
                                f"{ESTABLISH_TIMEOUT:.0f} s", reason="Timeout")
        time.sleep(0.2)


def _namespace_of(objects: Sequence[Mapping[str, Any]]) -> str:
    return next(str(o["metadata"]["name"]) for o in objects if o["kind"] == "Namespace")


def _stale_functions(api: Any, objects: Sequence[Mapping[str, Any]]) -> list[Ref]:
    """Functions an earlier install made in this namespace that the objects no longer hold."""
    namespace = _namespace_of(objects)
    wanted = {Ref.of(o) for o in objects if o["kind"] == "Function"}
    return [ref for ref in _installed_functions(api, namespace) if ref not in wanted]


def _installed_functions(api: Any, namespace: str) -> list[Ref]:
    """The Functions an install in `namespace` made (labelled and annotated so)."""
    from kfshell import cluster

    probe = Ref("kubeless.io/v1beta1", "Function", "", namespace)
    try:
        listing = cluster.request_json(api, "GET", probe.path(collection=True),
                                       query={"labelSelector": f"{INSTALL_LABEL}={namespace}"})
    except cluster.ApiError as err:
        if err.status == 404:
            return []  # no CRD, no namespace: nothing installed
        raise
    return [Ref(probe.api_version, probe.kind, item["metadata"]["name"], namespace)
            for item in listing.get("items") or ()
            if CREATED_ANNOTATION in (item["metadata"].get("annotations") or {})]


# ---------------------------------------------------------------------------------------------- uninstall


def uninstall(api: Any, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False,
              progress: Callable[[Change], None] | None = None) -> list[Change]:
    """Remove what an install made: its Functions first (their ConfigMaps, Deployments and Services go with
    them, by the garbage collector), then the rest, the namespace and the CRD last. An object that was there
    before the install stays; only the labels install added are taken off it."""
    namespace = _namespace_of(objects)
    functions = list(dict.fromkeys([*_installed_functions(api, namespace),
                                    *[Ref.of(o) for o in objects if o["kind"] == "Function"]]))
    rest = [Ref.of(o) for o in reversed(objects) if o["kind"] not in ("Function", *_LAST)]
    stages = [functions, rest, *([Ref.of(o) for o in objects if o["kind"] == kind] for kind in _LAST)]
    changes: list[Change] = []
    for stage in stages:
        done: list[Change] = []
        for ref in stage:
            with _about(ref, (), dry_run):
                current = _get(api, ref)
                if current is None:
                    continue
                meta = current.get("metadata") or {}
                if CREATED_ANNOTATION in (meta.get("annotations") or {}):
                    done.append(Change(ref, "delete" if dry_run else "deleted"))
                elif INSTALL_LABEL in (meta.get("labels") or {}):
                    done.append(Change(ref, "keep" if dry_run else "kept"))
                    if not dry_run:
                        _unlabel(api, ref, meta)
        if not dry_run:
            _delete_all(api, [c.ref for c in done if c.action == "deleted"])
        for change in done:
            if progress is not None:
                progress(change)
        changes += done
    return changes


_LAST = ("Namespace", "CustomResourceDefinition")  # uninstall removes these last, in this order


def _delete(api: Any, ref: Ref) -> None:
    _delete_all(api, [ref])


def _delete_all(api: Any, refs: Sequence[Ref]) -> None:
    """Delete, then wait until all are gone; Functions in the foreground, so their objects go first."""
    from kfshell import cluster

    for ref in refs:
        policy = "Foreground" if ref.kind == "Function" else "Background"
        with _about(ref, (), False):
            try:
                cluster.request_json(api, "DELETE", ref.path(), body={"apiVersion": "v1", "kind": "DeleteOptions",
                                                                       "propagationPolicy": policy})
            except cluster.ApiError as err:
                if err.status != 404:
                    raise
    deadline = time.monotonic() + DELETE_TIMEOUT
    for ref in refs:
        while _get(api, ref) is not None:
            if time.monotonic() > deadline:
                raise CommandFailed(f"{ref.shown} was still there {DELETE_TIMEOUT:.0f} s after it was deleted",
                                    hint="look at its finalizers; run uninstall again", reason="Timeout")
            time.sleep(0.25)


def _unlabel(api: Any, ref: Ref, meta: Mapping[str, Any]) -> None:
    """Take the install's marks off an object that was there before it: the labels it added, the annotation."""
    from kfshell import cluster

    added = [name for name in ((meta.get("annotations") or {}).get(ADDED_LABELS_ANNOTATION) or "").split(",") if name]
    patch = {"metadata": {"labels": {name: None for name in [*added, INSTALL_LABEL]},
                          "annotations": {ADDED_LABELS_ANNOTATION: None}}}
    cluster.request_json(api, "PATCH", ref.path(), body=patch,
                         headers={"Content-Type": "application/merge-patch+json"})


def crd_goes(api: Any) -> bool:
    """Whether uninstall would delete the Function CRD (install created it)."""
    current = _get(api, Ref.of(crd()))
    return current is not None and CREATED_ANNOTATION in ((current.get("metadata") or {}).get("annotations") or {})


def other_functions(api: Any, namespace: str) -> list[Ref]:
    """Functions on the cluster outside the install in `namespace`: deleting the CRD deletes them too."""
    from kfshell import cluster

    try:
        listing = cluster.request_json(api, "GET", "/apis/kubeless.io/v1beta1/functions")
    except cluster.ApiError as err:
        if err.status == 404:
            return []
        raise
    return [Ref("kubeless.io/v1beta1", "Function", item["metadata"]["name"], item["metadata"].get("namespace"))
            for item in listing.get("items") or ()
            if (item["metadata"].get("labels") or {}).get(INSTALL_LABEL) != namespace]


READY_TIMEOUT = 300.0


def wait_ready(api: Any, objects: Sequence[Mapping[str, Any]], timeout: float = READY_TIMEOUT) -> list[str]:
    """Wait until the controller reports every installed Function Ready; what is still not ready when the time
    is up, one `NAME: REASON: message` each (empty: all ready)."""
    from kfshell import cluster

    refs = [Ref.of(o) for o in objects if o["kind"] == "Function"]
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        for ref in refs:
            status = (cluster.request_json(api, "GET", ref.path()).get("status") or {})
            ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") != "True":
                why = f"{ready.get('reason')}: {ready.get('message')}" if ready else "no status from the controller yet"
                pending.append(f"{ref.name}: {why}")
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(1.0)
