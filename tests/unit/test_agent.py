"""The warm agent without a cluster: its socket's safety, the client's fallback, the same output both ways.

Each test has its own XDG_RUNTIME_DIR (so its own agent) and ends its agent. `AgentHome` is shared with
tests/cluster/test_agent_cluster.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfshell.agent import client

ROOT = Path(__file__).resolve().parent.parent.parent
DEBUG_LINE = "kf: agent:"


class AgentHome:
    """A private XDG home and runtime directory; `kf(...)` runs `python -m kfshell` there, through the agent
    or (agent=False) with KF_AGENT=0; `stop()` ends the agent this home started."""

    def __init__(self, root: Path, source: Path | None = None, **environ: str) -> None:
        self.root = root
        self.runtime = root / "run"
        self.runtime.mkdir(mode=0o700, parents=True)
        # A copy of kf's code (or another home's): the agent ends when its code changes, and the shared tree
        # changes under us.
        self.source = source or root / "src"
        for package in ("kfshell", "functions") if source is None else ():
            shutil.copytree(ROOT / package, self.source / package, ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KF_", "XDG_"))}
        self.env.update(XDG_RUNTIME_DIR=str(self.runtime), XDG_CONFIG_HOME=str(root / "config"),
                        XDG_CACHE_HOME=str(root / "cache"), XDG_STATE_HOME=str(root / "state"),
                        KF_AGENT_DEBUG="1", KF_AGENT_IDLE="5", NO_COLOR="1", PYTHONPATH=str(self.source))
        self.env.update(environ)

    @property
    def agent_dir(self) -> Path:
        return self.runtime / "kf"

    def kf(self, *argv: str, agent: bool = True, stdin: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        run_env = dict(self.env, **(env or {}))
        if not agent:
            run_env["KF_AGENT"] = "0"
        return subprocess.run([sys.executable, "-m", "kfshell", *argv], env=run_env, cwd=self.root,
                              input=stdin if stdin is not None else "", capture_output=True, text=True,
                              timeout=120)

    def sockets(self) -> list[Path]:
        return sorted(self.agent_dir.glob("agent-*.sock")) if self.agent_dir.exists() else []

    def start(self, timeout: float = 30.0) -> int:
        """Start the agent (the first kf starts it) and wait until it answers; its pid."""
        self.kf("--version")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.agent_pid()
            if pid is not None:
                return pid
            time.sleep(0.05)
        raise AssertionError(f"no agent answered in {self.agent_dir}")

    def agent_pid(self) -> int | None:
        for path in self.sockets():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                try:
                    sock.connect(str(path))
                except OSError:
                    continue
                cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                return int.from_bytes(cred[:4], sys.byteorder)
        return None

    def stop(self) -> None:
        pid = self.agent_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (reparented, not reaped yet) is gone for our purposes
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def served(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether the agent answered (with KF_AGENT_DEBUG=1 the client says why it did not)."""
    return DEBUG_LINE not in result.stderr


def same(a: subprocess.CompletedProcess[str], b: subprocess.CompletedProcess[str]) -> None:
    assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[AgentHome]:
    place = AgentHome(tmp_path)
    try:
        yield place
    finally:
        place.stop()


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {{server: "{server}", insecure-skip-tls-verify: true}}
users:
- name: alice
  user: {{token: abc}}
contexts:
- name: first
  context: {{cluster: dev, user: alice, namespace: team-a}}
- name: second
  context: {{cluster: dev, user: alice, namespace: team-b}}
