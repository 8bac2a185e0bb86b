"""The agent: a per-user process that runs `kf` invocations for thin clients (kfshell.agent.client).

It runs each request with kfshell.cli.main (or kfshell.complete_cmd.main for TAB) exactly as a `kf` process
would, in the client's cwd, umask and environment, with stdout and stderr captured in the client's encodings
and sent back with the exit status. What stays warm between requests: imported modules, the API servers'
kept-alive connections (one pool per kubeconfig context's full content, so another user, certificate or a
changed kubeconfig never shares one), exec plugins' credentials (in memory only, as kfshell.execcred keeps
them; nothing is written to disk here), and for TAB one live completion snapshot per place
(kfshell.completion.refresher, kept current by watches).

Requests run one at a time on the main thread (os.environ, cwd and signals are per process); a client that
finds the agent busy for long runs its command itself. What never runs here (the client runs it): the kf>
prompt; a person at a terminal (stdin and stdout both terminals: pager, questions, spinner); commands that
stream or need the terminal or signals (shell, run, logs, open, and subcommands that hand over to them); a
command that reads stdin when no script was sent (the agent then gives the request back).

It ends after KF_AGENT_IDLE minutes without a request (default 10), when kf's code or the installed
distributions change (the next `kf` starts a new one), or on SIGTERM. Safety: the socket's directory must be
the user's own, mode 0700 (checked by both ends), the socket is mode 0600, and every connection's peer uid
(SO_PEERCRED) must be the agent's own, else the connection is refused.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kfshell.agent.client import PROTOCOL, frame, peer_uid, read_frame, unpack_strings

IDLE_MINUTES = 10.0
BUSY_WAIT = 0.5  # seconds a request waits for the one before it, then its client runs it itself
# Client commands that stream, need the terminal or signals: they always run in the user's own process.
STAYS_HERE = frozenset({"shell", "run", "logs", "open"})
MAX_POOLS = 16
MAX_SNAPSHOTS = 4


class NeedsClient(BaseException):
    """The command needs the client's own process (its stdin or terminal): give the request back.
    A BaseException, so a command's `except Exception` cannot swallow it."""


class _NoStdin(io.TextIOBase):
    """stdin when the client sent none: reading it (a question, a pipe into `run`) gives the request back."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise NeedsClient("reads stdin")

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise NeedsClient("reads stdin")

    def fileno(self) -> int:
        raise NeedsClient("uses stdin's descriptor")

    @property
    def buffer(self) -> Any:
        raise NeedsClient("reads stdin")


class _Sink(io.RawIOBase):
    """The raw end of a captured stream: every flushed chunk becomes one frame, in the order written."""

    def __init__(self, kind: bytes, frames: list[tuple[bytes, bytes]], tty: bool) -> None:
        super().__init__()
        self._kind = kind
        self._frames = frames
        self._tty = tty

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self._frames.append((self._kind, chunk))
        return len(chunk)

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a captured stream has no descriptor")


def captured(kind: bytes, frames: list[tuple[bytes, bytes]], tty: bool, encoding: str, errors: str,
             line_buffering: bool) -> io.TextIOWrapper:
    """A text stream buffered as Python buffers sys.stdout/sys.stderr, so stdout and stderr interleave as
    they would in the client's own process."""
    return io.TextIOWrapper(io.BufferedWriter(_Sink(kind, frames, tty)), encoding=encoding, errors=errors,
                            line_buffering=line_buffering)


class Request:
    """One client's invocation, as the client sent it."""

    def __init__(self, header: dict[str, str], argv: list[str], environ: dict[str, str], stdin: bytes | None):
        self.header = header
        self.argv = argv
        self.environ = environ
        self.stdin = stdin

    def tty(self, name: str) -> bool:
        return self.header.get(f"{name}_tty") == "1"

    def size(self) -> tuple[int, int] | None:
        try:
            columns, lines = int(self.header.get("columns", "0")), int(self.header.get("lines", "0"))
        except ValueError:
            return None
        return (columns, lines) if columns > 0 and lines > 0 else None


