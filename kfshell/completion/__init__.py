"""Live completion for kf: a background refresher builds immutable snapshots of what can be completed,
and a completer decides what belongs at the cursor and ranks names from the current snapshot.

The shell's hook (docs/architecture.md, "Completion hook"):

    completer = make_completer(registry, session, invalidate)   # a prompt_toolkit Completer
    session.refresher = completer.refresher                      # start() / refresh() / stop() / refreshing
    completer.remember(line)                                     # after each line run: recent names rank first

`make_completer(registry, snapshot_source)` with a zero-argument callable returning a `Snapshot` gives a
completer without a refresher (tests, benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kfshell.completion.snapshot import EMPTY, Item, Snapshot

if TYPE_CHECKING:
    from kfshell.completion.completer import KfCompleter

__all__ = ["EMPTY", "Item", "Snapshot", "make_completer"]


def make_completer(registry: Any, source: Any, invalidate: Callable[[], None] | None = None) -> KfCompleter:
    """The `kf>` prompt's completer.

    registry: a `Registry`, or a zero-argument callable returning the current one.
    source:   a kf `Session` (a background refresher is made for it: `completer.refresher`), or a
              zero-argument callable returning the current `Snapshot`, or a `Snapshot`.
    invalidate: asks the prompt to redraw (thread-safe); called when a snapshot or `refreshing` changes.
    """
    # prompt_toolkit is imported here, not with the package: `kf __complete` uses the package without it.
    from kfshell.completion.completer import KfCompleter

    if isinstance(source, Snapshot):
        return KfCompleter(registry, lambda: source)
    if callable(source) and not hasattr(source, "kubeconfig"):
        return KfCompleter(registry, source)
    from kfshell.completion.sessions import session_refresher

    refresher = session_refresher(source, registry, invalidate)
    completer = KfCompleter(registry, refresher.current)
    completer.refresher = refresher
    return completer
