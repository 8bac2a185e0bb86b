"""TAB at the real kf> prompt, as pgcli and fish have it: a lone candidate completes on the first TAB, and
with the menu open what one types filters the menu instead of being appended to the selected item.

No cluster is needed: command and subcommand names come from kf's own registry, so the kubeconfig points
at a server that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.repl.shell_pty import Pty, shell_env

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: someone
  user: {token: not-a-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone, namespace: work}
current-context: nowhere
"""


@pytest.fixture
def prompt(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    pty = Pty([], shell_env(str(kubeconfig), tmp_path))
    pty.expect("kf nowhere:work>")
    try:
        yield pty
    finally:
        pty.close()


def test_a_lone_candidate_completes_on_the_first_tab(prompt: Pty) -> None:
    prompt.send("whoa\t")
    prompt.expect("whoami")
    prompt.send("\r")
    # The line run was `whoami`: it fails on the missing cluster, naming itself.
    prompt.expect("kf: whoami:")
    prompt.expect("kf nowhere:work>")


def test_typing_with_the_menu_open_filters_it(prompt: Pty) -> None:
    prompt.send("status ")
    prompt.send("\t")  # the menu of subcommands, its first item selected (shown in the line)
    prompt.expect("health")
    prompt.send("inf")  # filters the menu to `info` rather than making `healthinf`
    prompt.send("\t")  # one candidate left: completes at once
    prompt.send("\r")
    prompt.expect("kf: status info: missing <component>")
    assert "healthinf" not in prompt.text
    prompt.expect("kf nowhere:work>")