current-context: {current}
"""


def write_kubeconfig(path: Path, current: str, server: str = "https://127.0.0.1:9") -> None:
    path.write_text(KUBECONFIG.format(current=current, server=server))


# ---------------------------------------------------------------------------------------------- protocol

def test_strings_survive_the_frame_even_undecodable_bytes() -> None:
    strings = ["", "status list", "caf\u00e9", "bad\udcff byte", "x" * 70000]
    decoded, end = client.unpack_strings(client.pack_strings(strings))
    assert decoded == strings
    assert end == len(client.pack_strings(strings))
    with pytest.raises(ValueError):
        client.unpack_strings(client.pack_strings(strings)[:-3])


@pytest.mark.parametrize(("argv", "script"), [
    ([], True), (["-n", "alice"], True), (["--context=x", "-ojson"], True), (["-o", "json", "--"], True),
    (["status", "list"], False), (["-c", "status list"], False), (["-n", "alice", "status"], False),
    (["--version"], False), (["-h"], False), (["--", "status"], False),
])
def test_a_script_on_stdin_is_told_from_a_command(argv: list[str], script: bool) -> None:
    assert client.is_script(argv) is script


# ---------------------------------------------------------------------------------------------- the same result

def test_the_agent_answers_as_kf_itself_does(home: AgentHome, tmp_path: Path) -> None:
    write_kubeconfig(tmp_path / "kubeconfig", "first")
    home.env["KUBECONFIG"] = str(tmp_path / "kubeconfig")
    home.start()
    cases: list[tuple[tuple[str, ...], str | None]] = [
        (("help",), None), (("-o", "json", "help"), None), (("--version",), None), (("--bogus",), None),
        (("no-such-command",), None), (("-c", "use; help status"), None), (("use",), None),
        (("-o", "json", "use"), None), ((), "use\n# a comment\nhelp use\n"), ((), "use\nno-such-command\nuse\n"),
        (("--keep-going",), "no-such-command\nuse\n"), (("__complete", "--", "sta"), None),
        (("__complete", "--", "--context", ""), None),
    ]
    for argv, stdin in cases:
        here = home.kf(*argv, agent=False, stdin=stdin)
        there = home.kf(*argv, stdin=stdin)
        assert served(there), (argv, there.stderr)
        same(here, there)
    assert home.kf("use").stdout == "you are in namespace team-a (context first)\n"


def test_socket_directory_and_socket_are_the_users_alone(home: AgentHome) -> None:
    home.start()
    assert home.agent_dir.stat().st_mode & 0o777 == 0o700
    [sock] = home.sockets()
    assert sock.stat().st_mode & 0o777 == 0o600
    assert sock.stat().st_uid == os.geteuid()


def test_a_directory_others_may_enter_is_not_used(home: AgentHome) -> None:
    home.start()
    home.agent_dir.chmod(0o755)
    try:
        result = home.kf("--version")
        assert (result.returncode, result.stdout) == (0, "kf 0.1.0\n")
        assert "not ours alone" in result.stderr  # it ran here, without the agent
    finally:
        home.agent_dir.chmod(0o700)


def test_kf_agent_0_never_starts_one(home: AgentHome) -> None:
    result = home.kf("--version", agent=False)
    assert result.stdout == "kf 0.1.0\n"
    assert home.sockets() == [] and home.agent_pid() is None


def test_without_an_agent_the_first_kf_runs_itself_and_starts_one(home: AgentHome) -> None:
    first = home.kf("help", "use")
    assert first.returncode == 0 and "starting one" in first.stderr
    home.start()
    second = home.kf("help", "use")
    assert served(second) and second.stdout == first.stdout


def test_a_stale_agent_answers_with_the_new_current_context(home: AgentHome, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    write_kubeconfig(config, "first")
    home.env["KUBECONFIG"] = str(config)
    pid = home.start()
    before = home.kf("use")
    assert served(before) and before.stdout == "you are in namespace team-a (context first)\n"
    write_kubeconfig(config, "second")
    after = home.kf("use")
    assert after.stdout == "you are in namespace team-b (context second)\n"
    assert served(after) and home.agent_pid() == pid  # the same agent, reading the new file


def test_changed_code_ends_the_agent(home: AgentHome) -> None:
    pid = home.start()
    assert served(home.kf("--version"))
    module = home.source / "kfshell" / "output.py"
    module.write_text(module.read_text() + "\n# changed\n")
    result = home.kf("--version")
    assert result.stdout == "kf 0.1.0\n" and "code or installed distributions changed" in result.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def test_the_agent_ends_after_its_idle_time(tmp_path: Path) -> None:
    home = AgentHome(tmp_path, KF_AGENT_IDLE="0.02")  # minutes: ~1 s
    pid = home.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        assert not _alive(pid)
        assert home.sockets() == []  # it took its socket with it
    finally:
        home.stop()


# ---------------------------------------------------------------------------------------------- another user

OTHER_USER = "kf-agent-other"


def _other_user() -> pwd.struct_passwd:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as a second user")
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(OTHER_USER)


def _as(user: pwd.struct_passwd, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                           *argv], env=env, capture_output=True, text=True, timeout=60)


# The other user's client: the system Python (kf's own interpreter is under /root, closed to others), which
# is enough, since the thin client needs only the standard library.
PEER = """
import os, sys
sys.path.insert(0, {root!r})
from kfshell.agent import client
print("dir", client.socket_dir(os.environ))
import _socket
sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
try:
    sock.connect({path!r})
except OSError as err:
    print("connect", err.__class__.__name__)
    sys.exit(0)
