"""The warm agent against the dev cluster: every command's json and table output is byte-identical through the
agent and in kf's own process (KF_AGENT=0); a kubeconfig switch reaches a running agent; an agent killed
mid-command leaves the client to give the same answer; TAB's names come from the agent's live snapshot.

Each way has its own kf home (state, config, cache) made alike, so a note said once per home, a user command
added in one, or a cache filled by the first run shows the same in both. Commands that change the cluster
run in pairs on twin objects (`-a` here, `-b` through the agent) and are compared with the names swapped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kfshell.registry import Registry
from tests.unit.test_agent import DEBUG_LINE, AgentHome, served

pytestmark = pytest.mark.cluster

USER_COMMAND = '''\
KF_COMMAND = {"name": "hello", "help": "say hello", "timeout": 5, "arguments": [{"name": "who", "help": "whom"}]}


def handler(event, context):
    return {"kind": "message", "text": "hello " + event["data"]["args"].get("who", "world")}
'''

# Every command in the registry: the lines it is compared with (read-only, or run on twin objects: {x} is
# `-a` in kf's own process and `-b` through the agent), or why it is not. {ns} is the test's namespace.
LINES: dict[str, list[str] | str] = {
    "admin manifests": ["admin manifests"],
    "admin install": "installs kf's functions cluster-wide for administrators: other tests own them",
    "admin uninstall": "removes kf's functions cluster-wide: other tests use them",
    "command list": ["command list"],
    "command describe": ["command describe notebook", "command describe hello"],
    "command add": ["command add hello {file} --scope user"],
    "command replace": ["command replace hello {file}"],
    "command upgrade": ["command upgrade hello {file}"],
    "command trust": ["command trust hello"],
    "command untrust": ["command untrust hello"],
    "command remove": ["command remove hello -y"],
    "create": ["create -d proj{x}"],
    "delete": ["delete {ns}"],  # refused without --yes off a terminal: nothing is deleted
    "exit": ["exit", "exit 3"],
    "help": ["help", "help notebook create", "help no-such"],
    "logs": ["logs nope"],
    "notebook ls": ["notebook ls"],
    "notebook create": ["notebook create nb{x} --no-volume --no-wait", "notebook create nb{x} --no-volume --no-wait"],
    "notebook describe": ["notebook describe nb{x}", "notebook describe nope"],
    "notebook stop": ["notebook stop nb{x} --no-wait"],
    "notebook start": ["notebook start nb{x} --no-wait"],
    "notebook delete": ["notebook delete nb{x}", "notebook delete nb{x} -y"],
    "open": ["open nope"],
    "projects": ["projects"],
    "refresh": ["refresh"],
    "remove": ["remove -d nope", "remove nope"],
    "run": ["run nope -- true"],
    "serve ls": ["serve ls"],
    "serve create": ["serve create sv{x} --model-format nosuchformat --storage-uri gs://none/model --no-wait"],
    "serve describe": ["serve describe nope"],
    "serve stop": ["serve stop nope"],
    "serve start": ["serve start nope"],
    "serve delete": ["serve delete nope -y"],
    "shell": ["shell nope"],
    "status list": ["status list", "status list nb{x}"],
    "status health": ["status health"],
    "status info": ["status info nb{x}", "status info nope"],
    "tensorboard ls": ["tensorboard ls"],
    "tensorboard create": ["tensorboard create tb{x} --logspath pvc://logs{x}/run"],
    "tensorboard delete": ["tensorboard delete tb{x} -y", "tensorboard delete tb{x} -y"],
    "train ls": ["train ls"],
    "train runtimes": ["train runtimes"],
    "train create": ["train create tj{x} --runtime torch-distributed --script {script}"],
    "train describe": ["train describe tj{x}", "train describe nope"],
    "train logs": ["train logs nope"],
    "train delete": ["train delete tj{x} -y"],
    "use": ["use", "use {ns}"],
    "whoami": ["whoami"],
}
ORDER = ["notebook create", "train create", "tensorboard create", "serve create"]  # made before the rest read them
LAST = ["notebook stop", "notebook start", "notebook delete", "train delete", "tensorboard delete"]
READS = 3  # a read that differs is read again (an AGE column may tick, a state move, between the two runs)
CHANGES = {"create", "delete", "stop", "start", "add", "replace", "upgrade", "trust", "untrust", "remove"}


def changes(template: str) -> bool:
    """Whether the line changes something (then it runs on twins), not a read or a dry run."""
    words = template.split()
    return bool(CHANGES & set(words[:2])) and "-d" not in words


def _leaves(registry: Registry) -> list[str]:
    names = []
    for command in registry.commands():
        subs = list(getattr(command, "subcommands", ()) or ())
        names += [f"{command.name} {sub.name}" for sub in subs] or [command.name]
    return names


def test_every_command_is_covered() -> None:
    missing = [name for name in _leaves(Registry.load()) if name not in LINES]
    assert not missing, f"add these to LINES (a line to compare, or why not): {missing}"


class Twins:
    """The two kf homes and how to run a line in each."""

    def __init__(self, root: Path, kubeconfig: str, namespace: str) -> None:
        self.namespace = namespace
        self.local = AgentHome(root / "local", KUBECONFIG=kubeconfig)
        self.agent = AgentHome(root / "agent", source=self.local.source, KUBECONFIG=kubeconfig)
        self.file = root / "hello.py"
        self.file.write_text(USER_COMMAND)
        self.script = root / "train.py"
        self.script.write_text("print('training')\n")

    def line(self, template: str, twin: str) -> str:
        return template.format(x=f"-{twin}", ns=self.namespace, file=self.file, script=self.script)

    def run(self, template: str, output: str) -> tuple[tuple[int, str, str], tuple[int, str, str], bool]:
        def argv(twin: str) -> list[str]:
            return ["--context", "kf-alice", "-n", self.namespace, "-o", output, "-c", self.line(template, twin)]

        twin = changes(template) and "{x}" in template
        here = self.local.kf(*argv("twa"), agent=False)
        there = self.agent.kf(*argv("twb" if twin else "twa"))
        # The homes' own paths (a user command's file) are the one thing that differs by design.
        out, err = (there.stdout.replace(str(self.agent.root), str(self.local.root)),
                    there.stderr.replace(str(self.agent.root), str(self.local.root)))
        if twin:
            out, err = out.replace("-twb", "-twa"), err.replace("-twb", "-twa")
        err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith(DEBUG_LINE))
        return (here.returncode, here.stdout, here.stderr), (there.returncode, out, err), served(there)


@pytest.fixture
def twins(tmp_path: Path, kubeconfig: str, namespace: str):
    made = Twins(tmp_path, kubeconfig, namespace)
    made.agent.start()
    try:
        yield made
    finally:
        made.agent.stop()


def test_every_command_gives_the_same_bytes_through_the_agent(twins: Twins) -> None:
    names = [n for n in ORDER if n in LINES] + [n for n in LINES if n not in ORDER and n not in LAST] + LAST
    differences, agent_answered, told_here = [], 0, []
    for name in names:
        lines = LINES[name]
        if isinstance(lines, str):
            continue  # skipped, with its reason in LINES
        for template in lines:
            for output in ("json", "table"):
                attempts = 1 if changes(template) and "{x}" in template else READS
                for _ in range(attempts):
                    here, there, by_agent = twins.run(template, output)
                    if here == there:
                        break
                if here != there:
                    differences.append((template, output, here, there))
                agent_answered += by_agent
                if not by_agent:
                    told_here.append(template)
    assert not differences, "\n".join(f"{t!r} -o {o}:\n  here:  {h}\n  agent: {a}" for t, o, h, a in differences)
    # The agent really answered the one-shots; the streaming and terminal commands ran in the client.
    assert agent_answered > 60
    assert sorted(set(told_here)) == ["logs nope", "open nope", "run nope -- true", "shell nope", "train logs nope"]


def test_a_running_agent_follows_the_kubeconfig_current_context(tmp_path: Path, kubeconfig: str) -> None:
    config = tmp_path / "kubeconfig"
    text = Path(kubeconfig).read_text()
    config.write_text(text)
    home = AgentHome(tmp_path / "home", KUBECONFIG=str(config))
    pid = home.start()
    try:
        def whoami() -> subprocess.CompletedProcess[str]:
            return home.kf("-o", "json", "whoami")

        def current(name: str) -> None:
            subprocess.run([sys.executable, "-c", "import sys, yaml; p = sys.argv[1]; d = yaml.safe_load(open(p)); "
                            "d['current-context'] = sys.argv[2]; open(p, 'w').write(yaml.safe_dump(d))",
                            str(config), name], check=True)

        current("kf-alice")
        first = whoami()
        assert served(first) and '"user": "alice"' in first.stdout and '"context": "kf-alice"' in first.stdout
        current("kf-bob")
        second = whoami()
        assert served(second) and '"user": "bob"' in second.stdout and '"context": "kf-bob"' in second.stdout
        assert home.agent_pid() == pid
        assert second.stdout == home.kf("-o", "json", "whoami", agent=False).stdout
    finally:
        home.stop()


class Stall:
    """A TCP relay to the API server that can hold every byte (a frozen server) until released."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.held = threading.Event()  # a request arrived while stalled
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.open.is_set():
                    self.held.set()
                    self.open.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.open.set()
        self.sock.close()


