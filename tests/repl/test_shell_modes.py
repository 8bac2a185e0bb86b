"""kf without the prompt, against the dev cluster, as admin, alice and bob: one command from argv, `-c`,
and a script on stdin give the same output and the exit statuses scripts rely on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.repl.shell_pty import shell_env

pytestmark = pytest.mark.cluster

USERS = ["admin", "alice", "bob"]
MODES = ["argv", "c", "stdin"]


def kf(kubeconfig: str, home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["kf", *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env=shell_env(kubeconfig, home), check=False)


def in_mode(kubeconfig: str, home: Path, mode: str, user: str, line: str, *flags: str):
    """Run `line` as `user` the way `mode` does: `kf WORDS`, `kf -c LINE`, or `echo LINE | kf`."""
    base = ["--context", f"kf-{user}", *flags]
    if mode == "argv":
        return kf(kubeconfig, home, *base, *line.split())
    if mode == "c":
        return kf(kubeconfig, home, *base, "-c", line)
    return kf(kubeconfig, home, *base, stdin=f"# a script\n{line}\n")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", USERS)
def test_status_list_json(kubeconfig, tmp_path, user, mode):
    done = in_mode(kubeconfig, tmp_path, mode, user, "status list", "-n", "alice", "-o", "json")
    assert done.returncode == 0, done.stderr
    names = {row["name"] for row in json.loads(done.stdout)}
    assert {"jupyter-web-app", "profiles", "mnist-notebook"} <= names


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", USERS)
def test_whoami_json(kubeconfig, tmp_path, user, mode):
    done = in_mode(kubeconfig, tmp_path, mode, user, "whoami", "-o", "json")
    assert done.returncode == 0, done.stderr
    me = json.loads(done.stdout)
    assert (me["user"], me["context"]) == (user, f"kf-{user}")


@pytest.mark.parametrize("user", USERS)
def test_use_then_status_in_one_line(kubeconfig, tmp_path, user):
    done = kf(kubeconfig, tmp_path, "--context", f"kf-{user}", "-c", "use alice; status list -o name")
    assert done.returncode == 0, done.stderr
    assert "mnist-notebook" in done.stdout.splitlines()


@pytest.mark.parametrize(("user", "refusal"), [
    ("admin", "kf: line 3: use: namespace no-such-project does not exist"),
    ("alice", "kf: line 3: use: alice may not use namespace kube-system"),
    ("bob", "kf: line 3: use: bob may not use namespace kube-system"),
])
def test_a_script_stops_at_the_first_failing_line(kubeconfig, tmp_path, user, refusal):
    target = "no-such-project" if user == "admin" else "kube-system"
    script = f"use alice\nstatus list -o name\nuse {target}\nwhoami\n"
    done = kf(kubeconfig, tmp_path, "--context", f"kf-{user}", stdin=script)
    assert done.returncode == 1
    # Notes may come first (admin's client certificate cannot be handed to kf-system's functions when they are
    # served); the first error is the refusal, and nothing after it ran.
    errors = [line for line in done.stderr.splitlines() if not line.startswith("kf: note:")]
    assert errors and errors[0].startswith(refusal), done.stderr
    assert "mnist-notebook" in done.stdout and "user:" not in done.stdout


@pytest.mark.parametrize("mode", ["c", "stdin"])
@pytest.mark.parametrize("user", USERS)
def test_delete_without_a_terminal_needs_yes(kubeconfig, tmp_path, user, mode):
    done = in_mode(kubeconfig, tmp_path, mode, user, "delete alice")
    if user == "admin":
        assert done.returncode == 2
        assert "needs confirmation (pass --yes" in done.stderr
    else:  # nobody is asked to confirm what they may not do anyway
        assert done.returncode == 1
        assert "you may not run delete: it needs delete namespaces cluster-wide" in done.stderr
    check = kf(kubeconfig, tmp_path, "--context", "kf-admin", "-n", "alice", "status", "list", "-o", "name")
    assert "mnist-notebook" in check.stdout  # nothing was deleted


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("user", "status"), [("admin", 0), ("alice", 1), ("bob", 1)])
def test_create_dry_run_shows_who_may_create_projects(kubeconfig, tmp_path, user, status, mode):
    done = in_mode(kubeconfig, tmp_path, mode, user, f"create -d modes-{user}")
    assert done.returncode == status, done.stderr
    if status:
        assert "you may not run create: it needs create profiles.kubeflow.org cluster-wide" in done.stderr
        assert done.stderr.count("\n") == 1
    else:
        assert "would be created" in done.stdout


def test_yaml_equals_json_and_piped_tables_are_plain(kubeconfig, tmp_path):
    as_json = kf(kubeconfig, tmp_path, "--context", "kf-alice", "whoami", "-o", "json")
    as_yaml = kf(kubeconfig, tmp_path, "--context", "kf-alice", "whoami", "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    table = kf(kubeconfig, tmp_path, "--context", "kf-alice", "status", "list")
    assert table.stdout.startswith("NAME ") and "\x1b" not in table.stdout


def test_unknown_command_and_bad_flag_are_exit_2(kubeconfig, tmp_path):
    done = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-c", "status list; stauts")
    assert done.returncode == 2 and done.stdout == ""  # nothing on the line ran
    assert done.stderr == "kf: unknown command 'stauts' (did you mean status?)\n"
    done = kf(kubeconfig, tmp_path, "--context", "kf-alice", "-o", "xml", "status")
    assert done.returncode == 2
