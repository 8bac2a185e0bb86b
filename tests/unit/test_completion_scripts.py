"""The committed completion scripts are what the registry generates, and are valid in each shell."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kfshell.completion import scripts


def test_committed_scripts_are_not_stale():
    generated = scripts.generate(scripts.builtin_registry())
    outdated = scripts.stale(scripts.default_directory(), generated)
    assert outdated == [], f"completions/ is stale: {outdated}; run `make completions` and commit the result"


def test_every_builtin_command_and_subcommand_is_in_every_script():
    registry = scripts.builtin_registry()
    generated = scripts.generate(registry)
    for spec in registry.commands():
        for text in generated.values():
            assert spec.name in text
            for sub in spec.subcommands:
                assert sub.name in text


def test_check_mode_fails_on_a_stale_directory(tmp_path, capsys):
    assert scripts.main(["--check", str(tmp_path)]) == 1
    assert "stale" in capsys.readouterr().err
    assert scripts.main([str(tmp_path)]) == 0
    assert scripts.main(["--check", str(tmp_path)]) == 0


@pytest.mark.parametrize(("shell", "flag", "name"), [("bash", "-n", "kf.bash"), ("zsh", "-n", "_kf"),
                                                     ("fish", "--no-execute", "kf.fish")])
def test_scripts_parse_in_their_shell(shell, flag, name):
    if shutil.which(shell) is None:
        pytest.fail(f"{shell} is not installed (make deps)", pytrace=False)
    proc = subprocess.run([shell, flag, str(scripts.default_directory() / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_quotes_in_help_text_are_escaped():
    assert scripts._sq("it's") == "'it'\\''s'"
    assert scripts._fish_sq("it's") == "'it\\'s'"