def test_an_agent_killed_mid_command_gives_the_same_result_from_the_client(tmp_path: Path, kubeconfig: str,
                                                                          namespace: str) -> None:
    import yaml

    data = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = next(c for c in data["clusters"] if c["name"] == next(
        x["context"]["cluster"] for x in data["contexts"] if x["name"] == "kf-alice"))
    host, _, port = cluster["cluster"]["server"].split("://")[1].partition(":")
    relay = Stall((host, int(port or 443)))
    cluster["cluster"]["server"] = f"https://{host}:{relay.port}"
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(data))
    home = AgentHome(tmp_path / "home", KUBECONFIG=str(config))
    argv = ["--context", "kf-alice", "-n", namespace, "-o", "json", "status", "list"]
    pid = home.start()
    try:
        assert served(home.kf(*argv))  # warm: the agent has its connection
        relay.open.clear()
        proc = subprocess.Popen([sys.executable, "-m", "kfshell", *argv], env=home.env, cwd=home.root,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert relay.held.wait(30), "the agent never called the API server"
        os.kill(pid, signal.SIGKILL)
        relay.open.set()  # the server answers again: the client's own run goes through
        out, err = proc.communicate(timeout=120)
        here = home.kf(*argv, agent=False)
    finally:
        relay.close()
        home.stop()
    assert err == f"{DEBUG_LINE} the agent went away before the command ended\n" + here.stderr
    assert (proc.returncode, out) == (here.returncode, here.stdout) and here.returncode == 0


def test_tab_through_the_agent_offers_a_notebook_made_after_its_first_tab(tmp_path: Path, kubeconfig: str,
                                                                         namespace: str) -> None:
    home = AgentHome(tmp_path / "home", KUBECONFIG=kubeconfig)
    home.start()
    tab = ["__complete", "--", "--context", "kf-alice", "-n", namespace, "notebook", "stop", ""]
    try:
        first = home.kf(*tab)
        assert served(first)
        made = home.kf("--context", "kf-alice", "-n", namespace, "notebook", "create", "late", "--no-volume",
                       "--no-wait", agent=False)
        assert made.returncode == 0, made.stderr
        deadline = time.monotonic() + 30
        while "late" not in home.kf(*tab).stdout:  # the agent's watch brings it, no cache expiry needed
            assert time.monotonic() < deadline, "the new notebook never reached TAB"
            time.sleep(0.2)
        fresh_cache = home.kf(*tab, env={"XDG_CACHE_HOME": str(tmp_path / "empty")})
        assert served(fresh_cache) and "late" in fresh_cache.stdout  # the live names, not a file
    finally:
        home.stop()
