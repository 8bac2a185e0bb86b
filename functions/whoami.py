"""`whoami`: who the cluster says you are, where you are, and how many commands you may run here.

The user and groups come from a SelfSubjectReview; where that API is missing, the kubeconfig's user name
stands in. The client may pass `"commands": {"runnable": N, "total": M}` in the request (it already checked
privileges for help and completion); otherwise the built-in specs' `requires` are checked here with
SelfSubjectAccessReviews.
"""

from __future__ import annotations

from typing import Any

from kfshell import fnkit

KF_COMMAND = {
    "name": "whoami",
    "help": "your user and groups, context, cluster and namespace, and how many commands you may run here",
    "timeout": 15,
    "requires": [],
    "arguments": [],
}


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from kfshell.cluster import whoami

    req = fnkit.request(event)
    api = fnkit.api_client(event)
    config = fnkit.kubeconfig(event)
    ctx = config.context(req.context) if config is not None else None
    identity = whoami(api, fallback_user=ctx.user if ctx else None)
    runnable, total = command_count(req.data.get("commands"), api, req.namespace)
    info = {
        "user": identity.user,
        "groups": list(identity.groups),
        "identity_from": identity.source,
        "context": req.context or (ctx.name if ctx else ""),
        # The caller's own names for where they are win: on the cluster the function sees only its relay.
        "cluster": req.where.get("cluster") or (ctx.cluster if ctx else ""),
        "server": req.server(api),
        "namespace": req.namespace,
        "commands": f"{runnable} of {total}",
    }
    return fnkit.object(info)


def command_count(given: Any, api: Any, namespace: str) -> tuple[int, int]:
    """(commands the caller may run here, commands there are): from the client, or checked here."""
    if isinstance(given, dict) and isinstance(given.get("runnable"), int) and isinstance(given.get("total"), int):
        return given["runnable"], given["total"]
    import functions
    from kfshell.cluster import can_i_all

    leaves = [needs for spec in functions.specs() for needs in leaf_requirements(spec, namespace)]
    allowed = can_i_all(api, [r for needs in leaves for r in needs])
    return sum(all(allowed[r] for r in needs) for needs in leaves), len(leaves)


def leaf_requirements(spec: dict[str, Any], namespace: str) -> list[list[Any]]:
    """For each runnable command of a spec (each subcommand, or the command itself), what it requires."""
    from kfshell.cluster import Requirement

    def resolve(entries: Any) -> list[Requirement]:
        found = []
        for entry in entries or []:
            ns = entry.get("namespace")
            found.append(Requirement(verb=entry["verb"], resource=entry["resource"], group=entry.get("group") or "",
                                     namespace=namespace if ns == "$namespace" else ns))
        return found

    top = resolve(spec.get("requires"))
    subs = spec.get("subcommands") or []
    if not subs:
        return [top]
    return [top + resolve(sub.get("requires")) for sub in subs]
