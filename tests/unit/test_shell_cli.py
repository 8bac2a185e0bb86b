"""`kf` as scripts use it: global flags, -c, argv and stdin scripts, exit statuses, and the embedded runtime
running functions (user command files here, so no cluster is needed)."""

from __future__ import annotations

import json
import time

import pytest

from kfshell import __version__
from kfshell.cli import main, parse_global
from kfshell.errors import UsageError
from tests.unit.shell_env import fresh, make_shell

TABLE_FN = """
KF_COMMAND = {"name": "pods", "help": "list pods", "arguments": [{"name": "prefix"}]}

def handler(event, context):
    data = event["data"]
    prefix = data["args"].get("prefix", "")
    rows = [[n, data["namespace"], data["context"]] for n in ("a-1", "b-2") if n.startswith(prefix)]
    return {"kind": "table", "columns": ["Name", "Namespace", "Context"], "rows": rows,
            "warnings": ["left out c-3: not allowed"]}
"""
FAIL_FN = """
KF_COMMAND = {"name": "fail", "arguments": [{"name": "reason"}]}

def handler(event, context):
    reason = event["data"]["args"].get("reason", "Forbidden")
    return {"error": {"reason": reason, "message": "ann may not list pods in namespace team-a", "status": 403}}
"""
BUG_FN = """
KF_COMMAND = {"name": "bug"}

def handler(event, context):
    return 1 / 0
"""
HANG_FN = """
import time
KF_COMMAND = {"name": "hang", "timeout": 0.5}

def handler(event, context):
    while True:
        time.sleep(0.05)
"""
ECHO_FN = """
KF_COMMAND = {"name": "echo", "arguments": [{"name": "words", "repeat": True}]}

def handler(event, context):
    return " ".join(event["data"]["args"].get("words", []))
"""
SWITCH_FN = """
KF_COMMAND = {"name": "hop", "arguments": [{"name": "to", "required": True}]}

def handler(event, context):
    return {"kind": "message", "text": "hopped", "session": {"namespace": event["data"]["args"]["to"]}}
"""
CONFIRM_FN = """
KF_COMMAND = {"name": "wipe", "confirm": "wipe {thing}",
              "arguments": [{"name": "thing", "required": True},
                            {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"]}]}

def handler(event, context):
    return {"kind": "message", "text": "wiped " + event["data"]["args"]["thing"]}
"""


@pytest.fixture
def shell(tmp_path):
    shell = make_shell(tmp_path)
    for name, body in [("pods", TABLE_FN), ("fail", FAIL_FN), ("bug", BUG_FN), ("hang", HANG_FN),
                       ("echo", ECHO_FN), ("hop", SWITCH_FN), ("wipe", CONFIRM_FN)]:
        shell.command_file(name, body)
    return shell


