"""Where a function command runs: `--dispatch auto|local|kubeless`.

- `local`: always in the embedded runtime, without asking the cluster which Functions exist for a command kf
  has here (built-in, package): only a namespace where the caller pinned a Function (`command trust`) is
  looked up, since only that can replace one. A command that comes from a cluster Function (one kf does not
  have here, or a pinned one) runs the Function's own source (spec.function) here.
- `kubeless`: always through the cluster's Function; a command with no Function, a Function that is not
  ready, or a caller without a bearer token is a clear error (exit 1).
- `auto` (the default): the cluster's Function when one provides the command (precedence decides, see
  kfshell.catalog), it is ready (its Service has a ready endpoint) and the caller has a bearer token;
  otherwise locally. A caller who authenticates with a client certificate is told so once per session.

Before any of that, in every mode, the Function must be one the caller trusts (kfshell.trust: kf-system's by
default, a namespace's once pinned with `command trust`): an untrusted one never runs here and never receives
the caller's token. A Function whose source no longer matches its recorded checksum is refused too; that
checksum sits in the same object as the source, so it catches drift (an edit made without `command
upgrade`), never tampering: trust is what keeps strangers' code out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed

if TYPE_CHECKING:
    from kfshell.dispatch.kubeless import FunctionRef
    from kfshell.registry import CommandSpec

MODES = ("auto", "local", "kubeless")
CLUSTER_SOURCES = ("namespace", "kf-system")
NO_TOKEN = "your credentials are a client certificate, not a bearer token, so cluster functions cannot act as you"
NO_TOKEN_NOTE = f"{NO_TOKEN}: commands run locally"


@dataclass(frozen=True)
class Target:
    """Run `local`ly (`ref`: the Function whose source to run, or None for a local module) or on `kubeless`
    (`port`: the Service's port to proxy to, when known)."""

    kind: str
    ref: FunctionRef | None = None
    port: str | None = None


def choose(spec: CommandSpec, mode: str, session: Any, context: str | None, namespace: str | None) -> Target:
    """Where `spec` runs for this invocation; raises CommandFailed when `mode` cannot be honoured."""
    if spec.source not in CLUSTER_SOURCES:
        if mode == "kubeless":
            raise not_deployed(spec, namespace)
        return Target("local")
    ref = function_of(spec, session, context, namespace)
    check_source(spec, ref)
    check_trusted(spec, ref, session)
    if mode == "local":
        return Target("local", ref)
    from kfshell import cluster
    from kfshell.dispatch import kubeless

    api = session.api(context)
    acting_as = getattr(api, "impersonated_user", None)
    if acting_as:
        # The function would verify the token and act as its owner, not as the kubeconfig's `as` identity.
        if mode == "kubeless":
            raise CommandFailed(f"cannot run {spec.name} on the cluster: {impersonation_note(acting_as)}",
                                hint="--dispatch local runs it here", reason="NoBearerToken")
        session.tell_once("impersonating", f"{impersonation_note(acting_as)}: commands run locally")
        return Target("local", ref)
    if not cluster.bearer_token(api):
        if mode == "kubeless":
            raise CommandFailed(f"cannot run {spec.name} on the cluster: {NO_TOKEN}",
                                hint="use a context with a token, or --dispatch local", reason="NoBearerToken")
        session.tell_once("no-token", NO_TOKEN_NOTE)
        return Target("local", ref)
    try:
        found = kubeless.readiness(api, ref.namespace, ref.name)
    except CommandFailed:
        found = kubeless.Readiness(False)
    if not found.ready:
        if mode == "kubeless":
            raise CommandFailed(f"function {ref.origin} is not ready: its Service has no ready endpoint",
                                hint="its pod is not running; --dispatch local runs the command here",
                                reason="Unavailable")
        return Target("local", ref)
    return Target("kubeless", ref, found.port)


def impersonation_note(user: str) -> str:
    return f"your context acts as {user} (kubeconfig `as`), which cluster functions cannot do for you"


def function_of(spec: CommandSpec, session: Any, context: str | None, namespace: str | None) -> FunctionRef:
    """The Function behind a cluster spec (origin NS/NAME), from the session's catalog."""
    catalog = getattr(session, "catalog", None)
    found = None
    if catalog is not None:
        deployed = catalog.deployed(context, namespace, stale=True)
        found = deployed.ref(spec.origin) if deployed is not None else None
    if found is None:
        # No "<name>:" prefix: the runner names the command that failed.
        raise CommandFailed(f"its Function {spec.origin} is no longer known",
                            hint="run `refresh` and try again", reason="NotFound")
    return found


def check_source(spec: CommandSpec, ref: FunctionRef) -> None:
    """Refuse a Function whose source was changed after its checksum was recorded."""
    if ref.source_matches:
        return
    if ref.source is None:
        problem = "it has no source (spec.function)"
    elif not ref.checksum:
        problem = "it records no checksum (spec.checksum) to check its source against"
    else:
        problem = (f"its source no longer matches its checksum {ref.checksum[:19]}…: it was edited without "
                   "`command upgrade`")
    scope = "cluster" if spec.source == "kf-system" else "namespace"
    raise CommandFailed(f"refusing to run {spec.name} from Function {ref.origin}: {problem}",
                        hint=f"re-add it with `command upgrade {spec.name} FILE --scope {scope}`, or ask whoever "
                             "manages it (the checksum catches drift; it does not tell who wrote the code)",
                        reason="Tampered")


def trust_of(session: Any) -> Any:
    """The caller's TrustStore: the catalog's, else one read from the session's config dir (None: none)."""
    catalog = getattr(session, "catalog", None)
    store = getattr(catalog, "trust", None)
    if store is not None:
        return store
    env = getattr(session, "env", None)
    if env is None:
        return None
    from kfshell.trust import TrustStore

    return TrustStore(env.config_dir)


def check_trusted(spec: CommandSpec, ref: FunctionRef, session: Any) -> None:
    """Refuse a Function the caller has not trusted with this very source (exit 1, saying how to trust it)."""
    from kfshell.catalog import is_trusted

    store = trust_of(session)
    if is_trusted(ref, store):
        return
    if ref.namespace == "kf-system":
        why = "you opted out of it (`command untrust`)"
        how = f"`command trust {spec.name} --scope cluster` trusts it again"
    else:
        pin = store.pinned(ref.namespace, ref.name) if store is not None else None
        changed = " and its source changed since you trusted it" if pin is not None else ""
        why = (f"you have not trusted it{changed}: it is code from namespace {ref.namespace}, "
               "which anyone who may edit Functions there can change")
        how = f"read it (`command describe {spec.name} -o yaml`), then `command trust {spec.name}`"
    raise CommandFailed(f"not running {spec.name} from Function {ref.origin}: {why}", hint=how,
                        reason="Untrusted")


def not_deployed(spec: CommandSpec, namespace: str | None) -> CommandFailed:
    if spec.source == "client":
        return CommandFailed(f"{spec.name} is a shell command: it always runs in the shell", reason="Invalid")
    where = f"{namespace} or kf-system" if namespace else "kf-system"
    whose = {"user": "your own command (user scope)", "package": "an installed package's command"}.get(
        spec.source)
    if whose:
        message = f"{spec.name} is {whose} and runs only locally"
    else:
        message = f"{spec.name} is not deployed as a Function in {where}"
    return CommandFailed(message, hint="--dispatch auto runs it wherever it can", reason="NotDeployed")
