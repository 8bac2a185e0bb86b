"""The command registry: specs read from function files without running them, validation, precedence."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kfshell.registry import (
    Registry,
    SpecError,
    builtin_functions_dir,
    load_function_dir,
    read_kf_command,
    spec_from_dict,
)


def write(path, body):
    path.write_text(textwrap.dedent(body))
    return path


def test_spec_is_read_without_importing_the_module(tmp_path):
    marker = tmp_path / "imported"
    module = write(tmp_path / "hello.py", f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        import module_that_does_not_exist
        KF_COMMAND = {{"name": "hello", "help": "say hello", "arguments": [{{"name": "who"}}]}}
        def handler(event, context):
            return {{"kind": "message", "text": "hi"}}
        """)
    assert read_kf_command(module)["name"] == "hello"
    assert not marker.exists()


def test_a_computed_kf_command_is_reported_not_run(tmp_path):
    write(tmp_path / "computed.py", 'NAME = "x"\nKF_COMMAND = {"name": NAME}\n')
    write(tmp_path / "missing.py", "def handler(event, context):\n    return None\n")
    write(tmp_path / "broken.py", "KF_COMMAND = {\n")
    write(tmp_path / "good.py", 'KF_COMMAND = {"name": "good"}\n')
    write(tmp_path / "_private.py", "raise SystemExit\n")
    specs, problems = load_function_dir(tmp_path, source="user")
    assert [s.name for s in specs] == ["good"]
    assert specs[0].source == "user" and specs[0].origin == str(tmp_path / "good.py")
    text = "\n".join(problems)
    assert "computed.py: KF_COMMAND must be a literal dict" in text
    assert "missing.py: no KF_COMMAND" in text
    assert "broken.py" in text and len(problems) == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "Bad_Name"}, "must be lower-case"),
        ({"name": "x", "arguments": [{"name": "a", "kind": "switch"}]}, "kind must be one of"),
        ({"name": "x", "arguments": [{"name": "a", "type": "float"}]}, "type must be one of"),
        ({"name": "x", "arguments": [{"name": "a"}, {"name": "a"}]}, "argument names must be unique"),
        ({"name": "x", "arguments": [{"name": "a", "repeat": True}, {"name": "b"}]}, "only the last positional"),
        ({"name": "x", "arguments": [{"name": "a"}, {"name": "b", "required": True}]}, "required positional"),
        ({"name": "x", "timeout": 0}, "timeout must be a positive"),
        ({"name": "x", "subcommands": [{"name": "a", "default": True}, {"name": "b", "default": True}]},
         "at most one subcommand"),
        ({"name": "x", "subcommands": [{"name": "a", "subcommands": [{"name": "b"}]}]}, "cannot nest"),
        ({"name": "x", "arguments": [{"name": "a", "kind": "flag", "flags": ["dash"]}]}, "bad flag"),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(spec)


def test_options_get_a_long_flag_from_their_name():
    spec = spec_from_dict({"name": "x", "arguments": [{"name": "dry_run", "kind": "flag"}]})
    assert spec.arguments[0].flags == ("--dry-run",)


def test_precedence_user_over_builtin_and_client_commands_cannot_be_replaced():
    builtin = spec_from_dict({"name": "status", "help": "built in"}, source="builtin")
    user = spec_from_dict({"name": "status", "help": "mine"}, source="user")
    client = spec_from_dict({"name": "help"}, source="client", runs="client")
    user_help = spec_from_dict({"name": "help", "help": "mine"}, source="user")
    registry = Registry([builtin, user, client, user_help])
    assert registry.get("status").help == "mine"
    assert registry.get("help").source == "client"
    assert {(s.spec.source, s.winner.source) for s in registry.shadowed} == {("builtin", "user"),
                                                                             ("user", "client")}
    assert registry.names() == ["help", "status"]


def test_the_builtin_functions_load_cleanly():
    directory = builtin_functions_dir()
    specs, problems = load_function_dir(directory, source="builtin")
    assert problems == []
    assert {"status", "whoami", "create", "delete", "remove"} <= {s.name for s in specs}


def test_loading_the_registry_imports_no_function_and_no_heavy_module(tmp_path):
    code = (
        "import sys\n"
        "from kfshell.registry import Registry\n"
        "r = Registry.load()\n"
        "assert r.get('status') and r.get('use') and r.get('help')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'yaml', 'requests', 'urllib3', 'prompt_toolkit', 'functions'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_user_commands_join_the_registry(tmp_path):
    write(tmp_path / "hello.py", 'KF_COMMAND = {"name": "hello", "help": "say hello"}\n')
    registry = Registry.load(user_dir=tmp_path)
    assert registry.get("hello").source == "user"
    assert registry.get("status").source == "builtin"


def test_the_spec_cache_answers_until_the_file_changes(tmp_path):
    commands = tmp_path / "commands"
    commands.mkdir()
    module = write(commands / "hello.py", 'KF_COMMAND = {"name": "hello", "help": "one"}\n')
    cache = tmp_path / "cache" / "specs.json"
    assert Registry.load(user_dir=commands, cache_file=cache).get("hello").help == "one"
    assert cache.exists()
    assert Registry.load(user_dir=commands, cache_file=cache).get("hello").help == "one"
    write(module, 'KF_COMMAND = {"name": "hello", "help": "two, longer"}\n')
    assert Registry.load(user_dir=commands, cache_file=cache).get("hello").help == "two, longer"
    cache.write_text("{damaged")
    assert Registry.load(user_dir=commands, cache_file=cache).get("hello").help == "two, longer"
