"""`admin manifests|install|uninstall`: put kf's functions on a cluster (for cluster administrators).

What is installed, in which order, and how uninstall knows what install made: kfshell/admin/install.py.
A client-side command: it acts with the administrator's own credentials. Before it changes anything it
reviews every access it will need (SelfSubjectAccessReviews) and refuses with one line when one is missing.
Its `requires` hide it from help and completion for anyone who may not create CRDs and cluster role
bindings. `manifests` needs no cluster at all (GitOps pipelines render it offline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed
from kfshell.result import Empty, Object, Table

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

_NAMESPACE = {"name": "namespace", "kind": "option", "flags": ["-n", "--namespace"],
              "help": "the namespace for kf's functions and their controller (default kf-system)"}
_IMAGE = {"name": "image", "kind": "option", "flags": ["--image"],
          "help": "the runtime image the controller and functions run (default kf-runtime:0.1.0)"}
_CALLER = {"name": "caller", "kind": "option", "flags": ["--caller"], "repeat": True,
           "help": "who may call the functions: user:NAME, group:NAME or serviceaccount:NS:NAME "
                   "(repeatable; default group:system:authenticated)"}
_WAIT = {"name": "wait", "kind": "flag", "flags": ["--wait"],
         "help": "then wait until the controller has every built-in function Ready (exit 1 if one is not)"}
_DRY_RUN = {"name": "dry_run", "kind": "flag", "flags": ["--dry-run"],
            "help": "change nothing: list what would be created, changed or left"}

KF_COMMAND = {
    "name": "admin",
    "help": "install kf's functions on a cluster, or remove them (for cluster administrators)",
    "requires": [
        {"verb": "create", "resource": "customresourcedefinitions", "group": "apiextensions.k8s.io"},
        {"verb": "create", "resource": "clusterrolebindings", "group": "rbac.authorization.k8s.io"},
    ],
    "subcommands": [
        {"name": "manifests", "help": "print every object install applies, as YAML (for GitOps)",
         "arguments": [_NAMESPACE, _IMAGE, _CALLER]},
        {"name": "install", "help": "install or upgrade: the Function CRD, the controller, RBAC, the built-ins",
         "arguments": [_NAMESPACE, _IMAGE, _CALLER, _DRY_RUN, _WAIT]},
        {"name": "uninstall", "help": "remove what install made (what was there before stays)",
         "arguments": [_NAMESPACE, _DRY_RUN,
                       {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask"}]},
    ],
}

COLUMNS = ("OBJECT", "NAMESPACE", "ACTION")
WIDE = ("FIELDS",)
# verbs reviewed before acting, the most telling first (the refusal names the first one missing)
VERBS = {"install": ("create", "patch", "get"), "install-dry-run": ("patch", "get"),
         "uninstall": ("delete", "patch", "get"), "uninstall-dry-run": ("get",)}


def run(invocation: Invocation, session: Session) -> Result:
    from kfshell.admin import install, rbac
    from kfshell.names import check_name

    args = invocation.args
    namespace = args.get("namespace") or install.NAMESPACE
    check_name(namespace, "namespace")
    objects = install.render(namespace, args.get("image"), args.get("caller") or rbac.DEFAULT_CALLERS)
    sub = invocation.command.name
    if sub == "manifests":
        return _manifests(objects, invocation.output or session.output, session)
    dry_run = bool(args.get("dry_run"))
    api = session.api(invocation.context or session.context)
    install.require_admin(api, objects, VERBS[sub + ("-dry-run" if dry_run else "")], f"admin {sub}")
    if sub == "uninstall" and not dry_run:
        from kfshell.dispatch import consent

        consent(_uninstall_question(api, namespace), invocation, session)
    act = install.install if sub == "install" else install.uninstall
    from kfshell.spinner import spinning

    env = session.env
    with spinning(env.stderr, f"admin {sub} ...", enabled=env.interactive):
        changes = _call(act, api, objects, dry_run)
    rows = tuple((c.ref.shown, c.ref.namespace or "", c.action, ",".join(c.fields)) for c in changes)
    table = Table(COLUMNS, rows, wide_columns=WIDE)
    if sub == "install" and args.get("wait") and not dry_run:
        with spinning(env.stderr, "waiting for the functions to be Ready ...", enabled=env.interactive):
            pending = _call(lambda a, o, dry_run: install.wait_ready(a, o), api, objects, False)
        if pending:
            from kfshell.output import emit

            emit(table, invocation.output or session.output, env)  # what was applied, before saying what is not
            raise CommandFailed(f"{len(pending)} functions not Ready after {install.READY_TIMEOUT:.0f} s: "
                                + "; ".join(pending), hint=f"kubectl describe functions -n {namespace}",
                                reason="NotReady")
    return table


def _uninstall_question(api: Any, namespace: str) -> str:
    """What uninstall asks; it names the Functions that deleting the CRD would take with it."""
    from kfshell.admin import install

    question = f"remove kf's functions, controller and RBAC installed in namespace {namespace}"
    others = _call(lambda a, o, dry_run: install.other_functions(a, namespace) if install.crd_goes(a) else [],
                   api, [], False)
    if others:
        where = sorted({ref.namespace or "" for ref in others})
        question += (f", and the Function CRD, which deletes {len(others)} other Functions too (in "
                     f"{', '.join(where)})")
    return question


def _call(act: Any, api: Any, objects: list[dict[str, Any]], dry_run: bool) -> list[Any]:
    from kfshell import cluster
    from kfshell.errors import KfError

    try:
        return act(api, objects, dry_run=dry_run)
    except KfError:
        raise
    except Exception as exc:  # noqa: BLE001 - an API refusal or a lost connection: one line, its exit status
        raise cluster.translate(exc) from exc


def _manifests(objects: list[dict[str, Any]], fmt: str, session: Session) -> Result:
    """YAML documents on stdout (also for -o table), a v1 List for -o json, the objects' names for -o name."""
    from kfshell.admin import install

    if fmt == "json":
        return Object({"apiVersion": "v1", "kind": "List", "items": objects})
    if fmt == "name":
        refs = [install.Ref.of(o) for o in objects]
        return Table(("OBJECT", "NAMESPACE"), tuple((r.shown, r.namespace or "") for r in refs))
    session.env.stdout.write(install.to_yaml(objects))
    session.env.stdout.flush()
    return Empty()
