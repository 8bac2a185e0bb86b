"""`command trust|untrust NAME [--scope namespace|cluster]`: which cluster Functions may run as you.

The pins are the caller's own (kfshell.trust). Trusting pins the Function's namespace, name and the sha256 of
the source it holds now, so what runs later is exactly what was trusted; any edit needs trusting again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfshell.errors import CommandFailed
from kfshell.result import Message

if TYPE_CHECKING:
    from kfshell.dispatch.kubeless import FunctionRef
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_SYSTEM = "kf-system"


def trust(invocation: Invocation, session: Session, trusting: bool) -> Result:
    from kfshell.commands.command import _changed

    name = invocation.args["name"]
    ref = _function(invocation, session, name, invocation.args.get("scope"), trusting)
    store = session.catalog.trust
    if trusting:
        if not ref.source_matches:
            raise CommandFailed(f"not trusting {name}: Function {ref.origin}'s source does not match its recorded "
                                "checksum (it was edited without `command upgrade`)",
                                hint="ask whoever manages it to upgrade it, then read it and trust it",
                                reason="Tampered")
        digest = store.trust(ref.namespace, ref.name, ref.source)
        if ref.namespace == KF_SYSTEM:
            text = f"trusted {name}: Function {ref.origin} runs as you again (kf-system is trusted by default)"
        else:
            text = (f"trusted {name}: Function {ref.origin} at source sha256:{digest[:12]}… may now run as you; "
                    "any change to its source makes it untrusted again")
    else:
        changed = store.untrust(ref.namespace, ref.name)
        if ref.namespace == KF_SYSTEM:
            text = (f"untrusted {name}: Function {ref.origin} no longer runs as you" if changed
                    else f"{name}: Function {ref.origin} was already untrusted")
        else:
            text = (f"untrusted {name}: Function {ref.origin} no longer runs as you" if changed
                    else f"{name}: Function {ref.origin} was not trusted")
    _changed(session)
    return Message(text)


def _function(invocation: Invocation, session: Session, name: str, scope: str | None,
              trusting: bool) -> FunctionRef:
    """The Function providing `name` here: the namespace's, else kf-system's (or the one `scope` names)."""
    catalog = session.catalog
    if catalog is None:
        raise CommandFailed("no command catalog in this session", reason="Invalid")
    namespace = invocation.namespace or session.namespace
    deployed = catalog.fetch_deployed(invocation.context, invocation.namespace)
    if deployed.error is not None:
        raise deployed.error
    places = {"namespace": [namespace], "cluster": [KF_SYSTEM]}.get(scope or "", [namespace, KF_SYSTEM])
    for place in places:
        found = sorted((r for r in deployed.refs if r.subcommand == name and r.namespace == place),
                       key=lambda r: (r.name != name, r.name))
        if found:
            return found[0]
    where = " or ".join(dict.fromkeys(places))
    spec = catalog.local.get(name)
    hint = ("built-in, user and package commands are always trusted" if spec is not None
            else "`command list` shows the commands and their scopes")
    raise CommandFailed(f"no Function provides {name} in {where}", hint=hint, reason="NotFound")
