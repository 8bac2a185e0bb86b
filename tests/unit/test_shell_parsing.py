"""Command lines as the user types them: words, quoting, `;`, comments, and arguments against a spec."""

from __future__ import annotations

import pytest

from kfshell.errors import ExitStatus, UsageError
from kfshell.parsing import parse, parse_line, split_commands, usage
from kfshell.registry import Registry, spec_from_dict

STATUS = {
    "name": "status",
    "help": "components",
    "subcommands": [
        {"name": "list", "default": True, "arguments": [{"name": "component"}]},
        {"name": "info", "arguments": [{"name": "component", "required": True}]},
    ],
}
CREATE = {
    "name": "create",
    "arguments": [
        {"name": "namespace", "required": True},
        {"name": "dry_run", "kind": "flag", "flags": ["-d", "--dry-run"]},
        {"name": "into", "kind": "flag", "flags": ["-i", "--into"]},
        {"name": "repo", "kind": "option", "flags": ["-r", "--repo"]},
        {"name": "replicas", "kind": "option", "flags": ["--replicas"], "type": "int"},
        {"name": "mode", "kind": "option", "flags": ["--mode"], "choices": ["fast", "safe"]},
        {"name": "label", "kind": "option", "flags": ["-l"], "repeat": True},
    ],
}
LOGS = {"name": "logs", "arguments": [{"name": "pod", "required": True}, {"name": "rest", "repeat": True}]}
HELP = {"name": "help", "arguments": [{"name": "command", "repeat": True}]}


@pytest.fixture
def registry() -> Registry:
    specs = [spec_from_dict(d) for d in (STATUS, CREATE, LOGS)]
    specs.append(spec_from_dict(HELP, source="client", runs="client", origin="kfshell.commands.help"))
    return Registry(specs)


@pytest.mark.parametrize(
    ("line", "commands"),
    [
        ("status list", [["status", "list"]]),
        ("use alice; status list", [["use", "alice"], ["status", "list"]]),
        ("use alice;status", [["use", "alice"], ["status"]]),
        ("create 'my project' \"a b\" c\\ d", [["create", "my project", "a b", "c d"]]),
        ('create "x;y" z', [["create", "x;y", "z"]]),
        ("status # what is running\nwhoami", [["status"], ["whoami"]]),
        ("create -r ./repo#frag x", [["create", "-r", "./repo#frag", "x"]]),
        ('create "" x', [["create", "", "x"]]),
        ("  ;; # only a comment", []),
        ('echo "say \\"hi\\""', [["echo", 'say "hi"']]),
    ],
)
def test_split_commands(line, commands):
    assert split_commands(line) == commands


@pytest.mark.parametrize("line", ["create 'open", 'create "open'])
def test_an_unclosed_quote_is_a_usage_error(line):
    with pytest.raises(UsageError, match="not closed"):
        split_commands(line)


def test_default_subcommand_runs_when_only_the_command_is_typed(registry):
    invocation = parse(registry, ["status"])
    assert invocation.words == ("status", "list")
    assert invocation.args == {}


def test_subcommand_and_positional(registry):
    invocation = parse(registry, ["status", "info", "jupyter-web-app"])
    assert invocation.command.name == "info"
    assert invocation.args == {"component": "jupyter-web-app"}


def test_a_mistyped_subcommand_suggests_the_nearest(registry):
    with pytest.raises(UsageError) as caught:
        parse(registry, ["status", "lsit"])
    assert "did you mean list" in caught.value.hint
    assert caught.value.exit_status == ExitStatus.USAGE


def test_unknown_command_suggests_nearest_names(registry):
    with pytest.raises(UsageError) as caught:
        parse(registry, ["stauts"])
    assert caught.value.one_line() == "kf: unknown command 'stauts' (did you mean status?)"


def test_flags_options_and_their_spellings(registry):
    invocation = parse(registry, ["create", "-di", "--repo=./r", "--replicas", "3", "-l", "a", "-lb", "proj"])
    assert invocation.args == {"dry_run": True, "into": True, "repo": "./r", "replicas": 3, "label": ["a", "b"],
                               "namespace": "proj"}


def test_double_dash_ends_options(registry):
    invocation = parse(registry, ["logs", "pod-1", "--", "-f", "--tail"])
    assert invocation.args == {"pod": "pod-1", "rest": ["-f", "--tail"]}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["create"], "missing <namespace>"),
        (["create", "a", "b"], "unexpected argument 'b'"),
        (["create", "a", "--replicas", "many"], "--replicas must be a whole number, not 'many'"),
        (["create", "a", "--mode", "fsat"], "--mode cannot be 'fsat'"),
        (["create", "a", "--bogus"], "unknown option --bogus"),
        (["create", "a", "-r"], "-r needs a value (repo)"),
        (["create", "a", "--dry-run=yes"], "--dry-run takes no value"),
        (["create", "a", "-r", "x", "--repo", "y"], "--repo given twice"),
        (["logs"], "missing <pod>"),
    ],
)
def test_bad_arguments_are_usage_errors_with_the_usage_line(registry, words, message):
    with pytest.raises(UsageError) as caught:
        parse(registry, words)
    assert caught.value.message == message
    assert caught.value.usage.startswith(f"usage: {words[0]}")


def test_choice_error_suggests_the_nearest_choice(registry):
    with pytest.raises(UsageError) as caught:
        parse(registry, ["create", "a", "--mode", "fsat"])
    assert caught.value.hint == "did you mean fast?"


def test_common_options_apply_to_this_command_only(registry):
    invocation = parse(registry, ["status", "list", "-o", "json", "-n", "team", "--context=kf-bob"])
    assert (invocation.output, invocation.namespace, invocation.context) == ("json", "team", "kf-bob")
    assert invocation.args == {}


def test_a_bad_output_format_is_refused(registry):
    with pytest.raises(UsageError, match="--output cannot be 'jsn'"):
        parse(registry, ["status", "-o", "jsn"])


def test_help_flag_becomes_help_for_that_command(registry):
    invocation = parse(registry, ["status", "info", "--help"])
    assert invocation.spec.name == "help"
    assert invocation.args == {"command": ["status", "info"]}


def test_usage_lines(registry):
    assert usage(registry.get("status")) == "usage: status {list|info} ..."
    create = registry.get("create")
    assert usage(create) == (
        "usage: create [-d] [-i] [-r repo] [--replicas replicas] [--mode mode] [-l label ...] <namespace>")
    status = registry.get("status")
    assert usage(status, status.subcommand("info")) == "usage: status info <component>"


def test_a_line_is_parsed_completely_before_anything_runs(registry):
    with pytest.raises(UsageError, match="unknown command 'bogus'"):
        parse_line(registry, "status list; bogus")
    assert [i.words for i in parse_line(registry, "status; create x")] == [("status", "list"), ("create",)]
