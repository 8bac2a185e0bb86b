"""The namespaces (projects) a user may work in, found the ways Kubeflow itself finds them.

Most data scientists may not list namespaces, so listing them is only one of the ways. In parallel:
- Profiles (`kubeflow.org` Profile, cluster-scoped) whose `spec.owner` is the user: they own that namespace;
- Kubeflow's access-management API (KFAM, `profiles-kfam` in `kubeflow`), where it is deployed and answers:
  the bindings that name the user, as the central dashboard asks for them;
- RoleBindings that name the user or one of their groups, where the user may list RoleBindings;
- the namespaces themselves, where the user may list them;
- and the namespaces kf has seen the user use in this context (kf's state file), the context's own
  namespace, and the current one.
Every way the user may not take (403), or that is not there (404, no answer), simply finds nothing.

Each candidate then gets the user's role there, checked with SelfSubjectAccessReviews (two per namespace,
in parallel): `owner` (their Profile, a KFAM admin binding, or the `owner` annotation the profile controller
puts on the namespace, read where the user may read it), `edit` (may create pods), `view` (may list pods).
A candidate where the user may do neither is left out: it is not somewhere they can work.

Used by the `projects` command and by `use <TAB>` (the `namespaces` completion source when the user may
not list namespaces), so both offer the same list. Runs only when asked, or on the completion
refresher's thread: never on the prompt's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

KFAM_NAMESPACE = "kubeflow"
KFAM_SERVICE = "profiles-kfam"
KFAM_TIMEOUT = 3.0  # seconds: KFAM is a nicety; a cluster where it hangs must not make `projects` hang
ROLE_ORDER = ("owner", "edit", "view")
# KFAM and RoleBinding role names → kf's three roles
_ROLE_WORDS = {"admin": "owner", "kubeflow-admin": "owner", "owner": "owner", "edit": "edit",
               "kubeflow-edit": "edit", "view": "view", "kubeflow-view": "view"}


@dataclass(frozen=True)
class Project:
    """A namespace the user may work in: their role there, and how kf found it."""

    name: str
    role: str  # owner | edit | view
    found: tuple[str, ...]  # profile, kfam, rolebinding, namespaces, used, current, owner-annotation


def find_projects(api: Any, user: str | None, groups: Sequence[str] = (), *, used: Iterable[str] = (),
                  current: str | None = None) -> list[Project]:
    """The projects of `user` (with `groups`), owner ones first, then by name."""
    from kfshell.cluster import parallel

    ways = [("profile", _profiles), ("kfam", _kfam), ("rolebinding", _rolebindings), ("namespaces", _namespaces)]
    found: dict[str, set[str]] = {}
    claimed: dict[str, str] = {}  # namespace → role a Profile or KFAM binding says

    answers = parallel(lambda way: _quietly(way[1], api, user, groups), ways, workers=len(ways))
    for (how, _), answer in zip(ways, answers, strict=True):
        for name, role in answer:
            found.setdefault(name, set()).add(how)
            if role == "owner" or (role and name not in claimed):
                claimed[name] = role
    for name in used:
        found.setdefault(name, set()).add("used")
    if current:
        found.setdefault(current, set()).add("current")
    roles = roles_in(api, sorted(found))
    # Kubeflow's profile controller annotates a profile's namespace with its owner; a user may read it
    # where they may read the namespace (kubeflow-view allows that much), unlike the Profile itself.
    owners = parallel(lambda name: _quietly(_annotated_owner, api, name, ()), sorted(roles), workers=6)
    for name, owner in zip(sorted(roles), owners, strict=True):
        if owner and owner[0][1] == user:
            found[name].add("owner-annotation")
            claimed[name] = "owner"
    projects = []
    for name in sorted(found):
        role = roles.get(name)
        if role is None:
            continue
        if claimed.get(name) == "owner" and role == "edit":
            role = "owner"
        projects.append(Project(name, role, tuple(sorted(found[name]))))
    projects.sort(key=lambda p: (ROLE_ORDER.index(p.role), p.name))
    return projects


def roles_in(api: Any, namespaces: Sequence[str]) -> dict[str, str]:
    """namespace → `edit` or `view` where the user may do that much (left out where neither)."""
    from kfshell.cluster import Requirement, can_i_all
    from kfshell.names import dns1123_label_problem

    names = [n for n in namespaces if dns1123_label_problem(n) is None]
    try:
        # Who may do it everywhere (an admin) needs no review per namespace.
        everywhere = can_i_all(api, [Requirement(verb=v, resource="pods") for v in ("create", "list")])
        if everywhere[Requirement(verb="create", resource="pods")]:
            return dict.fromkeys(names, "edit")
        verbs = ("create",) if everywhere[Requirement(verb="list", resource="pods")] else ("create", "list")
        wanted = [Requirement(verb=verb, resource="pods", namespace=n) for n in names for verb in verbs]
        allowed = can_i_all(api, wanted)
        if len(verbs) == 1:
            allowed.update({Requirement(verb="list", resource="pods", namespace=n): True for n in names})
    except Exception as exc:  # noqa: BLE001 - unreachable or refused: the caller shows the translated error
        from kfshell.cluster import translate

        raise translate(exc) from exc
    roles = {}
    for n in names:
        if allowed.get(Requirement(verb="create", resource="pods", namespace=n)):
            roles[n] = "edit"
        elif allowed.get(Requirement(verb="list", resource="pods", namespace=n)):
            roles[n] = "view"
    return roles


def _quietly(way: Any, api: Any, user: str | None, groups: Sequence[str]) -> list[tuple[str, str]]:
    """One way of finding projects; what it may not see (403), or what is not there, finds nothing."""
    from kfshell.cluster import ApiError, TransportError

    try:
        return way(api, user, groups)
    except (ApiError, TransportError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _profiles(api: Any, user: str | None, groups: Sequence[str]) -> list[tuple[str, str]]:
    from kfshell.cluster import request_json

    listing = request_json(api, "GET", "/apis/kubeflow.org/v1/profiles")
    owned = []
    for profile in listing.get("items") or []:
        owner = (profile.get("spec") or {}).get("owner") or {}
        if owner.get("name") == user and owner.get("kind", "User") == "User":
            owned.append(((profile.get("metadata") or {}).get("name", ""), "owner"))
    return [p for p in owned if p[0]]


def _kfam(api: Any, user: str | None, groups: Sequence[str]) -> list[tuple[str, str]]:
    """KFAM's bindings of `user`, through the API server's service proxy (the port named in its Service)."""
    from kfshell.cluster import request_json

    if not user:
        return []
    service = request_json(api, "GET", f"/api/v1/namespaces/{KFAM_NAMESPACE}/services/{KFAM_SERVICE}")
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        return []
    port = ports[0].get("name") or ports[0].get("port")
    answer = request_json(api, "GET", f"/api/v1/namespaces/{KFAM_NAMESPACE}/services/{KFAM_SERVICE}:{port}"
                          "/proxy/kfam/v1/bindings", query={"user": user}, timeout=KFAM_TIMEOUT)
    found = []
    for binding in (answer or {}).get("bindings") or []:
        namespace = binding.get("referredNamespace")
        ref = binding.get("RoleRef") or binding.get("roleRef") or {}
        if namespace:
            found.append((namespace, _ROLE_WORDS.get(ref.get("name", ""), "")))
    return found


def _rolebindings(api: Any, user: str | None, groups: Sequence[str]) -> list[tuple[str, str]]:
    from kfshell.cluster import request_json

    listing = request_json(api, "GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings")
    found = []
    for binding in listing.get("items") or []:
        if not any(_names_me(s, user, groups) for s in binding.get("subjects") or []):
            continue
        meta = binding.get("metadata") or {}
        role = (meta.get("annotations") or {}).get("role") or (binding.get("roleRef") or {}).get("name", "")
        found.append((meta.get("namespace", ""), _ROLE_WORDS.get(role, "")))
    return [f for f in found if f[0]]


def _names_me(subject: dict[str, Any], user: str | None, groups: Sequence[str]) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    return (kind == "User" and name == user) or (kind == "Group" and name in groups)


def _annotated_owner(api: Any, namespace: str, _groups: Sequence[str]) -> list[tuple[str, str]]:
    from kfshell.cluster import request_json

    found = request_json(api, "GET", f"/api/v1/namespaces/{namespace}")
    owner = ((found.get("metadata") or {}).get("annotations") or {}).get("owner")
    return [(namespace, owner)] if owner else []


def _namespaces(api: Any, user: str | None, groups: Sequence[str]) -> list[tuple[str, str]]:
    from kfshell.cluster import request_json

    listing = request_json(api, "GET", "/api/v1/namespaces")
    return [((n.get("metadata") or {}).get("name", ""), "") for n in listing.get("items") or []]
