"""`projects`: the namespaces you may work in, with your role in each (owner, edit, view).

A client-side command: it asks the API server as you, with your own credentials, so it can only ever find
what your RBAC lets you see (kfshell.projects says how it looks). `use <TAB>` offers the same list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfshell.result import Table

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "projects",
    "help": "the namespaces (projects) you may work in, and your role in each: owner, edit or view",
    "arguments": [],
}

COLUMNS = ("NAME", "ROLE")
WIDE = ("FOUND",)


def run(invocation: Invocation, session: Session) -> Result:
    from kfshell import cluster
    from kfshell.projects import find_projects

    context = invocation.context or session.context
    current = invocation.namespace or session.namespace
    api = session.api(context)
    try:
        me = cluster.whoami(api, fallback_user=session.user_name())
    except Exception as exc:  # noqa: BLE001 - unreachable or refused: one line, the right exit status
        raise cluster.translate(exc) from exc
    used = list(session.store.load().used_in(context))
    home = session.kubeconfig().namespace(context)  # the context's own namespace counts as used
    if home:
        used.append(home)
    projects = find_projects(api, me.user, me.groups, used=used, current=current)
    return Table(COLUMNS, tuple((p.name, p.role, ",".join(p.found)) for p in projects), wide_columns=WIDE)
