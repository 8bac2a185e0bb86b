"""What a new user hits in the first hour (issue 12), the parts that need no cluster: dry runs and
confirmation, a command added while kf runs, -n checked like `use`, no pipes, -o name, machine formats
with timestamps and booleans, notes told once, and `use` under --context remembered."""

from __future__ import annotations

import json

import pytest

from kfshell.cli import main
from kfshell.config import StateStore
from kfshell.errors import UsageError
from kfshell.output import render
from kfshell.result import Object, Table
from kfshell.session import Session, SessionOptions
from tests.unit.shell_env import fresh, make_shell

REMOVER = """
KF_COMMAND = {"name": "zap", "confirm": "zap {thing}",
              "arguments": [{"name": "thing", "required": True},
                            {"name": "dry_run", "kind": "flag", "flags": ["-d", "--dry-run"]},
                            {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"]}]}

def handler(event, context):
    args = event["data"]["args"]
    if args["thing"] == "nosuch":
        return {"error": {"reason": "NotFound", "message": "thing 'nosuch' not found", "status": 404}}
    verb = "would zap" if args.get("dry_run") else "zapped"
    return {"kind": "message", "text": verb + " " + args["thing"]}
"""
MAKER = """
import os
KF_COMMAND = {"name": "mk", "arguments": []}

def handler(event, context):
    here = os.path.join(os.environ["XDG_CONFIG_HOME"], "kf", "commands")
    with open(os.path.join(here, "sleeper.py.tmp"), "w") as f:
        f.write('KF_COMMAND = {"name": "sleeper"}\\n\\ndef handler(event, context):\\n    return "slept"\\n')
    os.replace(os.path.join(here, "sleeper.py.tmp"), os.path.join(here, "sleeper.py"))
    return "made sleeper"
"""


@pytest.fixture
def shell(tmp_path):
    shell = make_shell(tmp_path)
    shell.command_file("zap", REMOVER)
    return shell


def test_a_dry_run_is_never_asked_about(shell):
    assert main(["-c", "zap -d it"], shell.env) == 0, shell.err
    assert shell.out == "would zap it\n" and "confirmation" not in shell.err


def test_nothing_is_asked_about_what_is_not_there(shell):
    assert main(["-c", "zap nosuch"], shell.env) == 1
    assert shell.err == "kf: zap: thing 'nosuch' not found\n"


def test_something_that_is_there_still_needs_consent(shell):
    assert main(["-c", "zap it"], shell.env) == 2
    assert "zap it? needs confirmation (pass --yes" in shell.err and shell.out == ""
    again = fresh(shell)
    assert main(["-c", "zap it --yes"], again.env) == 0
    assert again.out == "zapped it\n"


def test_a_command_added_while_kf_runs_is_found_on_the_next_line(tmp_path, monkeypatch):
    shell = make_shell(tmp_path, stdin="mk\nsleeper\n")
    shell.command_file("mk", MAKER)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # what the local function writes into
    assert main([], shell.env) == 0, shell.err
    assert shell.out == "made sleeper\nslept\n"


def test_refresh_reloads_the_users_commands(tmp_path):
    shell = make_shell(tmp_path)
    from kfshell.catalog import Catalog
    from kfshell.commands import refresh
    from kfshell.registry import Registry

    session = Session(shell.env)
    session.catalog = Catalog(session, lambda: Registry.load(user_dir=shell.env.config_dir / "commands"))
    assert session.catalog.local.get("late") is None
    shell.command_file("late", 'KF_COMMAND = {"name": "late"}\ndef handler(event, context):\n    return "x"\n')
    refresh.run(None, session)  # type: ignore[arg-type]
    assert session.catalog.local.get("late") is not None


@pytest.mark.parametrize("argv", [["-n", "ünï", "-c", "zap it"], ["-c", "zap it -n ünï"], ["-n", "Bad", "zap", "x"]])
def test_a_bad_namespace_flag_is_a_usage_error_like_use_says(shell, argv):
    assert main(argv, shell.env) == 2
    assert "namespace name" in shell.err and "is not valid" in shell.err
    assert "may not" not in shell.err


