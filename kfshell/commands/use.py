"""`use [namespace] [--context CTX]`: switch the session's namespace (project) and/or context.

A namespace is refused, saying which, when it does not exist or when the user may do nothing in it. Where
the user may not read namespaces (most data scientists), existence cannot be checked, so being allowed to
work there is what counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed
from kfshell.result import Message, Object

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "use",
    "help": "switch to another namespace (project) or context; without arguments, show where you are",
    "arguments": [
        {"name": "namespace", "complete": "namespaces", "help": "the namespace to work in"},
        {"name": "context", "kind": "option", "flags": ["--context"], "complete": "contexts",
         "help": "the kubeconfig context to switch to"},
    ],
}

# Working in a namespace means being allowed at least one of these there.
WORK = (("list", "pods", ""), ("list", "deployments", "apps"), ("list", "notebooks", "kubeflow.org"))


def run(invocation: Invocation, session: Session) -> Result:
    namespace = invocation.args.get("namespace")
    context = invocation.args.get("context")
    if namespace is None and context is None:
        return where_now(invocation, session, "you are in")
    if context is not None:
        session.kubeconfig().context(context)  # an unknown context: UsageError with "did you mean"
    if namespace is not None:
        from kfshell.names import check_name

        check_name(namespace, "namespace")
        check_usable(session, namespace, context or session.context)
    session.use(namespace=namespace, context=context, explicit=True)
    if session.pinned and context is None and session.options.context:
        # `kf --context C use X`: this run is C's, and so is the namespace remembered (not the current context).
        return where_now(invocation, session, f"{session.context} will now use")
    return where_now(invocation, session, "now in")


def where_now(invocation: Invocation, session: Session, saying: str) -> Result:
    """Where the session is: one line for a person, the context and namespace for scripts (the namespace
    is the name `-o name` prints)."""
    fmt = invocation.output or session.output
    if fmt == "name":
        return Message(session.namespace)
    if fmt in ("json", "yaml"):
        return Object({"context": session.context, "namespace": session.namespace})
    if saying.endswith("use"):
        return Message(f"{saying} namespace {session.namespace}")
    return Message(f"{saying} namespace {session.namespace} (context {session.context})")


def check_usable(session: Session, namespace: str, context: str | None) -> None:
    """Raise CommandFailed saying why `namespace` cannot be used: it does not exist, or no access there."""
    from kfshell import cluster

    api = session.api(context)
    try:
        exists = _exists(api, namespace)
        allowed = cluster.can_i_all(api, [cluster.Requirement(verb=v, resource=r, group=g, namespace=namespace)
                                          for v, r, g in WORK])
    except Exception as exc:  # noqa: BLE001 - every failure is translated into the line the user reads
        raise cluster.translate(exc) from exc
    if exists is False:
        raise CommandFailed(f"namespace {namespace} does not exist", reason="NotFound",
                            hint=_suggest(api, namespace) or "`status list` and completion show the ones you have")
    if not any(allowed.values()):
        user = _user(session, api)
        maybe = "" if exists else " (or it does not exist)"
        raise CommandFailed(
            f"{user} may not use namespace {namespace}{maybe}: cannot list pods, deployments or notebooks there",
            hint="ask its owner or an admin for access, e.g. a RoleBinding to kubeflow-view or kubeflow-edit",
            reason="Forbidden")


def _exists(api: Any, namespace: str) -> bool | None:
    """True or False when the server says; None when we may not read namespaces."""
    from kfshell import cluster

    try:
        cluster.request_json(api, "GET", f"/api/v1/namespaces/{namespace}")
    except Exception as err:
        status = getattr(err, "status", None)  # an ApiException's HTTP status
        if status == 404:
            return False
        if status == 403:
            return None
        raise
    return True


def _suggest(api: Any, namespace: str) -> str | None:
    from kfshell import cluster
    from kfshell.names import did_you_mean

    try:
        listing = cluster.request_json(api, "GET", "/api/v1/namespaces")
    except Exception:  # noqa: BLE001 - a suggestion is a nicety; without one the error still stands
        return None
    names = [item["metadata"]["name"] for item in (listing or {}).get("items", [])]
    return did_you_mean(namespace, names)


def _user(session: Session, api: Any) -> str:
    from kfshell import cluster

    try:
        return cluster.whoami(api, fallback_user=session.user_name()).user or "you"
    except Exception:  # noqa: BLE001 - the name only makes the message friendlier
        return session.user_name() or "you"
