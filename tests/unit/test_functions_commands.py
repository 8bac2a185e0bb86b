"""Function commands without a cluster: privileges logic, restricted registries, `command add` in user scope,
sources and their checks, where a command runs, and the `kf.commands` entry-point group."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kfshell import command_store as store
from kfshell.cli import main, parse_global
from kfshell.dispatch import where
from kfshell.dispatch.kubeless import FunctionRef, source_checksum
from kfshell.errors import CommandFailed, UsageError
from kfshell.privileges import Answers, access, describe, needs
from kfshell.registry import Registry, spec_from_dict
from kfshell.runner import place_given
from tests.unit.shell_env import fresh, make_shell

ROOT = Path(__file__).resolve().parents[2]

HELLO = '''
"""say hello"""

KF_COMMAND = {"name": "hello", "help": "say hello", "timeout": 5,
              "arguments": [{"name": "who", "help": "whom"}]}


def handler(event, context):
    return {"kind": "message", "text": "hello " + event["data"]["args"].get("who", "world")}
'''

TOOL = {
    "name": "tool",
    "requires": [{"verb": "list", "resource": "pods", "namespace": "$namespace"}],
    "subcommands": [
        {"name": "look", "default": True},
        {"name": "make", "requires": [{"verb": "create", "resource": "pods", "namespace": "$namespace"}]},
        {"name": "proxy", "requires": [{"verb": "create", "resource": "services/proxy", "namespace": "kf-system"}]},
    ],
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# ---- privileges ---------------------------------------------------------------------------------------


def test_requirements_resolve_the_namespace_and_split_subresources():
    spec = spec_from_dict(TOOL)
    proxy = spec.subcommand("proxy")
    found = needs(spec, proxy, "team-a")
    assert [(n.verb, n.resource, n.subresource, n.namespace) for n in found] == [
        ("list", "pods", None, "team-a"), ("create", "services", "proxy", "kf-system")]
    assert describe(found[1]) == "create services/proxy in namespace kf-system"
    assert describe(access(spec_from_dict({"name": "c", "requires": [
        {"verb": "create", "resource": "profiles", "group": "kubeflow.org"}]}).requires[0], "x")) == \
        "create profiles.kubeflow.org cluster-wide"


def test_a_command_runs_when_its_requirements_and_one_subcommand_are_allowed():
    spec = spec_from_dict(TOOL)
    list_pods, create_pods = needs(spec, None, "ns")[0], needs(spec, spec.subcommand("make"), "ns")[1]
    proxy = needs(spec, spec.subcommand("proxy"), "ns")[1]
    answers = Answers("ctx", "ns", {list_pods: True, create_pods: False, proxy: False})
    assert answers.may_run(spec) and answers.may_run(spec, spec.subcommand("look"))
    assert not answers.may_run(spec, spec.subcommand("make"))
    assert answers.missing(spec, spec.subcommand("make")) == [create_pods]
    assert answers.leaves([spec]) == (1, 3)
    nothing = Answers("ctx", "ns", {list_pods: False})
    assert not nothing.may_run(spec)


def test_help_and_completion_see_only_runnable_commands_and_subcommands():
    tool = spec_from_dict(TOOL)
    hello = spec_from_dict({"name": "hello"})
    registry = Registry([tool, hello])
    create_pods = needs(tool, tool.subcommand("make"), "ns")[1]
    view = registry.restricted(Answers("c", "ns", {create_pods: False}).may_run)
    assert view.names() == ["hello", "tool"]
    assert [s.name for s in view.get("tool").subcommands] == ["look", "proxy"]
    assert [s.name for s in registry.get("tool").subcommands] == ["look", "make", "proxy"]  # untouched


# ---- sources and command add ----------------------------------------------------------------------------


def test_requires_flags_read_as_requirements():
    assert store.parse_requirement("create:notebooks.kubeflow.org") == {
        "verb": "create", "resource": "notebooks", "group": "kubeflow.org", "namespace": "$namespace"}
    assert store.parse_requirement("list:pods@kubeflow")["namespace"] == "kubeflow"
    assert store.parse_requirement("create:namespaces@")["namespace"] is None
    assert store.parse_requirement("get:services/proxy")["resource"] == "services/proxy"
    with pytest.raises(UsageError, match="VERB:RESOURCE"):
        store.parse_requirement("pods")


@pytest.mark.parametrize(("body", "problem"), [
    ("KF_COMMAND = {'name': 'x'}\n", "defines no handler"),
    ("def handler(e, c):\n    return 1\n", "no KF_COMMAND"),
    ("KF_COMMAND = {'name': 'x', 'arguments': [{'name': 'a', 'kind': 'odd'}]}\ndef handler(e, c): pass\n",
     "kind must be one of"),
    ("KF_COMMAND = dict(name='x')\ndef handler(e, c): pass\n", "must be a literal"),
    ("def handler(e, c):\n  return (\n", "line 2"),
])
def test_a_bad_source_is_refused_saying_what_is_wrong(tmp_path, body, problem):
    path = write(tmp_path / "x.py", body)
    with pytest.raises(UsageError, match=problem) as refused:
        store.read_source("x", path)
    assert refused.value.exit_status == 2


def test_a_source_takes_the_name_it_is_added_as_and_the_added_requirements(tmp_path):
    path = write(tmp_path / "greet.py", HELLO)
    added = (store.parse_requirement("list:pods"),)
    source = store.read_source("greet", path, added=added)
    assert source.spec["name"] == "greet" and source.spec["requires"] == [dict(added[0])]
    assert source.checksum == source_checksum(path.read_text())
    with pytest.raises(CommandFailed, match="not the 00ff given"):
        store.read_source("greet", path, sha256="00ff")
    assert store.read_source("greet", path, sha256=source.checksum.removeprefix("sha256:")).checksum


def test_the_function_object_carries_source_handler_checksum_labels_and_spec(tmp_path):
    source = store.read_source("my-hello", write(tmp_path / "hello.py", HELLO), deps="requests\n")
    fn = store.function_manifest(source, "team-a", 3)
    assert fn["apiVersion"] == "kubeless.io/v1beta1" and fn["kind"] == "Function"
    assert fn["metadata"]["name"] == "my-hello" and fn["metadata"]["namespace"] == "team-a"
    assert fn["metadata"]["labels"]["kf.kubeflow.org/subcommand"] == "my-hello"
    assert json.loads(fn["metadata"]["annotations"]["kf.kubeflow.org/spec"])["name"] == "my-hello"
    assert fn["metadata"]["annotations"]["kf.kubeflow.org/version"] == "3"
    spec = fn["spec"]
    assert (spec["handler"], spec["runtime"], spec["deps"], spec["timeout"]) == (
        "my_hello.handler", "python3.11", "requests\n", "5")
    assert spec["function"] == source.code and spec["checksum"] == source.checksum


def run_kf(shell, *argv: str) -> int:
    return main(["--kubeconfig", str(shell.kubeconfig), *argv], shell.env)


def test_user_scope_add_upgrade_remove(tmp_path):
    shell = make_shell(tmp_path)
    source = write(tmp_path / "src" / "hello.py", HELLO)
    assert run_kf(shell, "command", "add", "greet", str(source), "--requires", "list:pods") == 0, shell.err
    assert "added greet" in shell.out and "version 1" in shell.out
    shell = fresh(shell)
    assert run_kf(shell, "greet", "you") == 0, shell.err
    assert shell.out == "hello you\n"

    shell = fresh(shell)
    assert run_kf(shell, "command", "add", "greet", str(source)) == 1
    assert "greet already exists in your commands (user scope), version 1" in shell.err

    newer = write(tmp_path / "src" / "hello2.py", HELLO.replace('"hello "', '"hi "'))
    shell = fresh(shell)
    assert run_kf(shell, "command", "upgrade", "greet", str(newer), "--sha256", "ab" * 32) == 1
    assert "nothing was changed" in shell.err
    shell = fresh(shell)
    assert run_kf(shell, "command", "upgrade", "greet", str(newer)) == 0, shell.err
    assert "version 2" in shell.out
    shell = fresh(shell)
    assert run_kf(shell, "-o", "json", "command", "describe", "greet") == 0, shell.err
    described = json.loads(shell.out)
    assert described["version"] == "2" and described["scope"] == "user"
    assert described["checksum"] == source_checksum(newer.read_text())
    assert described["requires"] == ["list pods in the current namespace"]  # kept by upgrade
    assert described["spec"]["name"] == "hello"  # the file's own KF_COMMAND
    shell = fresh(shell)
    assert run_kf(shell, "greet") == 0 and shell.out == "hi world\n"

    shell = fresh(shell)
    assert run_kf(shell, "command", "remove", "greet") == 2  # no terminal: needs --yes
    shell = fresh(shell)
    assert run_kf(shell, "command", "remove", "greet", "--yes") == 0, shell.err
    shell = fresh(shell)
    assert run_kf(shell, "greet") == 2 and "unknown command 'greet'" in shell.err


def test_the_shells_own_commands_cannot_be_replaced(tmp_path):
    shell = make_shell(tmp_path)
    source = write(tmp_path / "hello.py", HELLO)
    assert run_kf(shell, "command", "add", "help", str(source)) == 2
    assert "help is one of the shell's own commands" in shell.err


def test_bad_spec_exits_2_and_writes_nothing(tmp_path):
    shell = make_shell(tmp_path)
    bad = write(tmp_path / "bad.py", "KF_COMMAND = {'name': 'x', 'timeout': -1}\ndef handler(e, c): pass\n")
    assert run_kf(shell, "command", "add", "bad", str(bad)) == 2
    assert "timeout must be a positive number" in shell.err
    assert not (tmp_path / "config" / "kf" / "commands").exists()


# ---- where a command runs ---------------------------------------------------------------------------------


class FakeCatalog:
    def __init__(self, ref: FunctionRef, trust=None) -> None:
        self.ref = ref
        self.trust = trust

    def deployed(self, context=None, namespace=None, *, stale=False):
        ref = self.ref

        class Found:
            def ref(self, origin):
                return ref if origin == ref.origin else None

        return Found()


class FakeSession:
    def __init__(self, ref: FunctionRef, trust=None) -> None:
        self.catalog = FakeCatalog(ref, trust)


def cluster_spec(origin: str = "team-a/hello"):
    return spec_from_dict({"name": "hello"}, source="namespace", origin=origin, runs="kubeless")


def test_a_changed_source_is_refused_in_every_mode():
    code = "def handler(e, c):\n    return 'hi'\n"
    ref = FunctionRef(name="hello", namespace="team-a", subcommand="hello", source=code + "# evil\n",
                      checksum=source_checksum(code), handler="hello.handler")
    for mode in where.MODES:
        with pytest.raises(CommandFailed, match="no longer matches its checksum") as refused:
            where.choose(cluster_spec(), mode, FakeSession(ref), None, "team-a")
        assert refused.value.reason == "Tampered"


def test_local_mode_runs_a_functions_own_source_and_kubeless_mode_needs_a_function(tmp_path):
    from kfshell.trust import TrustStore

    code = "def handler(e, c):\n    return 'hi'\n"
    ref = FunctionRef(name="hello", namespace="team-a", subcommand="hello", source=code,
                      checksum=source_checksum(code), handler="hello.handler")
    trust = TrustStore(tmp_path)
    trust.trust("team-a", "hello", code)
    target = where.choose(cluster_spec(), "local", FakeSession(ref, trust), None, "team-a")
    assert target.kind == "local" and target.ref is ref
    builtin = spec_from_dict({"name": "status"}, source="builtin", origin="/x/status.py")
    assert where.choose(builtin, "auto", FakeSession(ref), None, "team-a").kind == "local"
    with pytest.raises(CommandFailed, match="status is not deployed as a Function in team-a or kf-system"):
        where.choose(builtin, "kubeless", FakeSession(ref), None, "team-a")


def test_kubeless_mode_for_an_undeployed_builtin_exits_1(tmp_path):
    shell = make_shell(tmp_path)
    shell.command_file("mine", HELLO.replace('"hello"', '"mine"'))
    assert run_kf(shell, "--dispatch", "kubeless", "mine") == 1
    assert "mine is your own command (user scope) and runs only locally" in shell.err
    assert run_kf(fresh(shell), "--dispatch", "local", "mine") == 0


def test_dispatch_flag_and_a_commands_own_place():
    assert parse_global(["--dispatch", "local", "status"]).dispatch == "local"
    assert parse_global(["status"]).dispatch == "auto"
    with pytest.raises(UsageError, match="--dispatch cannot be 'kubeles'") as refused:
        parse_global(["--dispatch=kubeles", "status"])
    assert refused.value.hint == "did you mean kubeless?"
    assert place_given(["status", "list", "-n", "team", "--context=c2"]) == ("c2", "team")
    assert place_given(["status", "-nteam"]) == (None, "team")
    assert place_given(["hello", "--", "-n", "x"]) == (None, None)


# ---- installed packages ------------------------------------------------------------------------------


def make_package(root: Path, command: str = "pkg-hello") -> None:
    """A tiny installed distribution whose entry point in `kf.commands` adds `command`."""
    write(root / "kf_pkg_demo" / "__init__.py", "")
    write(root / "kf_pkg_demo" / "hello.py", HELLO.replace('"name": "hello"', f'"name": "{command}"')
          .replace('"hello "', '"hello from a package, "'))
    info = root / "kf_pkg_demo-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: kf-pkg-demo\nVersion: 1.0\n")
    write(info / "entry_points.txt", f"[kf.commands]\n{command} = kf_pkg_demo.hello\n")


def test_an_installed_package_adds_a_command_through_its_entry_point(tmp_path):
    make_package(tmp_path / "site")
    shell = make_shell(tmp_path)
    env = dict(shell.env.environ, PYTHONPATH=str(tmp_path / "site"))

    def kf(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kfshell", "--kubeconfig", str(shell.kubeconfig),
                               "--dispatch", "local", *argv], env=env, capture_output=True, text=True,
                              cwd=tmp_path, timeout=60)

    done = kf("pkg-hello", "you")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello from a package, you\n"
    listed = kf("-o", "json", "command", "list")
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "pkg-hello")
    assert (row["scope"], row["source"], row["runs"]) == ("package", "kf_pkg_demo.hello", "local")
    # The entry points are cached by sys.path: without the package the command is gone again.
    env.pop("PYTHONPATH")
    assert kf("pkg-hello").returncode == 2