def parse_request(payload: bytes, stdin: bytes | None) -> Request:
    fields, offset = unpack_strings(payload)
    argv, offset = unpack_strings(payload, offset)
    env, offset = unpack_strings(payload, offset)
    header = dict(zip(fields[::2], fields[1::2], strict=False))
    environ = {}
    for item in env:
        key, _, value = item.partition("=")
        environ[key] = value
    return Request(header, argv, environ, stdin)


# ---------------------------------------------------------------------------------------------- staying here

def stays_here(request: Request) -> str | None:
    """Why the client must run this invocation itself, or None when the agent may."""
    argv = request.argv
    if argv[:1] == ["__complete"]:
        return "refreshes the completion cache" if argv[1:2] == ["--refresh-cache"] else None
    if request.tty("stdin") and request.tty("stdout"):
        return "a person at a terminal"
    from kfshell.cli import parse_global
    from kfshell.errors import KfError

    try:
        options = parse_global(argv)
    except KfError:
        return None  # main says what is wrong, as it would there
    if options.help or options.version:
        return None
    if options.words:
        lines: list[list[str]] = [list(options.words)]
    else:
        if options.commands is None and request.stdin is None:
            return "the kf> prompt" if request.tty("stdin") else "a script that was not sent"
        text = options.commands if options.commands is not None else request.stdin.decode(
            request.header.get("stdin_encoding", "utf-8"), "replace")
        lines = _command_words(text.splitlines() if options.commands is None else [text])
    for words in lines:
        why = _streams(words)
        if why:
            return why
    return None


def _command_words(lines: list[str]) -> list[list[str]]:
    from kfshell.errors import KfError
    from kfshell.parsing import split_commands

    commands = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            commands.extend(split_commands(line))
        except KfError:
            continue  # the runner reports it the same way here
    return commands


def _streams(words: list[str]) -> str | None:
    """Whether a command streams or needs the terminal: a client command of STAYS_HERE or a subcommand that
    hands over to one (`train logs`)."""
    if not words:
        return None
    if words[0] in STAYS_HERE:
        return f"{words[0]} needs the terminal or streams"
    spec = _builtin_registry().get(words[0]) if len(words) > 1 else None
    sub = spec.subcommand(words[1]) if spec is not None else None
    if sub is not None and sub.hands_to in STAYS_HERE:
        return f"{words[0]} {words[1]} streams"
    return None


_REGISTRY: Any = None


def _builtin_registry() -> Any:
    """The shell's own commands (no user files): enough to see which subcommands hand over to a client one."""
    global _REGISTRY
    if _REGISTRY is None:
        from kfshell.registry import Registry

        _REGISTRY = Registry.load()
    return _REGISTRY


# ---------------------------------------------------------------------------------------------- warm state

