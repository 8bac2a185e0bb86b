"""`kf __complete WORD… CURRENT`: completion for the outer `kf` command in bash, zsh and fish.

The shell scripts in completions/ call it with the words typed after `kf`, the last being the word under
the cursor (possibly empty). It prints one candidate per line as `value<TAB>description`, or the single
line `:files` when the argument is a local path (the shell completes those itself).

Names come from the on-disk cache a running `kf>` shell or an earlier TAB left behind: a fresh entry is
answered at once; a stale one is answered at once too while a detached process refreshes it; with no
entry at all the cluster is asked, for at most `KF_COMPLETE_TIMEOUT` seconds (default 2). Nothing is ever
printed on stderr: a failed completion offers nothing rather than garbling the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from kfshell.completion.analyze import analyze
from kfshell.completion.cache import DEFAULT_TTL, CompletionCache, cache_dir
from kfshell.completion.snapshot import EMPTY, Item, Snapshot
from kfshell.completion.suggest import Suggester

# Sources a cached snapshot answers; `commands` falls back to the registry, `files` to the shell.
_LOCAL_SOURCES = {"files", "commands", "contexts"}
_WHERE_FLAGS = {"--context": "context", "-n": "namespace", "--namespace": "namespace", "--kubeconfig": "kubeconfig"}
DEFAULT_TIMEOUT = 2.0  # seconds TAB waits for names it does not have (KF_COMPLETE_TIMEOUT)
EXIT_RESERVE = 0.05  # seconds: printing the answer and ending the process, after the wait for names
# (place, environ, start a refresher, seconds to wait for its first listing) -> a snapshot, or None
Live = Callable[["Place", Mapping[str, str], Callable[[], Any], float], "Snapshot | None"]


@dataclass(frozen=True)
class Place:
    """Where names are looked up: the kubeconfig files, context and namespace."""

    kubeconfig: str | None
    context: str | None
    namespace: str | None


def main(argv: Sequence[str], *, stdout: TextIO | None = None, environ: Mapping[str, str] | None = None,
         live: Live | None = None) -> int:
    """Entry point for `kf __complete …` (argv without `__complete`). Always exits 0.

    live: the warm agent's live snapshots (kfshell.agent.server.Snapshots), which answer before the cache."""
    out = stdout or sys.stdout
    # An exec credential plugin must never prompt over the line being completed (kfshell.execcred); the
    # detached refresher inherits this.
    os.environ["KF_NO_PROMPT"] = "1"
    env = dict(os.environ if environ is None else environ)
    args = list(argv)
    if args[:1] == ["--refresh-cache"]:
        return _refresh_cache(args[1:], env)
    if args[:1] == ["--"]:
        args = args[1:]
    *finished, current = args or [""]
    try:
        lines = complete(finished, current, env, live=live)
    except Exception:  # noqa: BLE001 - TAB must never print a traceback into the user's command line
        lines = []
    for line in lines:
        out.write(line + "\n")
    out.flush()
    return 0


def complete(finished: list[str], current: str, environ: Mapping[str, str], registry: Any = None, *,
             live: Live | None = None) -> list[str]:
    """The output lines for the word `current` after `finished` (registry: default, kf's own)."""
    registry = registry if registry is not None else _registry(environ)
    wanted = analyze(registry, finished, current, outer=True)
    if "files" in wanted.sources:
        return [":files"]
    snapshot = EMPTY
    cluster_sources = [source for source in wanted.sources if source not in _LOCAL_SOURCES]
    if wanted.sources:
        place = where(finished, environ)
        if "contexts" in wanted.sources:
            items = {"contexts": _context_items(place, environ)}
            snapshot = Snapshot.build(place.context, place.namespace, items, complete=["contexts"])
            return _lines(Suggester(registry, lambda: snapshot), wanted)
        cache = CompletionCache(cache_dir(environ), ttl=_float(environ.get("KF_COMPLETE_TTL"), DEFAULT_TTL))
        cached = cache.read(place.context, place.namespace)
        if live is not None and cluster_sources:
            # The agent's refresher for this place: its watches keep the names current. With a cache entry it
            # answers only once settled (else the cache does, and the refresher writes it when it settles).
            wait = 0.0 if cached is not None else _timeout(environ)
            found = live(place, environ, lambda: start_refresher(place, environ, cache), wait)
            if found is not None or cached is not None:
                snapshot = found if found is not None else cached.snapshot  # type: ignore[union-attr]
                return _lines(Suggester(registry, lambda: snapshot), wanted)
        if cached is not None:
            snapshot = cached.snapshot
            if not cached.fresh(cache.ttl) and cluster_sources and cache.claim_refresh(place.context,
                                                                                       place.namespace):
                _spawn_refresh(place, environ)
        elif cluster_sources:
            # The shell waits on the whole process, start-up included, so that counts against the budget, and
            # so does answering and ending (EXIT_RESERVE).
            budget = _timeout(environ) - seconds_running() - EXIT_RESERVE
            snapshot = fetch(place, environ, timeout=max(0.0, budget), cache=cache)
    return _lines(Suggester(registry, lambda: snapshot), wanted)


def _lines(completer: Suggester, wanted: Any) -> list[str]:
    """Prefix matches only (the shells replace the word with what the candidates share, so a fuzzy one
    would eat what was typed), except a lone fuzzy match, which is what the user meant."""
    suggestions = completer.rank(wanted)
    query = wanted.query.lower()
    chosen = [s for s in suggestions if s.value.lower().startswith(query)]
    if not chosen and len(suggestions) == 1:
        chosen = suggestions
    return [f"{wanted.keep}{s.value}\t{s.meta}" if s.meta else f"{wanted.keep}{s.value}" for s in chosen]


