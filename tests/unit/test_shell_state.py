"""Environment, kf's state file and the session: XDG paths, colour, atomic saves, where commands run."""

from __future__ import annotations

import io
import json
import multiprocessing

import pytest

from kfshell.config import SavedState, StateStore
from kfshell.env import Environment
from kfshell.errors import UsageError
from kfshell.session import Session, SessionOptions
from tests.unit.shell_env import make_shell


def env_with(environ, tty=True):
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ=environ,
                       stdin_isatty=tty, stdout_isatty=tty)


def test_xdg_directories_and_their_defaults(tmp_path):
    env = env_with({"HOME": "/home/ann", "XDG_CONFIG_HOME": "/x/config", "XDG_STATE_HOME": "relative/ignored"})
    assert str(env.config_dir) == "/x/config/kf"
    assert str(env.state_dir) == "/home/ann/.local/state/kf"
    assert str(env_with({"HOME": "/home/ann"}).config_dir) == "/home/ann/.config/kf"


@pytest.mark.parametrize(
    ("environ", "tty", "no_color", "colors"),
    [
        ({}, True, False, True),
        ({}, False, False, False),
        ({"NO_COLOR": "1"}, True, False, False),
        ({"NO_COLOR": ""}, True, False, True),
        ({"TERM": "dumb"}, True, False, False),
        ({}, True, True, False),
    ],
)
def test_colour_only_on_a_terminal_and_never_when_refused(environ, tty, no_color, colors):
    env = env_with(environ, tty)
    env.no_color = no_color
    assert env.colors is colors


def test_kubeconfig_paths_as_kubectl_picks_them():
    env = env_with({"HOME": "/h", "KUBECONFIG": "/a:/b::/a"})
    assert env.kubeconfig_paths() == ["/a", "/b"]
    assert env.kubeconfig_paths("/c") == ["/c"]
    assert env_with({"HOME": "/h"}).kubeconfig_paths() == ["/h/.kube/config"]


def test_state_round_trip_and_damaged_file(tmp_path):
    store = StateStore(tmp_path / "kf")
    assert store.load() == SavedState()
    store.save(context="kf-alice", namespace="alice")
    store.save(context="kf-bob", namespace="team")
    saved = store.load()
    assert saved.context == "kf-bob" and saved.namespace_for("kf-alice") == "alice"
    store.path.write_text("{not json")
    assert store.load() == SavedState()
    assert [p.name for p in store.dir.iterdir() if p.name.startswith(".state.")] == []


def _hammer(state_dir: str, context: str, count: int) -> None:
    store = StateStore(state_dir)
    for i in range(count):
        store.save(context=context, namespace=f"ns-{i}")
        json.loads(store.path.read_text())  # a reader never sees half a file


def test_two_processes_saving_at_once_never_corrupt_or_lose_updates(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(tmp_path), name, 150)) for name in ("one", "two")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    saved = StateStore(tmp_path).load()
    # Each process's last write survived the other's read-modify-write cycles.
    assert saved.namespaces == {"one": "ns-149", "two": "ns-149"}


def test_session_resolves_context_and_namespace_in_order(tmp_path):
    shell = make_shell(tmp_path)
    session = Session(shell.env)
    assert (session.context, session.namespace) == ("ctx-a", "team-a")  # the kubeconfig's
    StateStore(shell.env.state_dir).save(context="ctx-b", namespace="saved-ns")
    session = Session(shell.env)
    assert (session.context, session.namespace) == ("ctx-b", "saved-ns")  # kf's own state wins
    session = Session(shell.env, SessionOptions(context="ctx-a"))
    assert (session.context, session.namespace) == ("ctx-a", "team-a")
    session = Session(shell.env, SessionOptions(namespace="flag-ns"))
    assert (session.context, session.namespace) == ("ctx-b", "flag-ns")


def test_a_remembered_context_the_kubeconfig_lost_is_ignored(tmp_path):
    shell = make_shell(tmp_path)
    StateStore(shell.env.state_dir).save(context="gone", namespace="x")
    assert Session(shell.env).context == "ctx-a"


def test_use_persists_unless_the_invocation_was_pinned(tmp_path):
    shell = make_shell(tmp_path)
    Session(shell.env).use(namespace="proj")
    assert StateStore(shell.env.state_dir).load().namespace_for("ctx-a") == "proj"
    Session(shell.env, SessionOptions(namespace="other")).use(namespace="pinned")
    assert StateStore(shell.env.state_dir).load().namespace_for("ctx-a") == "proj"
    session = Session(shell.env)
    session.use(context="ctx-b")
    assert (session.context, session.namespace) == ("ctx-b", "default")


def test_the_users_kubeconfig_is_never_written(tmp_path):
    shell = make_shell(tmp_path)
    before = shell.kubeconfig.read_bytes()
    session = Session(shell.env)
    session.use(namespace="x", context="ctx-b")
    assert shell.kubeconfig.read_bytes() == before


def test_an_unknown_context_flag_is_a_usage_error_with_suggestions(tmp_path):
    shell = make_shell(tmp_path)
    with pytest.raises(UsageError) as caught:
        Session(shell.env, SessionOptions(context="ctx-c"))
    assert "did you mean" in caught.value.hint


def test_no_kubeconfig_still_gives_a_session_that_explains(tmp_path):
    shell = make_shell(tmp_path, extra_env={"KUBECONFIG": str(tmp_path / "none")})
    session = Session(shell.env)
    assert session.context is None and session.namespace == "default"
    with pytest.raises(UsageError):
        session.api()


def test_several_kubeconfig_files_merge_as_kubectl_merges_them(tmp_path):
    shell = make_shell(tmp_path)
    second = tmp_path / "second"
    second.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx-z\n"
        "clusters: [{name: far, cluster: {server: 'https://127.0.0.1:10'}}]\n"
        "contexts: [{name: ctx-z, context: {cluster: far, user: zed, namespace: zz}}]\n"
        "users: [{name: zed, user: {token: t}}]\n")
    environ = dict(shell.env.environ, KUBECONFIG=f"{shell.kubeconfig}:{tmp_path / 'missing'}:{second}")
    env = env_with(environ, tty=False)
    session = Session(env)
    assert session.context == "ctx-a"  # the first file's current-context wins
    session = Session(env, SessionOptions(context="ctx-z"))
    assert (session.context, session.namespace) == ("ctx-z", "zz")
    assert session.kubeconfig_env() == environ["KUBECONFIG"]