class Pools:
    """Kept-alive connections between requests: the pool and TLS context of the first client built for a
    context are handed to every later client built from the same content (server, CA, user entry, proxies,
    timeouts). The TLS context too: a pooled connection is reused only by a client with the very context
    object it was made with (kfshell.rest), and the same content builds an equal one."""

    def __init__(self) -> None:
        self._pools: dict[int, Any] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        import kfshell.cluster

        real: Callable[..., Any] = kfshell.cluster.api_client

        def api_client(kubeconfig: Any, context: str | None = None, **kwargs: Any) -> Any:
            client = real(kubeconfig, context, **kwargs)
            pool = getattr(client, "_pool", None)
            if pool is None:
                return client
            try:
                key = self._key(kubeconfig, context, kwargs)
            except Exception:  # noqa: BLE001 - an unusual kubeconfig: no sharing, nothing else changes
                return client
            with self._lock:
                kept = self._pools.get(key)
                if kept is None:
                    self._pools[key] = (pool, getattr(client, "_ssl", None))
                    while len(self._pools) > MAX_POOLS:
                        self._pools.pop(next(iter(self._pools)))[0].clear()
                else:
                    client._pool, client._ssl = kept
            return client

        kfshell.cluster.api_client = api_client  # type: ignore[assignment]

    @staticmethod
    def _key(kubeconfig: Any, context: str | None, kwargs: Mapping[str, Any]) -> int:
        name = kubeconfig.context(context).name
        proxies = tuple(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                                     "NO_PROXY", "no_proxy"))
        # Held in memory only (a hash of it); the content includes credentials, so a changed user never matches.
        return hash(repr((name, _frozen(kubeconfig.cluster(name)), _frozen(kubeconfig.user(name)), proxies,
                          sorted(kwargs.items()))))

    def clear(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool, _tls in pools:
            pool.clear()


class Registries:
    """The command registry between requests (Registry is immutable): loaded again when the user's command
    directory changes (its files' names, mtimes and sizes); kf's own commands and the installed distributions
    are covered by code_stamp, whose change ends the agent. A request with another spec cache file is answered
    from memory too (that file is then not written: it is only a cache)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], Any] = {}

    def install(self) -> None:
        from kfshell.registry import Registry

        real = Registry.load.__func__  # type: ignore[attr-defined]
        kept = self._kept

        def load(cls: Any, *, user_dir: Any = None, extra: Any = (), cache_file: Any = None) -> Any:
            extra = tuple(extra)
            if extra:
                return real(cls, user_dir=user_dir, extra=extra, cache_file=cache_file)
            key = (str(user_dir), _dir_stamp(user_dir))  # not the cache file: it changes how fast, not what
            found = kept.get(key)
            if found is None:
                found = real(cls, user_dir=user_dir, cache_file=cache_file)
                kept[key] = found
                while len(kept) > MAX_REGISTRIES:
                    kept.pop(next(iter(kept)))
            return found

        Registry.load = classmethod(load)  # type: ignore[method-assign, assignment]


MAX_REGISTRIES = 8


def _dir_stamp(path: Any) -> tuple[Any, ...]:
    if path is None:
        return ()
    try:
        entries = sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(path))
        return (os.stat(path).st_mtime_ns, tuple(entries))
    except OSError:
        return ("missing",)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


class Snapshots:
    """TAB's live names: one completion refresher per place (kubeconfig files, context, namespace, home),
    started by the first TAB there and kept current by its watches; at most MAX_SNAPSHOTS, the oldest
    stopped."""

    def __init__(self) -> None:
        self._live: dict[tuple[Any, ...], Any] = {}

    def live(self, place: Any, environ: Mapping[str, str], start: Callable[[], Any], wait: float) -> Any:
        """The snapshot for `place` once its first listing is in (waiting up to `wait` seconds; with `wait`
        given, what arrived by then), else None; starts the place's refresher on its first TAB."""
        key = (place, environ.get("KUBECONFIG"), environ.get("HOME"), environ.get("XDG_STATE_HOME"),
               environ.get("XDG_CONFIG_HOME"), _stamps(environ, place))
        refresher = self._live.pop(key, None)
        if refresher is None:
            for old in [k for k in self._live if k[:5] == key[:5]]:  # the kubeconfig changed since
                self._live.pop(old).stop()
            refresher = start()
        self._live[key] = refresher  # most recently used last
        while len(self._live) > MAX_SNAPSHOTS:
            self._live.pop(next(iter(self._live))).stop()
        settled = refresher.wait_settled(wait)
        return refresher.current() if settled or wait > 0 else None

    def stop(self) -> None:
        for refresher in self._live.values():
            refresher.stop()
        self._live.clear()


def _stamps(environ: Mapping[str, str], place: Any) -> tuple[Any, ...]:
    value = getattr(place, "kubeconfig", None) or environ.get("KUBECONFIG", "")
    paths = [p for p in value.split(os.pathsep) if p] or [os.path.join(environ.get("HOME", "~"), ".kube", "config")]
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append((path, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            stamps.append((path, None))
    return tuple(stamps)


def code_stamp() -> int:
    """kf's own code (kfshell and functions, every .py file's mtime and size) and the installed distributions
    (kfshell.specfiles.distributions_signature, as the entry-point cache keys them: ~1.5 ms)."""
    import kfshell
    from kfshell.registry import Registry  # noqa: F401 - registry first: it and specfiles import each other
    from kfshell.specfiles import distributions_signature

    roots = [os.path.dirname(kfshell.__file__)]
    functions = os.path.join(os.path.dirname(roots[0]), "functions")
    if os.path.isdir(functions):
        roots.append(functions)
    entries: list[Any] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    try:
                        st = os.stat(os.path.join(folder, name))
                    except OSError:
                        continue
                    entries.append((folder, name, st.st_mtime_ns, st.st_size))
    return hash((tuple(entries), repr(distributions_signature(sys.path[1:]))))  # [0]: as the client's fingerprint


# ---------------------------------------------------------------------------------------------- the agent

class Job:
    def __init__(self, conn: socket.socket, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.done = threading.Event()
        self.running = False
        self.cancelled = False
        self.lock = threading.Lock()


class Agent:
    def __init__(self, path: str, idle_seconds: float) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.jobs: list[Job] = []
        self.wake = threading.Condition()
        self.slot = threading.Lock()  # held by the request being run (and the one handed over)
        self.stopping = False
        self.last_used = time.monotonic()
        self.code = code_stamp()
        self.pools = Pools()
        self.snapshots = Snapshots()
        self.main_thread = threading.main_thread().ident
        self.listener: socket.socket | None = None
        self.inode: int | None = None
        self.busy = False  # a request is running on the main thread
        self.started_at = 0.0  # since when (time.monotonic())

    # ---- listening (a thread) --------------------------------------------------------------------------

    def listen(self) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(self.path)  # a dead agent's socket; the lock file says no live agent holds it
        except FileNotFoundError:
            pass
        umask = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(umask)
        os.chmod(self.path, 0o600)
        self.inode = os.stat(self.path).st_ino
        self.listener.listen(32)
        self.listener.settimeout(1.0)
        threading.Thread(target=self._accept, name="kf-agent-accept", daemon=True).start()

    def _accept(self) -> None:
        assert self.listener is not None
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping:
                    return
                time.sleep(0.1)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="kf-agent-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(None)
            try:
                uid = peer_uid(conn)  # type: ignore[arg-type]
            except OSError:
                return
            if uid != os.geteuid():
                conn.sendall(frame(b"L", f"refused: uid {uid} is not this agent's user".encode()))
                return
            conn.settimeout(10.0)
            request = self._read_request(conn)
            if request is None:
                return
            if request.header.get("protocol") != PROTOCOL:
                conn.sendall(frame(b"L", b"another protocol version"))
                return
            # A request already running long (a --wait, a hang) is not waited for: its client runs it at once.
            long_running = self.busy and time.monotonic() - self.started_at > BUSY_WAIT
            if long_running or not self.slot.acquire(timeout=BUSY_WAIT):
                conn.sendall(frame(b"L", b"busy with another request"))
                return
            job = Job(conn, request)
            with self.wake:
                self.jobs.append(job)
                self.wake.notify()
            self._watch(job)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> Request | None:
        got = read_frame(conn)  # type: ignore[arg-type]
        if got is None or got[0] != b"Q":
            return None
        payload = got[1]
        stdin: list[bytes] | None = None
        while True:
            got = read_frame(conn)  # type: ignore[arg-type]
            if got is None:
                return None
            if got[0] == b"E":
                break
            if got[0] == b"I":
                stdin = (stdin or []) + [got[1]]
        try:
            return parse_request(payload, b"".join(stdin) if stdin is not None else None)
        except ValueError:
            return None

    def _watch(self, job: Job) -> None:
        """While the job runs: a cancel frame (Ctrl-C) or the client gone interrupts it, as Ctrl-C would."""
        job.conn.settimeout(0.2)
        while not job.done.is_set():
            try:
                got = read_frame(job.conn)  # type: ignore[arg-type]
            except TimeoutError:
                continue
            except OSError:
                got = None
            if got is None or got[0] == b"C":
                with job.lock:
                    job.cancelled = True
                    if job.running and self.main_thread is not None:
                        signal.pthread_kill(self.main_thread, signal.SIGINT)
                if got is None:
                    break
        job.done.wait()

    # ---- running (the main thread) ---------------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping:
            try:
                job = self._next_job()
            except KeyboardInterrupt:  # a cancel that came after its job ended
                continue
            if job is None:
                break
            self.started_at = time.monotonic()
            self.busy = True
            try:
                self._run_job(job)
            except KeyboardInterrupt:
                pass
            finally:
                self.busy = False
                job.done.set()
                self.slot.release()
                self.last_used = time.monotonic()

    def _next_job(self) -> Job | None:
        with self.wake:
            while not self.jobs:
                left = self.idle_seconds - (time.monotonic() - self.last_used)
                if left <= 0 or self.stopping:
                    return None
                self.wake.wait(min(left, 5.0))
            return self.jobs.pop(0)

    def _run_job(self, job: Job) -> None:
        if code_stamp() != self.code:
            self.stopping = True  # the next kf starts an agent with the new code
            self._send(job, [], why="kf's code or installed distributions changed")
            return
        try:
            why = stays_here(job.request)
        except Exception as err:  # noqa: BLE001 - when in doubt, the client runs it
            why = f"cannot tell ({err.__class__.__name__})"
        if why:
            self._send(job, [], why=why)
            return
        frames: list[tuple[bytes, bytes]] = []
        try:
            status = self._invoke(job, frames)
        except NeedsClient as need:
            self._send(job, [], why=str(need))
            return
        self._send(job, frames, status=status)

    def _invoke(self, job: Job, frames: list[tuple[bytes, bytes]]) -> int | None:
        """Run the request as `kf` would in the client's process; its exit status (None: give it back)."""
        request = job.request
        header = request.header
        stdout = captured(b"1", frames, request.tty("stdout"), header.get("stdout_encoding", "utf-8"),
                          header.get("stdout_errors", "strict"), line_buffering=request.tty("stdout"))
        stderr = captured(b"2", frames, request.tty("stderr"), header.get("stderr_encoding", "utf-8"),
                          header.get("stderr_errors", "backslashreplace"), line_buffering=True)
        if request.stdin is not None:
            stdin: Any = io.TextIOWrapper(io.BytesIO(request.stdin), encoding=header.get("stdin_encoding", "utf-8"),
                                          errors=header.get("stdin_errors", "strict"))
        else:
            stdin = _NoStdin(request.tty("stdin"))
        saved = (os.getcwd(), dict(os.environ), sys.stdin, sys.stdout, sys.stderr)
        umask = os.umask(int(header.get("umask", "18")))
        try:
            os.chdir(header.get("cwd") or "/")
            os.environ.clear()
            os.environ.update(request.environ)
            # The process's own stdin is never a terminal here, so an exec plugin never prompts from the agent
            # (kfshell.execcred asks sys.stdin); the command's Environment still tells the client's.
            sys.stdin = stdin if request.stdin is not None else _NoStdin(False)
            sys.stdout, sys.stderr = stdout, stderr
            with job.lock:
                if job.cancelled:
                    return None
                job.running = True
            try:
                status = self._main(request, stdin, stdout, stderr)
            finally:
                with job.lock:
                    job.running = False
            for stream in (stdout, stderr):
                stream.flush()
            return status
        except SystemExit as done:
            for stream in (stdout, stderr):
                stream.flush()
            return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except NeedsClient:
            raise
        except KeyboardInterrupt:  # Ctrl-C after the command's own handling ended: as kfshell.cli.main ends
            stderr.write("kf: interrupted\n")
            for stream in (stdout, stderr):
                stream.flush()
            return 130
        except BaseException as err:  # noqa: BLE001 - a crash here: the client runs it and shows what it shows
            raise NeedsClient(f"failed here ({err.__class__.__name__})") from err
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved[2], saved[3], saved[4]
            os.environ.clear()
            os.environ.update(saved[1])
            os.umask(umask)
            try:
                os.chdir(saved[0])
            except OSError:
                os.chdir("/")

    def _main(self, request: Request, stdin: Any, stdout: Any, stderr: Any) -> int:
        if request.argv[:1] == ["__complete"]:
            from kfshell import complete_cmd

            return complete_cmd.main(request.argv[1:], stdout=stdout, environ=request.environ,
                                     live=self._live_snapshot)
        from kfshell import cli

        env = agent_environment(request, stdin, stdout, stderr)
        try:
            return cli.main(request.argv, env)
        except BrokenPipeError:  # never from a captured stream; as kfshell.cli.run would end
            return 1

    def _live_snapshot(self, place: Any, environ: Mapping[str, str], start: Callable[[], Any], wait: float) -> Any:
        return self.snapshots.live(place, environ, start, wait)

    def _send(self, job: Job, frames: list[tuple[bytes, bytes]], *, status: int | None = None,
              why: str = "") -> None:
        # Done before the answer leaves: the next kf (started the moment this one exits) must not find the
        # agent "running long" while this thread is still on its way to the loop.
        self.busy = False
        try:
            if status is None:
                job.conn.sendall(frame(b"L", why.encode()))
                return
            out = b"".join(frame(kind, data) for kind, data in frames)
            job.conn.sendall(out + frame(b"X", int(status).to_bytes(4, "big", signed=True)))
        except OSError:
            pass

    # ---- ending -------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.stopping = True
        try:
            if self.inode is not None and os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)  # only our own socket: a newer agent may have bound the name since
        except OSError:
            pass
        if self.listener is not None:
            self.listener.close()
        self.snapshots.stop()
        self.pools.clear()


def agent_environment(request: Request, stdin: Any, stdout: Any, stderr: Any) -> Any:
    """The kfshell.env.Environment of the client's process: its streams' kinds and its terminal's size."""
    from kfshell.env import Environment

    size = request.size()

    class ClientEnvironment(Environment):
        def terminal_size(self) -> os.terminal_size:
            columns, lines = self.environ.get("COLUMNS"), self.environ.get("LINES")
            if not (columns and lines and columns.isdigit() and lines.isdigit()) and self.stdout_isatty and size:
                return os.terminal_size(size)
            return super().terminal_size()

    return ClientEnvironment(stdin=stdin, stdout=stdout, stderr=stderr, environ=dict(request.environ),
                             stdin_isatty=request.tty("stdin"), stdout_isatty=request.tty("stdout"))


def _idle_seconds(environ: Mapping[str, str]) -> float:
    try:
        minutes = float(environ.get("KF_AGENT_IDLE") or IDLE_MINUTES)
    except ValueError:
        minutes = IDLE_MINUTES
    return max(minutes, 0.0) * 60


def _safe_dir(path: str) -> bool:
    try:
        st = os.lstat(os.path.dirname(path))
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o040000 and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def main(path: str) -> None:
    """The agent process (started detached by the client): serve `path` until idle, then exit."""
    import fcntl

    if not _safe_dir(path):
        sys.exit(1)
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(0)  # another agent serves this socket (or is starting)
    os.chdir("/")
    agent = Agent(path, _idle_seconds(os.environ))

    def terminate(signum: int, frame: Any) -> None:
        agent.stopping = True
        if agent.busy:
            return  # the request running ends as it would, then the agent does
        with agent.wake:
            agent.wake.notify()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a client's Ctrl-C arrives as SIGINT
    agent.pools.install()
    Registries().install()
    _warm()
    try:
        agent.listen()
        agent.run()
    except SystemExit:
        pass
    finally:
        agent.close()
        os.close(lock)


def _warm() -> None:
    """Import what every request uses, before the first one arrives."""
    import kfshell.catalog  # noqa: F401
    import kfshell.cli  # noqa: F401
    import kfshell.complete_cmd  # noqa: F401
    import kfshell.dispatch  # noqa: F401
    import kfshell.output  # noqa: F401
    import kfshell.parsing  # noqa: F401
    import kfshell.registry  # noqa: F401
    import kfshell.runner  # noqa: F401
    import kfshell.session  # noqa: F401
