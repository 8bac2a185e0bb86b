"""The kf> prompt: prompt_toolkit session, toolbar, history, highlighting, completion, and the loop.

Nothing here waits on the network while the user types: whether the cluster answers (and who we are) is
found out by `ClusterProbe` in a background thread, and completion names by the completion refresher; both
ask the prompt to redraw when they learn something. Ctrl-C abandons the line being typed (or interrupts the
running command, see dispatch/local.py) and the shell carries on; Ctrl-D or `exit` leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.output.color_depth import ColorDepth
from prompt_toolkit.styles import Style

from kfshell.commands.exit import LeaveShell
from kfshell.errors import CredentialsRefused, KfError, Unreachable, show
from kfshell.lexer import make_lexer

if TYPE_CHECKING:
    from kfshell.registry import Registry
    from kfshell.runner import Runner
    from kfshell.session import Session

PROBE_INTERVAL = 15.0  # seconds between "does the cluster answer?" checks

STYLE = Style.from_dict({
    "prompt.kf": "bold",
    "prompt.context": "ansicyan",
    "prompt.namespace": "ansigreen bold",
    "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
    "toolbar.ok": "ansigreen",
    "toolbar.bad": "ansired",
    "toolbar.wait": "ansiyellow",
})


class ClusterProbe:
    """Finds out in the background whether the cluster answers and who it says we are.

    `state` is one of: checking, answers, unreachable, refused, error; `user` the name the API server
    reports (the kubeconfig's user name until it has answered).
    """

    def __init__(self, session: Session, invalidate: Callable[[], None]) -> None:
        self.session = session
        self.invalidate = invalidate
        self.state = "checking"
        self.user: str | None = None
        self.detail: str | None = None
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="kf-cluster-probe", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Check again now (after `use` switched context)."""
        self.state = "checking"
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            self.check()
            self.invalidate()
            self._wake.wait(PROBE_INTERVAL)

    def check(self) -> None:
        from kfshell import cluster

        session = self.session
        if session.context is None:
            self.state, self.detail = "error", "no context"
            return
        try:
            identity = cluster.whoami(session.api(), fallback_user=session.user_name())
        except Exception as exc:  # noqa: BLE001 - every failure is a state shown in the toolbar
            error = cluster.translate(exc)
            self.detail = error.message
            if isinstance(error, CredentialsRefused):
                self.state = "refused"
            elif isinstance(error, Unreachable):
                self.state = "unreachable"
            else:
                self.state = "error"
            return
        self.state, self.user, self.detail = "answers", identity.user, None


def prompt_message(session: Session) -> list[tuple[str, str]]:
    """`kf <context>:<namespace>> ` as styled fragments."""
    return [
        ("class:prompt.kf", "kf "),
        ("class:prompt.context", session.context or "(no context)"),
        ("", ":"),
        ("class:prompt.namespace", session.namespace),
        ("", "> "),
    ]


def toolbar(session: Session, probe: ClusterProbe) -> list[tuple[str, str]]:
    """User, cluster, namespace, whether the cluster answers, and whether completion is refreshing."""
    user = probe.user or session.user_name() or "?"
    fragments = [
        ("", f" {user}"),
        ("", f" @ {session.cluster_name() or 'no cluster'}"),
        ("", f"  namespace {session.namespace}  "),
    ]
    state = probe.state
    if state == "answers":
        fragments.append(("class:toolbar.ok", "● cluster answers"))
    elif state == "checking":
        fragments.append(("class:toolbar.wait", "○ checking cluster"))
    else:
        words = {"unreachable": "unreachable", "refused": "credentials refused"}.get(state, "error")
        fragments.append(("class:toolbar.bad", f"✗ {words}"))
    refresher = session.refresher
    if refresher is not None and getattr(refresher, "refreshing", False):
        fragments.append(("class:toolbar.wait", "  refreshing names…"))
    return fragments


def load_completer(registry: Registry, session: Session, invalidate: Callable[[], None]) -> Any:
    """The completion helper's completer, when kfshell.completion is installed; None otherwise."""
    try:
        from kfshell.completion import make_completer
    except ImportError:
        return None
    return make_completer(registry, session, invalidate)


def _tab_bindings() -> Any:
    """TAB as pgcli and fish have it (kfshell.completion.keys), when completion is installed."""
    try:
        from kfshell.completion.keys import tab_bindings
    except ImportError:
        return None
    return tab_bindings()


def run_repl(session: Session, registry: Registry, runner: Runner, *, first_prompt: Any = None) -> int:
    """The interactive loop; returns the exit status of the shell (0 unless `exit N`).

    `first_prompt`: the prompt already on screen (kfshell.first_prompt), erased when prompt_toolkit takes over."""
    env = session.env
    history: Any
    try:
        env.state_dir.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(env.state_dir / "history"))
    except OSError:
        history = InMemoryHistory()  # a read-only home must not stop the shell
    commands = registry.commands()
    lexer = make_lexer([c.name for c in commands], [s.name for c in commands for s in c.subcommands])
    prompt: PromptSession[str] = PromptSession(
        history=history,
        auto_suggest=AutoSuggestFromHistory(),
        lexer=PygmentsLexer(lexer),
        style=STYLE,
        color_depth=None if env.colors else ColorDepth.DEPTH_1_BIT,
        complete_while_typing=True,
        bottom_toolbar=lambda: toolbar(session, probe),
        key_bindings=_tab_bindings(),
    )

    def invalidate() -> None:
        prompt.app.invalidate()  # thread-safe; a no-op while no prompt is on screen

    probe = ClusterProbe(session, invalidate)
    catalog = session.catalog
    # Completion offers what the user may run where the session is (no I/O: what the refresher found).
    completer = load_completer(catalog.visible if catalog is not None else registry, session, invalidate)
    if completer is not None:
        prompt.completer = completer
        session.refresher = getattr(completer, "refresher", None)

    def switched() -> None:
        probe.wake()
        if session.refresher is not None:
            session.refresher.refresh()  # names for the new place (non-blocking)

    session.on_switch(switched)
    session.at_prompt = True
    started = False

    def start_background(_app: object = None) -> None:
        # After the first prompt is drawn: the threads import kubernetes, which must not delay it.
        nonlocal started
        if not started:
            started = True
            probe.start()
            if session.refresher is not None:
                session.refresher.start()

    prompt.app.after_render += start_background

    if first_prompt is not None:
        first_prompt.erase()
    if session.problem is not None:
        show(session.problem, env, session.verbose)
    try:
        while True:
            try:
                line = prompt.prompt(lambda: prompt_message(session))
            except KeyboardInterrupt:
                continue  # Ctrl-C abandons the line
            except EOFError:
                return 0  # Ctrl-D
            if not line.strip():
                continue
            try:
                runner.run_line(line)
            except LeaveShell as leave:
                return leave.status
            except KfError as err:  # defensive: the runner shows errors itself
                show(err, env, session.verbose)
            if completer is not None and hasattr(completer, "remember"):
                completer.remember(line)
    finally:
        probe.stop()
        if session.refresher is not None:
            session.refresher.stop()