def where(words: Sequence[str], environ: Mapping[str, str]) -> Place:
    """The context and namespace a `kf …` line would use, decided as the session decides them (its flags,
    else kf's saved state, else the kubeconfig's current context and that context's namespace)."""
    given: dict[str, str] = {}
    for index, word in enumerate(words):
        flag, has_value, value = word.partition("=")
        if flag in _WHERE_FLAGS:
            if has_value:
                given[_WHERE_FLAGS[flag]] = value
            elif index + 1 < len(words):
                given[_WHERE_FLAGS[flag]] = words[index + 1]
    from kfshell.env import Environment
    from kfshell.errors import KfError
    from kfshell.session import Session, SessionOptions

    options = SessionOptions(kubeconfig=given.get("kubeconfig"), context=given.get("context"),
                             namespace=given.get("namespace"))
    try:
        session = Session(Environment(environ=dict(environ)), options)
    except KfError:  # an unknown --context: complete without cluster names
        return Place(options.kubeconfig, options.context, options.namespace)
    return Place(options.kubeconfig, session.context, session.namespace)


def fetch(place: Place, environ: Mapping[str, str], *, timeout: float, cache: CompletionCache) -> Snapshot:
    """List names from the cluster for at most `timeout` seconds; cache them when the listing finished."""
    refresher = start_refresher(place, environ, cache)
    settled = False
    try:
        settled = refresher.wait_settled(timeout)
        return refresher.current()
    finally:
        refresher.stop()
        # Out of time: answer with what arrived, and let a detached process finish the listing for the next TAB.
        if not settled and cache.claim_refresh(place.context, place.namespace):
            _spawn_refresh(place, environ)


def start_refresher(place: Place, environ: Mapping[str, str], cache: CompletionCache) -> Any:
    """A running completion Refresher for `place` that writes `cache` when its first listing is in."""
    from kfshell.completion.refresher import Refresher

    def connect(context: str | None) -> Any:
        from kfshell.cluster import api_client
        from kfshell.kubeconfig import load_kubeconfig

        return api_client(load_kubeconfig(place.kubeconfig, context, environ), context)

    def projects(api: Any, context: str | None, namespace: str | None) -> list[Any]:
        from kfshell.completion.sessions import project_items
        from kfshell.config import StateStore
        from kfshell.env import Environment
        from kfshell.kubeconfig import load_kubeconfig

        used = [*StateStore(Environment(environ=dict(environ)).state_dir).load().used_in(context),
                load_kubeconfig(place.kubeconfig, context, environ).namespace(context) or ""]
        return project_items(api, None, [n for n in used if n], namespace)

    refresher = Refresher(connect, contexts=lambda: _context_items(place, environ), on_settled=cache.write,
                          projects=projects)
    refresher.start(place.context, place.namespace)
    return refresher


REFRESH_TIMEOUT = 20.0  # the detached refresh may take its time: nobody is waiting on it


def _refresh_cache(args: list[str], environ: Mapping[str, str]) -> int:
    """The detached `--refresh-cache` process: fetch one place and write it to the cache."""
    given = dict(zip(args[::2], args[1::2], strict=False))
    place = Place(given.get("--kubeconfig") or None, given.get("--context") or None,
                  given.get("--namespace") or None)
    cache = CompletionCache(cache_dir(environ))
    try:
        fetch(place, environ, timeout=REFRESH_TIMEOUT, cache=cache)
    except Exception:  # noqa: BLE001 - detached, nobody to tell; the next TAB tries again
        return 0
    finally:
        try:
            cache.path(place.context, place.namespace).with_suffix(".refreshing").unlink()
        except OSError:
            pass
    return 0


def _spawn_refresh(place: Place, environ: Mapping[str, str]) -> None:
    argv = [sys.executable, "-m", "kfshell.complete_cmd", "--refresh-cache",
            "--context", place.context or "", "--namespace", place.namespace or ""]
    if place.kubeconfig:
        argv += ["--kubeconfig", place.kubeconfig]
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=dict(environ), close_fds=True)
    except OSError:
        pass


def _context_items(place: Place, environ: Mapping[str, str]) -> list[Item]:
    from kfshell.completion.sessions import context_items
    from kfshell.kubeconfig import load_kubeconfig

    return context_items(load_kubeconfig(place.kubeconfig, None, environ))


def _registry(environ: Mapping[str, str]) -> Any:
    from kfshell.env import Environment
    from kfshell.registry import Registry

    env = Environment(environ=dict(environ))
    # The spec cache also remembers installed packages' entry points (scanning them costs ~45 ms per TAB).
    return Registry.load(user_dir=env.config_dir / "commands", cache_file=env.cache_dir / "specs.json")


def seconds_running() -> float:
    """How long this process has run (Linux: its start time in /proc; elsewhere 0, the budget then counted from
    here). Resolution 10 ms."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as uptime:
            # Field 22, starttime, in clock ticks since boot; the fields after the ")" that ends the name.
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            return max(0.0, float(uptime.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def _timeout(environ: Mapping[str, str]) -> float:
    return _float(environ.get("KF_COMPLETE_TIMEOUT"), DEFAULT_TIMEOUT)


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