print("peer is", "me" if client.peer_uid(sock) == os.geteuid() else "another user")
print("answer", client.read_frame(sock))  # told at once, before it reads any request
"""


@pytest.fixture
def open_home() -> Iterator[AgentHome]:
    """An AgentHome the other user can walk down to (pytest's own tmp directories are closed to others)."""
    root = Path(tempfile.mkdtemp(prefix="kf-agent-test-"))
    root.chmod(0o711)
    place = AgentHome(root)
    place.runtime.chmod(0o711)
    try:
        yield place
    finally:
        place.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_another_user_never_reaches_the_agent(open_home: AgentHome) -> None:
    home = open_home
    user = _other_user()
    home.start()
    [path] = home.sockets()
    code = PEER.format(root=str(home.source), path=str(path))
    env = {"XDG_RUNTIME_DIR": str(home.runtime), "PATH": "/usr/bin:/bin", "HOME": "/"}
    # As the files are: the directory is not the other user's (the client will not use it) and mode 0700
    # keeps their connection out.
    out = _as(user, ["/usr/bin/python3", "-c", code], env).stdout
    assert "dir None" in out and "connect PermissionError" in out
    # Even with the directory and socket opened to everybody, the agent checks the peer's uid and refuses.
    home.agent_dir.chmod(0o711)
    path.chmod(0o666)
    try:
        out = _as(user, ["/usr/bin/python3", "-c", code], env).stdout
    finally:
        path.chmod(0o600)
        home.agent_dir.chmod(0o700)
    assert "peer is another user" in out
    assert f"refused: uid {user.pw_uid} is not this agent's user" in out and "answer (b'L'" in out
    # The owner is still served.
    assert served(home.kf("--version"))


# ---------------------------------------------------------------------------------------------- killed mid-way

class Silent:
    """A TCP server that accepts and says nothing: a request to it waits (until `close()`: refused)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted.set()

    def stop_listening(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; a bare close would leave it listening
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


def test_an_agent_killed_mid_command_leaves_the_client_to_run_it(home: AgentHome, tmp_path: Path) -> None:
    server = Silent()
    config = tmp_path / "kubeconfig"
    write_kubeconfig(config, "first", server=f"https://127.0.0.1:{server.port}")
    home.env["KUBECONFIG"] = str(config)
    pid = home.start()
    proc = subprocess.Popen([sys.executable, "-m", "kfshell", "-o", "json", "whoami"], env=home.env,
                            cwd=home.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert server.accepted.wait(30), "the agent never called the API server"
        server.stop_listening()  # the client's own run will find the server gone
        os.kill(pid, signal.SIGKILL)  # the agent dies while the command waits for its answer
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.close()
    here = home.kf("-o", "json", "whoami", agent=False)
    assert "the agent went away before the command ended" in err
    assert (proc.returncode, out, err.replace(f"{DEBUG_LINE} the agent went away before the command ended\n", "")) \
        == (here.returncode, here.stdout, here.stderr)
    assert here.returncode == 3  # unreachable: the fallback really ran the command


def _interrupted(home: AgentHome, server: Silent, agent: bool) -> tuple[int, str, str]:
    """`whoami` against a server that never answers, Ctrl-C once it is waiting."""
    env = dict(home.env, **({} if agent else {"KF_AGENT": "0"}))
    server.accepted.clear()
    proc = subprocess.Popen([sys.executable, "-m", "kfshell", "-o", "json", "whoami"], env=env, cwd=home.root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.accepted.wait(30), "kf never called the API server"
        time.sleep(0.3)  # waiting for the answer by now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_ctrl_c_interrupts_the_command_in_the_agent_as_it_would_here(home: AgentHome, tmp_path: Path) -> None:
    server = Silent()
    config = tmp_path / "kubeconfig"
    write_kubeconfig(config, "first", server=f"https://127.0.0.1:{server.port}")
    home.env["KUBECONFIG"] = str(config)
    pid = home.start()
    try:
        there = _interrupted(home, server, agent=True)
        here = _interrupted(home, server, agent=False)
    finally:
        server.close()
    assert there == here and here[0] == 130
    assert home.agent_pid() == pid  # the agent lives on, and answers the next one
    assert served(home.kf("--version"))


def test_a_busy_agent_leaves_the_next_kf_to_run_itself(home: AgentHome, tmp_path: Path) -> None:
    server = Silent()
    config = tmp_path / "kubeconfig"
    write_kubeconfig(config, "first", server=f"https://127.0.0.1:{server.port}")
    home.env["KUBECONFIG"] = str(config)
    home.start()
    slow = subprocess.Popen([sys.executable, "-m", "kfshell", "whoami"], env=home.env, cwd=home.root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.accepted.wait(30)
        time.sleep(0.6)  # running longer than a request is waited for
        other = home.kf("help", "use")
        assert other.returncode == 0 and other.stdout == home.kf("help", "use", agent=False).stdout
        assert "busy with another request" in other.stderr
    finally:
        server.close()
        slow.communicate(timeout=60)


def _agents_of(home: AgentHome) -> list[int]:
    """Pids of agent processes serving a socket under this home's runtime directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"kfshell.agent.server" in a for a in argv) and any(str(home.agent_dir).encode() in a for a in argv):
            if _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_an_agent_killed_outright_is_replaced_by_the_next_kf(home: AgentHome) -> None:
    pid = home.start()
    os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    first = home.kf("--version")  # its socket is still there, dead
    assert first.stdout == "kf 0.1.0\n" and "Connection refused" in first.stderr
    assert home.start() != pid
    assert served(home.kf("--version"))


def test_kf_started_many_at_once_leaves_one_agent(home: AgentHome) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "kfshell", "--version"], env=home.env, cwd=home.root,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for _ in range(4)]
    assert all(p.communicate(timeout=60)[0] == b"kf 0.1.0\n" for p in procs)
    home.start()
    time.sleep(1.0)  # the losers of the lock have exited by now
    assert len(_agents_of(home)) == 1
