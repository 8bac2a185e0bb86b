"""Trust on the dev cluster: a namespace editor's Function never runs as anyone else until they trust it.

alice may edit her namespace, so she can add a Function named `status` there. It must not shadow the built-in
for admin (client certificate: it would run in admin's own kf process) or bob (token: his token would reach
alice's code), until that user pins it with `command trust`; after alice changes its source, it is untrusted
again. Each user has a home (and so a trust file) of their own, as people do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.nethost import FunctionHost

pytestmark = pytest.mark.cluster

SHADOW = '''"""alice's `status`: what a namespace editor could put there."""

KF_COMMAND = {
    "name": "status",
    "help": "alice's status",
    "timeout": 10,
    "subcommands": [{"name": "list", "default": True, "help": "alice's list"}],
}


def handler(event, context):
    request = event["extensions"]["request"]
    with open(MARKER, "a") as marker:
        marker.write("ran, token: %s\\n" % bool(request.get_header("X-Kf-Caller-Token")))
    return {"kind": "message", "text": "alice's status REVISION"}
'''

HELLO = '''KF_COMMAND = {"name": "hello", "help": "greets", "timeout": 10}


def handler(event, context):
    open(MARKER, "a").write("hello ran\\n")
    return "hello"
'''


class User:
    """kf as one person: their own context and home (config, trust pins, state)."""

    def __init__(self, kubeconfig: str, home: Path, name: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(home), NO_COLOR="1", PAGER="cat",
                        XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
                        XDG_CACHE_HOME=str(home / "cache"))
        self.home = home

    def __call__(self, *argv: str, namespace: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kfshell", "--context", f"kf-{self.name}", "-n", namespace,
                               *argv], env=self.env, capture_output=True, text=True, cwd=self.home, timeout=120)

    def rows(self, namespace: str) -> list[dict]:
        done = self("-o", "json", "command", "list", namespace=namespace)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def source(marker: Path, revision: str = "1", text: str = SHADOW) -> str:
    return f"MARKER = {str(marker)!r}\n" + text.replace("REVISION", revision)


def posts(host: FunctionHost) -> int:
    assert host.runtime is not None
    return host.runtime.log.count('"POST / HTTP/1.1"')


def token_of(kubeconfig: str, user: str) -> str:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    return next(u["user"]["token"] for u in config["users"] if u["name"] == f"kf-{user}")


def grant_proxy(admin, namespace: str, user: str) -> None:
    """Let `user` call the namespace's Services through the API server's proxy (alice's editors may already)."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": f"{user}-proxy"},
        "rules": [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{user}-proxy"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{user}-proxy"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})


def assert_shadowed(user: User, namespace: str) -> None:
    """`command list` shows alice's status, untrusted, losing to a trusted one (the built-in or kf-system's)."""
    rows = {r["scope"]: r for r in user.rows(namespace) if r["name"] == "status"}
    assert rows["built-in"]["trusted"] is True
    assert rows["namespace"]["trusted"] is False and rows["namespace"]["runs"].startswith("shadowed by ")


def builtin_ran(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 0 and "jupyter-web-app" in done.stdout and "alice's status" not in done.stdout


def test_alices_status_runs_for_nobody_else_until_trusted_and_again_after_she_changes_it(
        admin, kubeconfig: str, tmp_path: Path, namespace: str) -> None:
    shared = tmp_path / "shared"  # the function's pod sees it too (a hostPath), and may write in it (uid 1000)
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    marker = shared / "marker"
    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "status.py").write_text(source(marker))
    alice, bob, root = (User(kubeconfig, tmp_path / who, who) for who in ("alice", "bob", "admin"))
    grant_proxy(admin, namespace, "bob")
    added = alice("command", "add", "status", str(module_dir / "status.py"), "--scope", "namespace",
                  namespace=namespace)
    assert added.returncode == 0, added.stderr

    with FunctionHost(admin, namespace, "status", module_dir, "status", timeout=10, host_paths=[shared]) as host:
        for user in (root, bob):
            for mode in ("auto", "local", "kubeless"):
                done = user("--dispatch", mode, "status", "list", namespace=namespace)
                # kubeless: kf-system's status when `devcluster functions up` serves it, else nothing to call
                # (admin's client certificate cannot be passed on to a cluster function: told so, nothing runs)
                refused = mode == "kubeless" and done.returncode == 1 and (
                    "is not deployed" in done.stderr or (user is root and "client certificate" in done.stderr))
                assert refused or builtin_ran(done), (user.name, mode, done.stdout, done.stderr)
        assert not marker.exists()  # alice's code ran nowhere: not in admin's process, not in bob's
        assert posts(host) == 0  # and no request (so no token of bob's) reached her runtime
        assert token_of(kubeconfig, "bob") not in host.runtime.log

        assert_shadowed(bob, namespace)

        trusted = bob("command", "trust", "status", namespace=namespace)
        assert trusted.returncode == 0, trusted.stderr
        assert f"trusted status: Function {namespace}/status at source sha256:" in trusted.stdout
        done = bob("status", "list", namespace=namespace)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "alice's status 1\n"
        assert posts(host) == 1 and marker.read_text() == "ran, token: True\n"  # bob's call went to it
        assert builtin_ran(root("status", "list", namespace=namespace))  # admin's pins are admin's own

        (module_dir / "status2.py").write_text(source(marker, "2"))
        upgraded = alice("command", "upgrade", "status", str(module_dir / "status2.py"), "--scope", "namespace",
                         namespace=namespace)  # kf-system has a `status` too when `devcluster functions up` ran
        assert upgraded.returncode == 0, upgraded.stderr
        assert alice("--dispatch", "local", "status", "list", namespace=namespace).stdout == "alice's status 2\n"
        marker.unlink()
        done = bob("status", "list", namespace=namespace)
        assert builtin_ran(done), done.stderr
        assert posts(host) == 1 and not marker.exists()  # untrusted again: nothing reached it
        assert_shadowed(bob, namespace)


def test_an_untrusted_command_says_why_it_did_not_run_and_how_to_trust_it(kubeconfig: str, tmp_path: Path,
                                                                          namespace: str) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "hello.py").write_text(source(marker, text=HELLO))
    alice, bob = User(kubeconfig, tmp_path / "alice", "alice"), User(kubeconfig, tmp_path / "bob", "bob")
    assert alice("command", "add", "hello", str(tmp_path / "hello.py"), "--scope", "namespace",
                 namespace=namespace).returncode == 0
    assert alice("hello", namespace=namespace).stdout == "hello\n"  # she added it: she trusts it
    marker.unlink()
    refused = bob("hello", namespace=namespace)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert (f"not running hello from Function {namespace}/hello: you have not trusted it" in refused.stderr
            and "`command trust hello`" in refused.stderr)
    assert not marker.exists()
    row = next(r for r in bob.rows(namespace) if r["name"] == "hello")
    assert (row["trusted"], row["runs"]) == (False, "refused: untrusted")
    described = json.loads(bob("-o", "json", "command", "describe", "hello", namespace=namespace).stdout)
    assert "hello ran" in described["function_source"]  # what to read before trusting it
    assert bob("command", "trust", "hello", namespace=namespace).returncode == 0
    assert bob("hello", namespace=namespace).stdout == "hello\n"
    untrusted = bob("command", "untrust", "hello", namespace=namespace)
    assert untrusted.returncode == 0 and "no longer runs as you" in untrusted.stdout
    assert bob("hello", namespace=namespace).returncode == 1


def test_trust_and_untrust_refuse_what_no_function_provides(kubeconfig: str, tmp_path: Path, namespace: str) -> None:
    bob = User(kubeconfig, tmp_path / "bob", "bob")
    missing = bob("command", "untrust", "no-such-command", namespace=namespace)
    assert missing.returncode == 1 and "no Function provides no-such-command" in missing.stderr
    builtin = bob("command", "trust", "status", "--scope", "namespace", namespace=namespace)
    assert builtin.returncode == 1 and "always trusted" in builtin.stderr
