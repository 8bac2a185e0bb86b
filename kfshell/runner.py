"""Running command lines: the same path for the prompt, `-c`, argv and scripts on stdin.

Each command is resolved and parsed when its turn comes, where the session is by then (after a `use`
earlier on the line, in the namespace and context that `use` chose), so `use other; cmd-only-in-other`
works. Before anything runs, the commands up to the first `use` are checked too, so a typo there runs
nothing. Each command's result is printed, its warnings go to stderr, a session switch it asks for is
applied, and a failure is shown as one line; the caller gets the exit status. Scripts stop at the first
failure, naming its line, unless asked to keep going.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kfshell.commands.exit import LeaveShell
from kfshell.errors import ExitStatus, Interrupted, KfError, show

if TYPE_CHECKING:
    from kfshell.registry import Invocation, Registry
    from kfshell.result import Result
    from kfshell.session import Session


class Runner:
    def __init__(self, session: Session, registry: Registry) -> None:
        self.session = session
        self.registry = registry
        self._user_commands = self._user_commands_stamp()

    def _user_commands_stamp(self) -> int | None:
        env = getattr(self.session, "env", None)
        try:
            return (env.config_dir / "commands").stat().st_mtime_ns if env is not None else None
        except OSError:
            return None

    def notice_user_commands(self) -> None:
        """Reload the local commands when the user's command directory changed since they were read
        (`command add` in another terminal): one stat per line run."""
        catalog = getattr(self.session, "catalog", None)
        stamp = self._user_commands_stamp()
        if catalog is None or stamp == self._user_commands:
            return
        self._user_commands = stamp
        catalog.reload()
        refresher = getattr(self.session, "refresher", None)
        if refresher is not None:
            refresher.refresh()  # completion offers the new command names too

    def run_line(self, line: str, *, keep_going: bool = False, where: str | None = None) -> int:
        """Run every command on `line`; the first failure's status (stops there unless keep_going).

        `where` ("line 3") prefixes error lines, for scripts. LeaveShell (from `exit`) passes through.
        """
        from kfshell.parsing import split_commands

        self.notice_user_commands()
        try:
            commands = split_commands(line)
            for words in commands:  # checked ahead, where nothing can move the session yet
                if words[0] == "use":
                    break
                self.parse(words)
        except KfError as err:
            return self._fail(err, where)
        return first_failure((self._parse_and_run(words, where) for words in commands), keep_going)

    def parse(self, words: list[str]) -> Invocation:
        """`words` parsed against the commands of the place the session is in now."""
        from kfshell.parsing import parse

        return parse(self.registry_for(words), words, " ".join(words))

    def _parse_and_run(self, words: list[str], where: str | None) -> int:
        try:
            invocation = self.parse(words)
        except KfError as err:
            return self._fail(err, where)
        return self.run_one(invocation, where=where)

    def run_words(self, words: list[str]) -> int:
        """Run one command already split into words (argv mode: the user's shell did the quoting)."""
        self.notice_user_commands()
        return self._parse_and_run(words, None)

    def registry_for(self, words: list[str]) -> Registry:
        """The commands `words` are parsed against: with the cluster's Functions for the place the command
        will run in (its own -n/--context, else the session's), looked up only if it needs them."""
        catalog = getattr(self.session, "catalog", None)
        if catalog is None:
            return self.registry
        context, namespace = place_given(words)
        return catalog.registry_for(words, context, namespace)

    def run_invocations(self, invocations: Iterable[Invocation], *, keep_going: bool = False,
                        where: str | None = None) -> int:
        return first_failure((self.run_one(invocation, where=where) for invocation in invocations), keep_going)

    def run_one(self, invocation: Invocation, *, where: str | None = None) -> int:
        from kfshell import dispatch

        try:
            result = dispatch.run(invocation, self.session)
            self._print(invocation, result)
            return int(result.exit_status)
        except LeaveShell:
            raise
        except KfError as err:
            if not err.what:
                err.what = invocation.title
            return self._fail(err, where)
        except KeyboardInterrupt as interrupt:
            error = Interrupted(what=invocation.title)
            error.__cause__ = interrupt
            return self._fail(error, where)
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still end as one line and a status, not a crash
            return int(show(exc, self.session.env, self.session.verbose))

    def _print(self, invocation: Invocation, result: Result) -> None:
        from kfshell.output import emit

        env = self.session.env
        for warning in result.warnings:
            env.stderr.write(f"kf: warning: {warning}\n")
        env.stderr.flush()
        emit(result, invocation.output or self.session.output, env)
        if result.switch and not result.exit_status:
            self.session.use(namespace=result.switch.get("namespace"), context=result.switch.get("context"))

    def _fail(self, error: KfError, where: str | None) -> int:
        if where:
            error.what = f"{where}: {error.what}" if error.what else where
        return int(show(error, self.session.env, self.session.verbose))

    def run_script(self, lines: Iterable[str], *, keep_going: bool = False) -> int:
        """A script: one command line per input line, `#` comments; stops at the first failure."""
        statuses = (self.run_line(line, keep_going=keep_going, where=f"line {number}")
                    for number, line in enumerate(lines, 1)
                    if line.strip() and not line.lstrip().startswith("#"))
        return first_failure(statuses, keep_going)


_PLACE_FLAGS = {"-n": "namespace", "--namespace": "namespace", "--context": "context"}


def place_given(words: list[str]) -> tuple[str | None, str | None]:
    """(context, namespace) a command's own `--context`/`-n` name, before it is parsed (None: not given)."""
    given: dict[str, str] = {}
    i = 1
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            break
        flag, eq, value = word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
        if flag not in _PLACE_FLAGS:
            continue
        if eq or (flag == "-n" and value):
            given[_PLACE_FLAGS[flag]] = value
        elif i < len(words):
            given[_PLACE_FLAGS[flag]] = words[i]
            i += 1
    return given.get("context"), given.get("namespace")


def first_failure(statuses: Iterable[int], keep_going: bool) -> int:
    """Run lazily produced statuses in order: the first failure's status; stop there unless keep_going.
    An interrupt always stops, and wins."""
    failed = ExitStatus.OK
    for status in statuses:
        if status == ExitStatus.INTERRUPTED:
            return status
        if status and not failed:
            failed = status
            if not keep_going:
                break
    return failed
