"""The commands a session can run where it is, and which of them the user may run there.

The local registry (shell commands, built-in functions, installed packages' `kf.commands`, the user's own
files) is read once per process. The kf Functions deployed on the cluster (label `kf.kubeflow.org/subcommand`)
for the session's namespace and kf-system are looked up once per place (context, namespace) and trusted
for `FUNCTIONS_TTL` seconds: one round of two list calls, in parallel; a namespace the user may not list, or
a cluster without the Function CRD, has none. Precedence (registry.SOURCE_RANK) then decides which spec
of a name wins: the user's own, the namespace's, kf-system's, a package's, the built-in; a Function the
caller does not trust (kfshell.trust) never wins over another spec of its name.

Nothing here runs on the prompt's thread while the user types: the REPL's completion refresher fills the
caches in the background (`command_items`), and commands that need an answer fetch it when they run. In
one-shot mode only what the command being run needs is looked up: nothing at all for the user's own and
most shell commands, the Functions for everything else, all privileges only for `help` and `command list`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfshell.errors import CredentialsRefused, KfError, Unreachable
from kfshell.privileges import Answers, Privileges
from kfshell.trust import TrustStore

if TYPE_CHECKING:
    from kfshell.dispatch.kubeless import FunctionRef
    from kfshell.registry import CommandSpec, Registry

FUNCTIONS_TTL = 60.0  # seconds the Functions found for a place are trusted before a command looks again
KF_SYSTEM = "kf-system"
# Shell commands that show every command, so need the cluster's too.
CATALOG_COMMANDS = ("help", "command")
SCOPE_OF = {"namespace": "namespace", "kf-system": "cluster"}


@dataclass(frozen=True)
class Deployed:
    """The kf Functions found for one place: their specs for the registry, and the Functions behind them."""

    context: str | None
    namespace: str | None
    refs: tuple[FunctionRef, ...] = ()
    specs: tuple[CommandSpec, ...] = ()
    problems: tuple[str, ...] = ()
    error: KfError | None = None  # why the cluster could not be asked (then there are no specs)
    taken_at: float = field(default_factory=time.monotonic)

    def ref(self, origin: str) -> FunctionRef | None:
        return next((r for r in self.refs if r.origin == origin), None)


def find_deployed(api: Any, context: str | None, namespace: str | None, trust: TrustStore | None = None) -> Deployed:
    """List the kf Functions in `namespace` and kf-system (in parallel) and read their specs.

    `trust`: the caller's pins; without it only kf-system's Functions are trusted."""
    from kfshell import cluster
    from kfshell.dispatch import kubeless

    namespaces = list(dict.fromkeys(ns for ns in (namespace, KF_SYSTEM) if ns))
    try:
        token = getattr(api, "bearer_token", None)
        if callable(token):
            token()  # an exec plugin runs on the calling thread (it may prompt there), not in parallel's
        found = cluster.parallel(lambda ns: kubeless.list_functions(api, ns), namespaces, workers=2)
    except KfError as err:
        return Deployed(context, namespace, error=err)
    except Exception as exc:  # noqa: BLE001 - transport errors become the KfError a person reads
        return Deployed(context, namespace, error=cluster.translate(exc))
    refs = [ref for refs in found for ref in refs]
    specs, problems = specs_of(refs, trust)
    return Deployed(context, namespace, tuple(refs), tuple(specs), tuple(problems))


def specs_of(refs: Sequence[FunctionRef], trust: TrustStore | None = None) -> tuple[list[CommandSpec], list[str]]:
    """CommandSpecs for Functions (source `namespace` or `kf-system`, runs `kubeless`, origin NS/NAME), each
    marked trusted or not by the caller's `trust` (kfshell.trust)."""
    from dataclasses import replace

    from kfshell.registry import SpecError, spec_from_dict

    specs, problems = [], []
    for ref in sorted(refs, key=lambda r: (r.namespace != KF_SYSTEM, r.subcommand != r.name, r.name)):
        source = "kf-system" if ref.namespace == KF_SYSTEM else "namespace"
        if not ref.spec:
            problems.append(f"Function {ref.origin}: no readable kf.kubeflow.org/spec annotation")
            continue
        try:
            spec = spec_from_dict({**ref.spec, "name": ref.subcommand or ref.spec.get("name")}, source=source,
                                  origin=ref.origin, runs="kubeless")
        except SpecError as err:
            problems.append(f"Function {ref.origin}: {err}")
            continue
        specs.append(replace(spec, version=ref.version, checksum=ref.checksum, trusted=is_trusted(ref, trust)))
    return specs, problems


