"""`kf __complete`: answers from the on-disk cache, fresh or stale, without waiting on a cluster."""

from __future__ import annotations

import io
import time

import pytest

from kfshell import complete_cmd
from kfshell.completion.cache import CompletionCache, cache_dir
from kfshell.completion.snapshot import Item, Snapshot

from .completion_specs import DictRegistry

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u1
  user: {token: secret}
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team}
- name: prod
  context: {cluster: c1, user: u1}
"""


@pytest.fixture
def environ(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    return {"HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig), "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "KF_COMPLETE_TIMEOUT": "0.2"}


@pytest.fixture
def spawned(monkeypatch):
    calls = []
    monkeypatch.setattr(complete_cmd, "_spawn_refresh", lambda place, environ: calls.append(place))
    return calls


def cache_of(environ) -> CompletionCache:
    return CompletionCache(cache_dir(environ))


def seed(environ, namespace="team", context="dev", taken_at=None):
    snapshot = Snapshot.build(context, namespace, {
        "namespaces": [Item("team", "Namespace  Active"), Item("tools", "Namespace  Active")],
        "pods": [Item("trainer-0", "Pod  Running"), Item("trainer-1", "Pod  Pending")],
    }, complete=["namespaces", "pods"], taken_at=time.time() if taken_at is None else taken_at)
    cache_of(environ).write(snapshot)


def run(environ, *words):
    *finished, current = words
    return complete_cmd.complete(list(finished), current, environ, DictRegistry())


def test_fresh_cache_answers_with_descriptions(environ, spawned):
    seed(environ)
    assert run(environ, "use", "t") == ["team\tNamespace  Active", "tools\tNamespace  Active"]
    assert run(environ, "logs", "trainer-1") == ["trainer-1\tPod  Pending"]
    assert spawned == []


def test_stale_cache_still_answers_and_refreshes_once_in_the_background(environ, spawned):
    seed(environ, taken_at=time.time() - 3600)
    started = time.monotonic()
    assert run(environ, "use", "to") == ["tools\tNamespace  Active"]
    assert time.monotonic() - started < 1.0
    assert run(environ, "use", "te") == ["team\tNamespace  Active"]
    assert len(spawned) == 1  # the second TAB finds a refresh under way
    assert spawned[0].context == "dev" and spawned[0].namespace == "team"


def test_context_and_namespace_come_from_the_flags(environ, spawned):
    seed(environ, namespace="other", context="prod")
    assert run(environ, "--context", "prod", "-n", "other", "logs", "tr") == [
        "trainer-0\tPod  Running", "trainer-1\tPod  Pending"]
    assert run(environ, "--context=prod", "--namespace=other", "logs", "trainer-0") == ["trainer-0\tPod  Running"]


def test_no_cache_and_no_cluster_answers_nothing_quickly(environ, spawned):
    started = time.monotonic()
    assert run(environ, "use", "") == []
    assert time.monotonic() - started < 5


def test_static_words_need_no_cache(environ, spawned):
    assert run(environ, "sta") == ["status\tKubeflow components: list, health, info"]
    assert run(environ, "status", "h") == ["health\thealth of components"]
    assert run(environ, "status", "list", "-o", "j") == ["json\toutput format"]
    assert run(environ, "status", "list", "--output=y") == ["--output=yaml\toutput format"]
    assert "--kubeconfig\tkubeconfig file" in run(environ, "--kube")


def test_contexts_come_from_the_kubeconfig(environ, spawned):
    assert [line.split("\t")[0] for line in run(environ, "--context", "")] == ["dev", "prod"]
    assert "secret" not in "".join(run(environ, "--context", ""))


def test_files_are_left_to_the_shell(environ, spawned):
    assert run(environ, "run", "") == [":files"]


def test_a_lone_fuzzy_match_is_offered_but_not_several(environ, spawned):
    seed(environ)
    assert run(environ, "use", "tls") == ["tools\tNamespace  Active"]
    assert run(environ, "logs", "tr1") == ["trainer-1\tPod  Pending"]
    assert run(environ, "logs", "ti") == []  # two fuzzy matches and no prefix one: the shell would eat "ti"


def test_main_prints_lines_and_never_fails(environ, spawned, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(complete_cmd, "_registry", lambda environ: DictRegistry())
    assert complete_cmd.main(["--", "sta"], stdout=out, environ=environ) == 0
    assert out.getvalue() == "status\tKubeflow components: list, health, info\n"

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(complete_cmd, "complete", broken)
    out = io.StringIO()
    assert complete_cmd.main(["--", "x"], stdout=out, environ=environ) == 0
    assert out.getvalue() == ""


def test_saved_session_state_picks_the_namespace(environ, spawned):
    from kfshell.config import StateStore
    from kfshell.env import Environment

    StateStore(Environment(environ=environ).state_dir).save(context="dev", namespace="tools")
    seed(environ, namespace="tools")
    assert complete_cmd.where(["logs"], environ).namespace == "tools"
    assert run(environ, "logs", "trainer-0") == ["trainer-0\tPod  Running"]


def test_the_budget_counts_the_process_start_up():
    # The shell waits on the whole `kf __complete` process, so the time before the lookup comes off its budget.
    import subprocess
    import sys

    code = "import time; time.sleep(0.5); from kfshell.complete_cmd import seconds_running as s; print(s())"
    ran = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert 0.5 <= ran < 60


def test_a_lookup_gets_the_budget_less_the_start_up(environ, spawned, monkeypatch):
    asked = []
    monkeypatch.setattr(complete_cmd, "seconds_running", lambda: 0.5)
    monkeypatch.setattr(complete_cmd, "fetch", lambda place, env, *, timeout, cache: asked.append(timeout) or
                        Snapshot.build("dev", "team", {}, complete=[]))
    run(dict(environ, KF_COMPLETE_TIMEOUT="2"), "use", "")
    run(dict(environ, KF_COMPLETE_TIMEOUT="0.3"), "use", "")  # started later than its budget: no wait at all
    assert asked == [pytest.approx(2 - 0.5 - complete_cmd.EXIT_RESERVE), 0.0]
