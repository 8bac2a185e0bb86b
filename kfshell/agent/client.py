"""The thin client: hand one `kf` invocation to the user's warm agent, or say that it must run here.

Imported by every `kf` start, so it imports only os, sys and `_socket` (the C core of `socket`; the `socket`
module itself pulls in enum and selectors, several ms) and uses int.to_bytes for the framing.

`run(argv)` answers (status, stdin): status None means "run it in this process" (no agent, a dead socket, a
protocol error, an agent killed mid-command, or a command that must stay here); stdin is what was read from
a script on stdin, which the local run must then read instead. Output is kept until the agent's exit status
arrives, so a command the agent did not finish leaves nothing behind and the local run prints it all once.

Socket: `$XDG_RUNTIME_DIR/kf/` (else `/tmp/kf-UID/`), a directory that must be ours and mode 0700, and in
it one socket per interpreter and code location (`agent-HASH.sock`), whose peer must be our own uid.

Frames, both ways: one type byte, a 4-byte big-endian length, the payload.
  client -> agent: Q request (header, argv, environment), I stdin bytes, E end of stdin, C cancel (Ctrl-C)
  agent -> client: 1 stdout bytes, 2 stderr bytes, X exit status (4 bytes, signed), L run it yourself (why)
"""

from __future__ import annotations

import _socket
import os
import sys

PROTOCOL = "kf-agent/1"
# Global flags that take a value (kfshell.cli._VALUE_FLAGS): enough to tell a script on stdin from a command.
_VALUE_FLAGS = ("--context", "-n", "--namespace", "--kubeconfig", "-o", "--output", "-c", "--dispatch")


# ---------------------------------------------------------------------------------------------- framing

def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


def pack_strings(strings: list[str]) -> bytes:
    """Strings as count + (length, UTF-8) each; surrogateescape keeps undecodable argv/environment bytes."""
    parts = [len(strings).to_bytes(4, "big")]
    for text in strings:
        data = text.encode("utf-8", "surrogateescape")
        parts.append(len(data).to_bytes(4, "big"))
        parts.append(data)
    return b"".join(parts)


def unpack_strings(data: bytes, offset: int = 0) -> tuple[list[str], int]:
    """The inverse of pack_strings from `offset`; the strings and the offset after them (ValueError if cut)."""
    count = int.from_bytes(data[offset:offset + 4], "big")
    offset += 4
    strings = []
    for _ in range(count):
        size = int.from_bytes(data[offset:offset + 4], "big")
        offset += 4
        if offset + size > len(data):
            raise ValueError("truncated string list")
        strings.append(data[offset:offset + size].decode("utf-8", "surrogateescape"))
        offset += size
    if offset > len(data):
        raise ValueError("truncated string list")
    return strings, offset


