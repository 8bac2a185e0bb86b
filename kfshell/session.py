"""One kf session: which kubeconfig, context and namespace commands run in, and the clients they share.

Where the context and namespace come from, first match wins:
  context:   --context; the one kf's state file remembers (if the kubeconfig still has it); current-context.
  namespace: -n; the one remembered for that context; the context's namespace; "default".
`--context`/`-n` pin the session for this invocation only: `use` still switches, but nothing is saved.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kfshell.config import StateStore
from kfshell.env import Environment
from kfshell.errors import KfError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from kfshell.kubeconfig import KubeConfig


@dataclass(frozen=True)
class SessionOptions:
    """What the command line asked for; None means "not given"."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    output: str = "table"
    verbose: bool = False
    assume_yes: bool = False
    dispatch: str = "auto"  # where function commands run: auto, local or kubeless (kfshell.dispatch.where)


class Session:
    """The shared state of one kf process (see docs/architecture.md, "Session")."""

    def __init__(self, env: Environment, options: SessionOptions | None = None,
                 store: StateStore | None = None) -> None:
        options = options or SessionOptions()
        self.env = env
        self.options = options
        self.output = options.output
        self.verbose = options.verbose
        self.assume_yes = options.assume_yes
        self.dispatch = options.dispatch
        self.pinned = bool(options.context or options.namespace)
        self.store = store if store is not None else StateStore(env.state_dir)
        self.refresher: Any = None  # the completion refresher, at the kf> prompt only
        self.registry: Any = None  # the local Registry (client, built-in, packages, user files), set by the CLI
        # The commands where the session is (the registry plus the cluster's Functions) and who may run
        # them (kfshell.catalog.Catalog), set by the CLI; None in tests that build a bare Session.
        self.catalog: Any = None
        self.at_prompt = False  # True in the kf> loop: `open` then runs in the background
        self.forwards: Any = None  # `open`'s background port-forwards (kfshell/commands/open.py)
        self._told: set[str] = set()
        self.context: str | None = None
        self.namespace: str = "default"
        # Why the kubeconfig could not be read, kept so the REPL can still start and say so.
        self.problem: KfError | None = None
        self._kubeconfig: KubeConfig | None = None
        self._clients: dict[str | None, ApiClient] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._resolve()

    # ------------------------------------------------------------------------------------ where we are

    def _resolve(self) -> None:
        saved = self.store.load()
        try:
            config = self.kubeconfig()
        except KfError as err:
            if self.options.context:
                raise  # an explicit --context that cannot be used is the user's mistake: say so now
            self.problem = err
            self.context = self.options.context
            self.namespace = self.options.namespace or "default"
            return
        context = self.options.context
        if context is None and saved.context in config.contexts:
            context = saved.context
        if context is None:
            context = config.current_context
        self.context = context
        namespace = self.options.namespace or saved.namespace_for(context)
        if namespace is None and context in config.contexts:
            namespace = config.namespace(context)
        self.namespace = namespace or "default"

    @property
    def kubeconfig_paths(self) -> list[str]:
        from kfshell.kubeconfig import kubeconfig_paths

        paths, _explicit = kubeconfig_paths(self.options.kubeconfig, self.env.environ)
        return [str(p) for p in paths]

    def kubeconfig_env(self) -> str | None:
        """The kubeconfig files as a KUBECONFIG-style string, for the function event (None: the default)."""
        paths = self.kubeconfig_paths
        return os.pathsep.join(paths) if paths else None

    def kubeconfig(self) -> KubeConfig:
        """The merged kubeconfig (read once; it is never written by kf)."""
        with self._lock:
            if self._kubeconfig is None:
                from kfshell.kubeconfig import load_kubeconfig

                self._kubeconfig = load_kubeconfig(self.options.kubeconfig, self.options.context,
                                                   environ=self.env.environ, cache_dir=self.env.cache_dir)
            return self._kubeconfig

    def api(self, context: str | None = None) -> ApiClient:
        """A client for `context` (default: the session's), built once and shared; thread-safe."""
        context = context or self.context
        config = self.kubeconfig()
        config.context(context)  # a missing or unknown context is a clear UsageError, not a client error
        with self._lock:
            client = self._clients.get(context)
            if client is None:
                from kfshell.cluster import api_client

                client = api_client(config, context)
                self._clients[context] = client
            return client

    def tell_once(self, key: str, line: str) -> None:
        """Print `kf: note: <line>` on stderr the first time `key` comes up for this kubeconfig user and
        context: remembered in the state file, so a script's every `kf` call does not repeat it."""
        scoped = f"{key}:{self.user_name() or ''}@{self.context or ''}"
        with self._lock:
            if scoped in self._told:
                return
            self._told.add(scoped)
        try:
            first = self.store.tell(scoped)
        except OSError:
            first = True  # no writable state: better said every time than never
        if not first:
            return
        self.env.stderr.write(f"kf: note: {line}\n")
        self.env.stderr.flush()

    def cluster_name(self) -> str | None:
        try:
            return self.kubeconfig().context(self.context).cluster
        except KfError:
            return None

    def user_name(self) -> str | None:
        try:
            return self.kubeconfig().context(self.context).user
        except KfError:
            return None

    # ------------------------------------------------------------------------------------- switching

    def use(self, namespace: str | None = None, context: str | None = None, *, explicit: bool = False) -> None:
        """Switch namespace and/or context; remembered in the state file unless the invocation is pinned.

        `explicit` (the `use` command) is remembered even then: the namespace for its context, and the
        context as the current one unless only `--context` of this invocation chose it.
        """
        if context is not None and context != self.context:
            self.kubeconfig().context(context)  # UsageError with "did you mean" for an unknown one
            self.context = context
            if namespace is None:
                saved = self.store.load().namespace_for(context)
                namespace = saved or self.kubeconfig().namespace(context)
        if namespace is not None:
            self.namespace = namespace
        if not self.pinned:
            self.store.save(context=self.context, namespace=self.namespace)
        elif explicit:
            current = context is not None or not self.options.context
            self.store.save(context=self.context, namespace=self.namespace, current=current)
        for listener in list(self._listeners):
            listener()

    def on_switch(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every `use` (the REPL's toolbar, the completion refresher)."""
        self._listeners.append(listener)
