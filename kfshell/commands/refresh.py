"""`refresh`: rebuild the names the shell completes (namespaces, notebooks, ...) now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfshell.result import Empty, Message

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "refresh",
    "help": "reload your commands, the cluster's, your privileges and the names completion offers",
    "arguments": [],
}


def run(invocation: Invocation, session: Session) -> Result:
    if session.catalog is not None:
        # Your own command files are read again, and the cluster's Functions and your privileges asked for.
        session.catalog.reload()
    refresher = session.refresher
    if refresher is None:
        return Message("nothing to refresh: completion runs only at the kf> prompt")
    refresher.refresh()  # non-blocking; the toolbar shows "refreshing" until it is done
    return Empty()