def read_exact(sock: _socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes, or None when the other end closed first."""
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: _socket.socket) -> tuple[bytes, bytes] | None:
    head = read_exact(sock, 5)
    if head is None:
        return None
    payload = read_exact(sock, int.from_bytes(head[1:], "big"))
    if payload is None:
        return None
    return head[:1], payload


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (struct ucred: pid, uid, gid)."""
    cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(cred[4:8], sys.byteorder)


# ---------------------------------------------------------------------------------------------- where

def socket_dir(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """The agent's directory, made if missing; None if it is not ours alone (then no agent is used)."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    uid = os.geteuid()
    base = os.path.join(runtime, "kf") if runtime and os.path.isabs(runtime) else f"/tmp/kf-{uid}"
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    # A directory (not a link), ours, and nobody else may enter it: another user could otherwise plant a socket.
    if (st.st_mode & 0o170000) != 0o040000 or st.st_uid != uid or st.st_mode & 0o077:
        return None
    return base


def fingerprint() -> str:
    """Names the agent for this interpreter, its path and kf's location (FNV-1a: no hashlib at start-up).
    sys.path[0] (the script's directory, or the cwd for `python -m kfshell`) is left out: else every directory
    `python -m kfshell` runs in would start an agent of its own."""
    text = "\0".join([sys.executable, os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *sys.path[1:]])
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"[:12]


def socket_path(environ: dict[str, str] | os._Environ[str]) -> str | None:
    base = socket_dir(environ)
    return None if base is None else os.path.join(base, f"agent-{fingerprint()}.sock")


# ---------------------------------------------------------------------------------------------- running

def _debug(why: str) -> None:
    if os.environ.get("KF_AGENT_DEBUG") == "1":
        os.write(2, f"kf: agent: {why}\n".encode())


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def is_script(argv: list[str]) -> bool:
    """No -c and no command word: the commands come from stdin (as kfshell.cli.parse_global decides)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1 >= len(argv)
        if not arg.startswith("-") or arg == "-":
            return False
        name = arg.partition("=")[0] if arg.startswith("--") else arg[:2]
        if name in ("-c", "-h", "--help", "--version"):
            return False  # commands given, or kf answers without reading stdin
        if name in _VALUE_FLAGS and "=" not in arg and not (not arg.startswith("--") and len(arg) > 2):
            i += 1  # its value is the next word
        i += 1
    return True


def _stream_info(stream: object) -> tuple[str, str]:
    return (getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict")


def run(argv: list[str]) -> tuple[int | None, bytes | None]:
    """Run `argv` (without the program name) through the agent: (exit status, None) when it answered;
    (None, stdin read or None) when it must run in this process."""
    completing = argv[:1] == ["__complete"]
    if completing and argv[1:2] == ["--refresh-cache"]:
        return None, None
    stdin_tty, stdout_tty, stderr_tty = _isatty(0), _isatty(1), _isatty(2)
    if not completing and stdin_tty and (stdout_tty or is_script(argv)):
        return None, None  # the kf> prompt, or a person at a terminal (pager, questions, spinner): here
    path = socket_path(os.environ)
    if path is None:
        _debug("the socket directory is not ours alone (owner or mode): not used")
        return None, None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except OSError as err:
            _debug(f"no agent ({err.strerror}): starting one")
            _PENDING.append(path)  # started once this command is done, so it does not slow this one down
            return None, None
        try:
            if peer_uid(sock) != os.geteuid():
                _debug("the socket's owner is another user: not used")
                return None, None
        except OSError:
            return None, None
        stdin = None
        if not completing and not stdin_tty and is_script(argv):
            stdin = _read_all(0)
        status = _exchange(sock, argv, stdin, (stdin_tty, stdout_tty, stderr_tty))
        return status, stdin
    finally:
        sock.close()


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _header(ttys: tuple[bool, bool, bool]) -> list[str]:
    umask = os.umask(0o077)
    os.umask(umask)
    try:
        columns, lines = os.get_terminal_size(1) if ttys[1] else (0, 0)
    except OSError:
        columns, lines = 0, 0
    out_enc, out_err = _stream_info(sys.stdout)
    err_enc, err_err = _stream_info(sys.stderr)
    in_enc, in_err = _stream_info(sys.stdin)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    fields = {"protocol": PROTOCOL, "cwd": cwd, "umask": str(umask), "stdin_tty": str(int(ttys[0])),
              "stdout_tty": str(int(ttys[1])), "stderr_tty": str(int(ttys[2])), "columns": str(columns),
              "lines": str(lines), "stdout_encoding": out_enc, "stdout_errors": out_err, "stderr_encoding": err_enc,
              "stderr_errors": err_err, "stdin_encoding": in_enc, "stdin_errors": in_err}
    return [item for pair in fields.items() for item in pair]


def _exchange(sock: _socket.socket, argv: list[str], stdin: bytes | None,
              ttys: tuple[bool, bool, bool]) -> int | None:
    env = [f"{key}={value}" for key, value in os.environ.items()]
    request = pack_strings(_header(ttys)) + pack_strings(argv) + pack_strings(env)
    out: list[tuple[bytes, bytes]] = []
    interrupted = False
    try:
        sock.sendall(frame(b"Q", request) + (frame(b"I", stdin) if stdin is not None else b"") + frame(b"E"))
    except OSError as err:
        _debug(f"request not sent ({err.strerror})")
        return None
    while True:
        try:
            got = read_frame(sock)
        except KeyboardInterrupt:
            if interrupted:  # a second Ctrl-C: stop waiting for the agent
                os.write(2, b"kf: interrupted\n")
                return 130
            interrupted = True
            try:
                sock.sendall(frame(b"C"))
            except OSError:
                pass
            continue
        except OSError as err:
            _debug(f"connection lost ({err.strerror})")
            return None
        if got is None or (interrupted and got[0] == b"L"):
            if interrupted:  # never run again here what the user has just stopped
                os.write(2, b"kf: interrupted\n")
                return 130
            _debug("the agent went away before the command ended")
            return None
        kind, payload = got
        if kind in (b"1", b"2"):
            out.append((kind, payload))
        elif kind == b"X":
            return _write_out(out, int.from_bytes(payload[:4], "big", signed=True))
        elif kind == b"L":
            _debug(f"runs here: {payload.decode('utf-8', 'replace')}")
            return None
        else:
            _debug(f"protocol error (frame {kind!r})")
            return None


def _write_out(out: list[tuple[bytes, bytes]], status: int) -> int:
    for kind, data in out:
        fd = 1 if kind == b"1" else 2
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:
            if fd == 1:  # as kfshell.cli.run: the reader went away, not worth a traceback
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                return 1
        except OSError:
            pass
    return status


_PENDING: list[str] = []


def start_pending() -> None:
    """Start the agent `run` found missing (call it when the command has run here)."""
    while _PENDING:
        start_agent(_PENDING.pop())


def start_agent(path: str) -> None:
    """Start the agent for `path` detached (its own session, no terminal), with this interpreter, its flags
    and this process's sys.path; it outlives this `kf`. Never raises."""
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        try:
            os.waitpid(pid, 0)  # the middle process exits at once; the agent is reparented
        except OSError:
            pass
        return
    try:  # the child: never returns into kf
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        code = ("import sys; i = sys.argv.index('--'); sys.path[:] = sys.argv[i + 1:]; "
                "from kfshell.agent.server import main; main(sys.argv[1])")
        flags = ["-S"] if sys.flags.no_site else []
        os.execv(sys.executable, [sys.executable, *flags, "-c", code, path, "--", *sys.path])
    except BaseException:  # noqa: BLE001 - the child must end here whatever happens
        pass
    os._exit(1)
