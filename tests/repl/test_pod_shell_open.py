"""`open` at the kf> prompt runs in the background: the prompt stays usable, `open --list` shows the forward,
`open --stop` ends it and frees the port."""

from __future__ import annotations

import socket
import urllib.request

from tests.cluster.test_pods_open import jupyter, notebook  # noqa: F401 - fixtures
from tests.repl.shell_pty import Pty, shell_env


def test_open_in_the_background_list_and_stop(kubeconfig, tmp_path, namespace, notebook):  # noqa: F811
    shell = Pty(["--context", "kf-alice", "-n", namespace], shell_env(kubeconfig, tmp_path))
    try:
        prompt = f"kf kf-alice:{namespace}>"
        shell.expect(prompt)
        shell.sendline(f"open {notebook} --no-browser")
        url = shell.expect(r"http://127\.0\.0\.1:\d+/\S*", regex=True)
        shell.expect(prompt)  # back at once: the forward runs in the background
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.read().decode() == f"jupyter stand-in at /notebook/{namespace}/nb/"
        shell.sendline("open --list")
        shell.expect("nb-0")
        shell.expect(url)
        shell.expect(prompt)
        shell.sendline("open --stop 1")
        shell.expect("stopped 1 forward")
        shell.expect(prompt)
        port = int(url.split(":")[2].split("/")[0])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # free again
        shell.sendline("exit")
        assert shell.expect_exit() == 0
    finally:
        shell.close()