def test_kf_says_it_does_not_pipe_and_how_to(shell):
    assert main(["-c", "zap it | head -2"], shell.env) == 2
    assert shell.err.startswith("kf: kf does not pipe between commands (pipe from your shell instead: "
                                "kf zap it | head -2)")
    assert shell.out == ""


def test_o_name_of_an_answer_without_a_name_is_refused():
    with pytest.raises(UsageError, match="-o name: this answer has no name"):
        render(Object({"user": "alice", "groups": []}), "name")
    assert render(Object({"metadata": {"name": "nb"}}), "name") == "nb\n"


def test_machine_formats_carry_timestamps_and_booleans_tables_show_ages():
    table = Table(("NAME", "AGE", "ALLOWED"), (("a", "2026-01-01T00:00:00Z", True), ("b", None, False)))
    records = json.loads(render(table, "json"))
    assert records == [{"name": "a", "created": "2026-01-01T00:00:00Z", "allowed": True},
                       {"name": "b", "created": None, "allowed": False}]
    from datetime import datetime

    from kfshell.output import render_table

    now = datetime.fromisoformat("2026-01-01T00:42:00+00:00").timestamp()
    lines = render_table(table, now=now).splitlines()
    assert lines[1].split() == ["a", "42m", "yes"]
    assert lines[2].split() == ["b", "<unknown>", "no"]


def test_a_note_is_told_once_per_user_and_context_across_invocations(tmp_path):
    shell = make_shell(tmp_path)
    Session(shell.env).tell_once("no-token", "your credentials are a client certificate")
    second = fresh(shell)
    Session(second.env).tell_once("no-token", "your credentials are a client certificate")
    other_context = fresh(shell)
    Session(other_context.env, SessionOptions(context="ctx-b")).tell_once("no-token", "said for ctx-b")
    assert shell.err == "kf: note: your credentials are a client certificate\n"
    assert second.err == ""
    assert other_context.err == "kf: note: said for ctx-b\n"


def test_use_under_context_remembers_the_namespace_for_that_context_and_says_so(tmp_path, monkeypatch):
    from kfshell.commands import use

    monkeypatch.setattr(use, "check_usable", lambda *a: None)  # existence and access need a cluster
    shell = make_shell(tmp_path)
    assert main(["--context", "ctx-b", "use", "work"], shell.env) == 0, shell.err
    assert shell.out == "ctx-b will now use namespace work\n"
    saved = StateStore(shell.env.state_dir).load()
    assert saved.namespace_for("ctx-b") == "work" and saved.context in (None, "ctx-a")
    later = fresh(shell)
    assert main(["--context", "ctx-b", "use"], later.env) == 0
    assert later.out == "you are in namespace work (context ctx-b)\n"
    plain = fresh(shell)
    assert main(["use", "elsewhere"], plain.env) == 0
    assert plain.out == "now in namespace elsewhere (context ctx-a)\n"
    assert StateStore(shell.env.state_dir).load().used_in("ctx-a") == ("elsewhere",)
    named = fresh(shell)
    assert main(["-o", "name", "use"], named.env) == 0 and named.out == "elsewhere\n"


def test_completion_offers_what_status_list_and_remove_accept():
    from kfshell.completion.snapshot import Item, Snapshot
    from kfshell.completion.suggest import Suggester
    from kfshell.registry import Registry

    snapshot = Snapshot.build("ctx", "alice", {
        "components": [Item("kserve-controller-manager", "Component", "kubeflow"),
                       Item("jupyter-web-app", "Component", "kubeflow"), Item("my-model", "Component", "alice")],
        "notebooks": [Item("mnist-notebook", "Notebook", "alice"), Item("nu-nb", "Notebook", "alice")],
        "jobs": [Item("mnist-train", "TrainJob", "alice")],
    })
    suggester = Suggester(Registry.load(user_dir=None), lambda: snapshot)
    names = [s.value for s in suggester.suggest_line("status list mn")]
    assert names[:2] == ["mnist-notebook", "mnist-train"]
    assert [s.value for s in suggester.suggest_line("status list nu")] == ["nu-nb"]
    assert [s.value for s in suggester.suggest_line("remove ")] == ["my-model"]