def is_trusted(ref: FunctionRef, trust: TrustStore | None) -> bool:
    """Whether the caller trusts this Function with its current source (kf-system's by default)."""
    if trust is None:
        return ref.namespace == KF_SYSTEM
    return trust.is_trusted(ref.namespace, ref.name, ref.source)


class Catalog:
    """The registry of one session at its current place, the cluster's Functions, and privileges."""

    def __init__(self, session: Any, load_local: Callable[[], Registry], *, ttl: float = FUNCTIONS_TTL) -> None:
        self.session = session
        self.ttl = ttl
        self._load_local = load_local
        self.local: Registry = load_local()
        self.privileges = Privileges()
        self.trust = TrustStore(session.env.config_dir)
        self._deployed: dict[tuple[str | None, str | None], Deployed] = {}
        # (inputs, result) of the last registry() and visible(), kept by identity
        self._combined: tuple[Registry, Deployed, Registry] | None = None
        self._visible: tuple[Registry, Answers, Registry] | None = None
        self._lock = threading.Lock()

    # ---- where ------------------------------------------------------------------------------------

    def place(self, context: str | None = None, namespace: str | None = None) -> tuple[str | None, str | None]:
        return context or self.session.context, namespace or self.session.namespace

    def reload(self) -> None:
        """Read the local commands again and forget what the cluster said (after `command add` & co.)."""
        self.local = self._load_local()
        self.session.registry = self.local
        with self._lock:
            self._deployed.clear()
        self.privileges.forget()

    def forget(self) -> None:
        """Ask the cluster again next time (`refresh`)."""
        with self._lock:
            self._deployed.clear()
        self.privileges.forget()

    # ---- the cluster's Functions -------------------------------------------------------------------

    def deployed(self, context: str | None = None, namespace: str | None = None, *,
                 stale: bool = False) -> Deployed | None:
        """What is known about the Functions for this place (no I/O); None when unknown or too old."""
        with self._lock:
            found = self._deployed.get(self.place(context, namespace))
        if found is None or (not stale and time.monotonic() - found.taken_at > self.ttl):
            return None
        return found

    def fetch_deployed(self, context: str | None = None, namespace: str | None = None,
                       api: Any = None) -> Deployed:
        """Look the Functions up now (one round of list calls) and remember them."""
        context, namespace = self.place(context, namespace)
        try:
            api = api or self.session.api(context)
        except KfError as err:
            found = Deployed(context, namespace, error=err)
        else:
            found = find_deployed(api, context, namespace, self.trust)
        with self._lock:
            self._deployed[(context, namespace)] = found
        return found

    def ensure_deployed(self, context: str | None = None, namespace: str | None = None) -> Deployed:
        return self.deployed(context, namespace) or self.fetch_deployed(context, namespace)

    def needs_cluster(self, word: str, namespace: str | None = None) -> bool:
        """Whether the registry for a command called `word` (run in `namespace`) depends on the cluster's
        Functions."""
        spec = self.local.get(word)
        if spec is None:
            return True  # perhaps a namespace's or kf-system's command
        if spec.source == "client":
            return word in CATALOG_COMMANDS
        if spec.source == "user":
            return False  # the user's own command wins over any Function
        if getattr(self.session, "dispatch", "auto") == "local":
            # --dispatch local runs the commands that are here (no lookup, issue 13); only a Function the
            # caller pinned in this namespace (`command trust`) may replace one of them, so look only then.
            where = self.place(None, namespace)[1]
            return any(pin.namespace == where for pin in self.trust.pins())
        return True

    # ---- registries -----------------------------------------------------------------------------

    def registry(self, context: str | None = None, namespace: str | None = None) -> Registry:
        """The local commands plus the Functions known for this place (no I/O)."""
        found = self.deployed(context, namespace, stale=True)
        if found is None or not found.specs:
            return self.local
        local, memo = self.local, self._combined
        if memo is not None and memo[0] is local and memo[1] is found:
            return memo[2]  # asked for on every keystroke by completion: build it once per lookup
        specs = found.specs
        if getattr(self.session, "dispatch", "auto") == "local":
            specs = self._without_shadowing(specs)
        combined = local.with_candidates(specs)
        self._combined = (local, found, combined)
        return combined

    def _without_shadowing(self, specs: Sequence[CommandSpec]) -> list[CommandSpec]:
        """Under --dispatch local the commands that are here run; a Function replaces one of them only if the
        caller pinned it (`command trust`), as in a one-shot (needs_cluster). Functions adding new commands stay."""
        pinned = {f"{pin.namespace}/{pin.name}" for pin in self.trust.pins()}
        return [spec for spec in specs if self.local.get(spec.name) is None or spec.origin in pinned]

    def registry_for(self, words: Sequence[str], context: str | None = None,
                     namespace: str | None = None) -> Registry:
        """The registry to parse `words` with: the Functions are looked up first if the command needs them."""
        if words and self.needs_cluster(words[0], namespace) and self.deployed(context, namespace) is None:
            self.fetch_deployed(context, namespace)
        return self.registry(context, namespace)

    def unreachable(self, context: str | None = None, namespace: str | None = None) -> KfError | None:
        """The error met when the cluster was last asked for this place, if it could not be reached."""
        found = self.deployed(context, namespace)
        if found is not None and isinstance(found.error, (Unreachable, CredentialsRefused)):
            return found.error
        return None

    # ---- privileges ------------------------------------------------------------------------------

    def answers(self, context: str | None = None, namespace: str | None = None, *,
                fetch: bool = True) -> Answers | None:
        """Privileges for every command here (reviewed now when `fetch` and not known; None if unknown)."""
        context, namespace = self.place(context, namespace)
        known = self.privileges.known(context, namespace, stale=not fetch)
        registry = self.registry(context, namespace)
        if known is not None and known.covers(_needs(registry, namespace)):
            return known
        if not fetch or self.unreachable(context, namespace) is not None:
            return known
        try:
            return self.privileges.check(self.session.api(context), context, namespace, registry.commands())
        except KfError:
            return known
        except Exception:  # noqa: BLE001 - no answer: show everything; the API server decides at run time
            return known

    def visible(self, context: str | None = None, namespace: str | None = None, *,
                fetch: bool = False) -> Registry:
        """The commands to show in help and completion: those the user may run (all, if not known)."""
        registry = self.registry(context, namespace)
        answers = self.answers(context, namespace, fetch=fetch)
        if answers is None:
            return registry
        memo = self._visible
        if memo is not None and memo[0] is registry and memo[1] is answers:
            return memo[2]
        view = registry.restricted(answers.may_run)
        self._visible = (registry, answers, view)
        return view

    def missing(self, spec: CommandSpec, sub: CommandSpec | None, context: str | None,
                namespace: str | None) -> list[Any] | None:
        """The requirements of `spec`/`sub` the user lacks here (reviewed now if not known); None if unknown."""
        from kfshell.privileges import needs

        context, namespace = self.place(context, namespace)
        wanted = needs(spec, sub, namespace)
        if not wanted or self.unreachable(context, namespace) is not None:
            return []
        try:
            answers = self.privileges.check_needs(self.session.api(context), context, namespace, wanted)
        except Exception:  # noqa: BLE001 - cannot ask: let the command run and the API server decide
            return None
        return answers.missing(spec, sub)

    def command_items(self, api: Any, context: str | None, namespace: str | None) -> list[Any]:
        """For the completion refresher (a background thread): look up the Functions and privileges for the
        place, and return the `commands` completion items the user may run."""
        from kfshell.completion.snapshot import Item

        self.fetch_deployed(context, namespace, api=api)
        registry = self.registry(context, namespace)
        answers = self.privileges.check(api, context, namespace, registry.commands())
        return [Item(spec.name, (spec.help or "").strip().split("\n")[0])
                for spec in registry.commands() if answers.may_run(spec)]


def _needs(registry: Registry, namespace: str | None) -> list[Any]:
    from kfshell.privileges import all_needs

    return all_needs(registry.commands(), namespace)
