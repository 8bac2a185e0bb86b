"""Errors as people read them, the prompt's highlighting, and a light startup path."""

from __future__ import annotations

import io
import subprocess
import sys

from kfshell.env import Environment
from kfshell.errors import (
    CommandFailed,
    CredentialsRefused,
    ExitStatus,
    Interrupted,
    Unreachable,
    UsageError,
    show,
)
from kfshell.lexer import make_lexer


def capture() -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ={},
                       stdin_isatty=False, stdout_isatty=False)


def test_every_error_has_its_exit_status():
    assert [e("x").exit_status for e in (CommandFailed, UsageError, Unreachable, CredentialsRefused)] == [1, 2, 3, 3]
    assert Interrupted().exit_status == ExitStatus.INTERRUPTED == 130


def test_one_line_what_why_and_what_to_do():
    error = CommandFailed("bob may not delete namespaces cluster-wide", hint="ask an admin", what="delete x")
    env = capture()
    assert show(error, env) == 1
    assert env.stderr.getvalue() == "kf: delete x: bob may not delete namespaces cluster-wide (ask an admin)\n"


def test_usage_errors_add_the_usage_line():
    env = capture()
    show(UsageError("missing <namespace>", usage="usage: create <namespace>", what="create"), env)
    assert env.stderr.getvalue() == "kf: create: missing <namespace>\nusage: create <namespace>\n"


def test_unexpected_exceptions_are_one_line_unless_verbose():
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        error = exc
    quiet, loud = capture(), capture()
    assert show(error, quiet) == 1
    assert quiet.stderr.getvalue() == "kf: internal error: RuntimeError: boom (run again with -v for the traceback)\n"
    show(error, loud, verbose=True)
    assert loud.stderr.getvalue().startswith("Traceback") and "raise RuntimeError" in loud.stderr.getvalue()


def test_lexer_marks_commands_subcommands_flags_and_strings():
    lexer = make_lexer(["status", "use"], ["list"])()
    tokens = [(str(t), v) for t, v in lexer.get_tokens("status list -o json 'a b'; use x # note") if v.strip()]
    assert tokens == [
        ("Token.Keyword", "status"), ("Token.Name.Function", "list"), ("Token.Name.Attribute", "-o"),
        ("Token.Name.Variable", "json"), ("Token.Literal.String.Single", "'a b'"), ("Token.Punctuation", ";"),
        ("Token.Keyword", "use"), ("Token.Name.Variable", "x"), ("Token.Comment.Single", "# note"),
    ]
    unknown = [str(t) for t, v in lexer.get_tokens("stat list") if v.strip()]
    assert unknown[0] == "Token.Text"


def test_the_command_path_imports_nothing_heavy(tmp_path):
    """Parsing flags, reading the registry and a line, and `kf --version`, without kubernetes & co."""
    code = (
        "import sys, io\n"
        "from kfshell.cli import main\n"
        "from kfshell.registry import Registry\n"
        "from kfshell.parsing import parse_line\n"
        "from kfshell.env import Environment\n"
        "parse_line(Registry.load(), 'status list -o json; use alice')\n"
        "main(['--version'], Environment(stdout=io.StringIO()))\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'kubernetes', 'yaml', 'requests', 'urllib3', 'prompt_toolkit', 'pygments', 'functions'})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