def test_version_and_help(shell):
    assert main(["--version"], shell.env) == 0
    assert shell.out == f"kf {__version__}\n"
    other = fresh(shell)
    assert main(["--help"], other.env) == 0
    assert "usage: kf" in other.out and "--keep-going" in other.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "kf: unknown option --bogus"),
        (["-o", "jsn", "pods"], "kf: -o cannot be 'jsn' (did you mean json?)"),
        (["--context"], "kf: --context needs a value"),
        (["-c", "pods", "pods"], "kf: give commands with -c or as arguments, not both"),
        (["--context", "ctx-z", "pods"], "kf: context 'ctx-z' is not in the kubeconfig"),
        (["stauts"], "kf: unknown command 'stauts'"),
        (["pods", "a", "b"], "kf: pods: unexpected argument 'b'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(shell, argv, message):
    assert main(argv, shell.env) == 2
    assert shell.err.startswith(message)
    assert "Traceback" not in shell.err and shell.out == ""


def test_global_flags_parse_before_the_command():
    options = parse_global(["-n", "alice", "--context=kf-bob", "-ojson", "-y", "status", "list", "-v"])
    assert (options.namespace, options.context, options.output, options.assume_yes) == ("alice", "kf-bob",
                                                                                         "json", True)
    assert options.words == ("status", "list", "-v")
    with pytest.raises(UsageError):
        parse_global(["-c"])


def test_argv_mode_json_is_exact_and_warnings_go_to_stderr(shell):
    assert main(["-o", "json", "pods"], shell.env) == 0
    assert json.loads(shell.out) == [{"name": "a-1", "namespace": "team-a", "context": "ctx-a"},
                                     {"name": "b-2", "namespace": "team-a", "context": "ctx-a"}]
    assert shell.err == "kf: warning: left out c-3: not allowed\n"


def test_context_and_namespace_flags_and_per_command_overrides(shell):
    assert main(["--context", "ctx-b", "-n", "x", "-c", "pods -o name; pods -n y -o json"], shell.env) == 0
    lines = shell.out.splitlines()
    assert lines[:2] == ["a-1", "b-2"]
    assert json.loads("\n".join(lines[2:]))[0]["namespace"] == "y"


def test_table_output_when_piped_has_no_escape_codes(shell):
    assert main(["pods", "a"], shell.env) == 0
    assert shell.out == "NAME   NAMESPACE   CONTEXT\na-1    team-a      ctx-a\n"


def test_function_errors_keep_their_message_and_exit_status(shell):
    assert main(["fail"], shell.env) == 1
    assert shell.err == "kf: fail: ann may not list pods in namespace team-a\n"
    other = fresh(shell)
    assert main(["fail", "Unauthorized"], other.env) == 3


def test_a_function_that_raises_is_one_line_and_v_shows_the_traceback(shell):
    assert main(["bug"], shell.env) == 1
    assert shell.err == ("kf: bug: function bug raised ZeroDivisionError: division by zero "
                         "(a bug in the function; -v shows the traceback)\n")
    other = fresh(shell)
    assert main(["-v", "bug"], other.env) == 1
    assert "Traceback" in other.err and "1 / 0" in other.err


def test_a_hanging_function_is_abandoned_at_its_timeout(shell):
    started = time.monotonic()
    assert main(["hang"], shell.env) == 1
    assert time.monotonic() - started < 5
    assert shell.err.startswith("kf: hang: no answer within 0.5 s")


def test_a_string_result_is_a_message(shell):
    assert main(["echo", "hello", "there"], shell.env) == 0
    assert shell.out == "hello there\n"


def test_c_stops_at_the_first_failure_unless_keep_going(shell):
    assert main(["-c", "echo one; fail; echo two"], shell.env) == 1
    assert shell.out == "one\n"
    other = fresh(shell)
    assert main(["--keep-going", "-c", "echo one; fail; echo two"], other.env) == 1
    assert other.out == "one\ntwo\n"


SCRIPT = """\
# set up
echo one
echo two   # a trailing comment

stauts
echo never
"""


def test_a_script_on_stdin_stops_at_the_failing_line_and_names_it(shell):
    shell = fresh(shell, SCRIPT)
    assert main([], shell.env) == 2
    assert shell.out == "one\ntwo\n"
    assert shell.err == "kf: line 5: unknown command 'stauts' (did you mean status?)\n"


def test_a_script_keeps_going_when_asked_and_reports_the_first_failure(shell):
    shell = fresh(shell, "fail\necho after\nbug\n")
    assert main(["--keep-going"], shell.env) == 1
    assert shell.out == "after\n"
    assert shell.err.splitlines()[0] == "kf: line 1: fail: ann may not list pods in namespace team-a"
    assert shell.err.splitlines()[1].startswith("kf: line 3: bug: function bug raised ZeroDivisionError")


def test_exit_in_a_script_ends_it_with_that_status(shell):
    shell = fresh(shell, "echo a\nexit 4\necho b\n")
    assert main([], shell.env) == 4
    assert shell.out == "a\n"


def test_use_then_command_in_one_line_and_the_switch_is_remembered(shell):
    # `use` needs the cluster to check the namespace; a function's session switch does not.
    assert main(["-c", "hop proj; pods -o json"], shell.env) == 0
    assert json.loads(shell.out.split("\n", 1)[1])[0]["namespace"] == "proj"
    other = fresh(shell)
    assert main(["-o", "json", "pods"], other.env) == 0
    assert json.loads(other.out)[0]["namespace"] == "proj"


def test_a_destructive_command_needs_consent_without_a_terminal(shell):
    assert main(["wipe", "it"], shell.env) == 2
    assert shell.err.startswith("kf: wipe: wipe it? needs confirmation (pass --yes")
    for argv in (["wipe", "it", "--yes"], ["--yes", "wipe", "it"]):
        other = fresh(shell)
        assert main(argv, other.env) == 0
        assert other.out == "wiped it\n"


def test_on_a_terminal_the_question_is_asked(tmp_path):
    shell = make_shell(tmp_path, stdin="n\n", tty=True)
    shell.command_file("wipe", CONFIRM_FN)
    assert main(["-c", "wipe it"], shell.env) == 1
    assert "wipe it? [y/N] " in shell.err and "not confirmed" in shell.err
    yes = fresh(shell, "y\n")
    assert main(["-c", "wipe it"], yes.env) == 0
    assert yes.out == "wiped it\n"


def test_unreachable_cluster_is_exit_3_within_5_seconds(tmp_path):
    shell = make_shell(tmp_path)
    started = time.monotonic()
    status = main(["whoami"], shell.env)
    assert status == 3, shell.err
    assert time.monotonic() - started < 5
    assert shell.err.count("\n") == 1 and shell.err.startswith("kf: whoami: ")


def test_help_lists_commands_and_explains_one(shell):
    assert main(["help"], shell.env) == 0
    assert "  pods" in shell.out and "  use " in shell.out and "  status " in shell.out
    other = fresh(shell)
    assert main(["help", "pods"], other.env) == 0
    assert other.out.startswith("usage: pods [prefix]\n\nlist pods\n")
    assert "Runs locally, your own command" in other.out
    third = fresh(shell)
    assert main(["pods", "--help"], third.env) == 0
    assert third.out.startswith("usage: pods [prefix]")


def test_sigint_stops_a_running_command_with_status_130(shell):
    import os
    import signal
    import subprocess
    import sys

    slow = shell.command_file("slow", """
        import time
        KF_COMMAND = {"name": "slow", "timeout": 60}

        def handler(event, context):
            print("started", flush=True)
            time.sleep(60)
        """)
    assert slow.exists()
    child = subprocess.Popen([sys.executable, "-m", "kfshell", "slow"], env={**os.environ, **shell.env.environ},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "started\n"
        child.send_signal(signal.SIGINT)
        assert child.wait(10) == 130  # long before the function's 60 s sleep would end
        assert child.stderr.read() == "kf: slow: interrupted (the function was abandoned)\n"
    finally:
        child.kill()
        child.wait()
