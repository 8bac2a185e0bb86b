"""`kf`: global flags, then one of four modes.

  kf                      the kf> prompt (stdin is a terminal)
  kf -c "use alice; status list"
  kf status list          one command from argv
  kf < script.kf          a script: one command per line, `#` comments, stops at the first failure

Exit statuses: 0 ok, 1 failed, 2 usage, 3 unreachable or credentials refused, 130 interrupted. Startup is
kept light: kubernetes, yaml, requests and prompt_toolkit are imported only by the code that needs them.
"""

from __future__ import annotations

import os
import sys

from kfshell import __version__

TYPE_CHECKING = False  # typing itself is not imported: this module is on every start's path (the agent's too)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from kfshell.env import Environment

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "name")
DISPATCH_MODES = ("auto", "local", "kubeless")  # kfshell.dispatch.where.MODES, without importing it

USAGE = "usage: kf [options] [COMMAND [ARGS...]]   (kf -c 'CMD; CMD', kf < script, or kf for the prompt)"

HELP = f"""{USAGE}

kf is the data scientist's shell for Kubeflow. Without a command it opens the kf> prompt.

Options:
  --context CTX          kubeconfig context, this invocation only
  -n, --namespace NS     namespace (project), this invocation only
  --kubeconfig FILE      kubeconfig file (default: $KUBECONFIG, several files merged, else ~/.kube/config)
  -o, --output FORMAT    table, wide, json, yaml or name
  --dispatch MODE        where function commands run: auto (the cluster's Function when one is deployed
                         and ready, else here), local, or kubeless
  -c COMMANDS            run these commands (separated by ';') and exit
  --keep-going           in -c and scripts, do not stop at the first failure
  -y, --yes              confirm destructive commands without asking (scripts)
  --no-color             no colour (also: NO_COLOR=1)
  -v, --verbose          show tracebacks with errors
  --version              print kf's version
  -h, --help             this help; `kf help` lists the commands

Exit status: 0 ok, 1 failed, 2 usage, 3 cluster unreachable or credentials refused, 130 interrupted."""


class GlobalOptions:
    """What the global flags asked for; frozen. A plain class: dataclasses costs ~10 ms to import, on the path
    of every `kf` start."""

    _DEFAULTS: dict[str, object] = {
        "kubeconfig": None, "context": None, "namespace": None, "output": "table", "dispatch": "auto",
        "commands": None,  # -c
        "keep_going": False, "assume_yes": False, "no_color": False, "verbose": False, "version": False,
        "help": False, "words": (),
    }
    kubeconfig: str | None
    context: str | None
    namespace: str | None
    output: str
    dispatch: str
    commands: str | None
    keep_going: bool
    assume_yes: bool
    no_color: bool
    verbose: bool
    version: bool
    help: bool
    words: tuple[str, ...]

    def __init__(self, **values: object) -> None:
        unknown = set(values) - set(self._DEFAULTS)
        if unknown:
            raise TypeError(f"GlobalOptions has no {', '.join(sorted(unknown))}")
        for name, default in self._DEFAULTS.items():
            object.__setattr__(self, name, values.get(name, default))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"GlobalOptions is frozen: cannot set {name}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._DEFAULTS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalOptions) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "GlobalOptions(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self._DEFAULTS) + ")"


_VALUE_FLAGS = {
    "--context": "context",
    "-n": "namespace",
    "--namespace": "namespace",
    "--kubeconfig": "kubeconfig",
    "-o": "output",
    "--output": "output",
    "-c": "commands",
    "--dispatch": "dispatch",
}
_BOOL_FLAGS = {
    "--keep-going": "keep_going",
    "-y": "assume_yes",
    "--yes": "assume_yes",
    "--no-color": "no_color",
    "--no-colour": "no_color",
    "-v": "verbose",
    "--verbose": "verbose",
    "--version": "version",
    "-h": "help",
    "--help": "help",
}


def parse_global(argv: Sequence[str]) -> GlobalOptions:
    """Global flags up to the first word that is not one (the command); UsageError for a bad flag."""
    from kfshell.errors import UsageError

    values: dict[str, object] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        i += 1
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name.startswith("-") and not name.startswith("--") and len(name) > 2:
            name, eq, inline = name[:2], "=", name[2:].removeprefix("=")  # -nalice, -ojson
        if name in _BOOL_FLAGS and not eq:
            values[_BOOL_FLAGS[name]] = True
        elif name in _VALUE_FLAGS:
            if eq:
                value = inline
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f"{name} needs a value", usage=USAGE)
            values[_VALUE_FLAGS[name]] = value
        else:
            from kfshell.registry import did_you_mean

            raise UsageError(f"unknown option {name}", usage=USAGE,
                             hint=did_you_mean(name, [*_VALUE_FLAGS, *_BOOL_FLAGS]) or "kf --help lists them")
    options = GlobalOptions(**values, words=tuple(args[i:]))  # type: ignore[arg-type]
    if options.output not in OUTPUT_FORMATS:
        from kfshell.registry import did_you_mean

        raise UsageError(f"-o cannot be '{options.output}'", usage=USAGE,
                         hint=did_you_mean(options.output, OUTPUT_FORMATS) or "use " + "|".join(OUTPUT_FORMATS))
    if options.dispatch not in DISPATCH_MODES:
        from kfshell.registry import did_you_mean

        raise UsageError(f"--dispatch cannot be '{options.dispatch}'", usage=USAGE,
                         hint=did_you_mean(options.dispatch, DISPATCH_MODES) or "use " + "|".join(DISPATCH_MODES))
    if options.namespace is not None:
        from kfshell.names import check_name

        check_name(options.namespace, "namespace")  # as `use` checks it: exit 2, not a later "may not"
    if options.commands is not None and options.words:
        raise UsageError("give commands with -c or as arguments, not both", usage=USAGE)
    return options


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run kf with `argv` (without the program name); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["__complete"]:  # the shells' TAB completion (completions/): never prints errors
        from kfshell import complete_cmd

        return complete_cmd.main(argv[1:])
    from dataclasses import replace

    from kfshell.env import Environment
    from kfshell.errors import ExitStatus, KfError, show

    env = env or Environment.from_process()
    verbose = "-v" in argv or "--verbose" in argv
    try:
        options = parse_global(argv)
        verbose = options.verbose
        if options.no_color:
            env = replace(env, no_color=True)
        if options.help:
            env.stdout.write(HELP + "\n")
            return ExitStatus.OK
        if options.version:
            env.stdout.write(f"kf {__version__}\n")
            return ExitStatus.OK
        return _run(options, env)
    except KfError as err:
        return int(show(err, env, verbose))
    except KeyboardInterrupt:
        env.stderr.write("kf: interrupted\n")
        return ExitStatus.INTERRUPTED


def _run(options: GlobalOptions, env: Environment) -> int:
    from kfshell.catalog import Catalog
    from kfshell.commands.exit import LeaveShell
    from kfshell.registry import Registry
    from kfshell.runner import Runner
    from kfshell.session import Session, SessionOptions

    session = Session(env, SessionOptions(
        kubeconfig=options.kubeconfig, context=options.context, namespace=options.namespace,
        output=options.output, verbose=options.verbose, assume_yes=options.assume_yes, dispatch=options.dispatch))
    first_prompt = None
    if options.commands is None and not options.words and env.stdin_isatty:
        from kfshell.first_prompt import FirstPrompt

        first_prompt = FirstPrompt(session)  # the prompt on screen now; prompt_toolkit takes over later
        first_prompt.draw()

    def load_local() -> Registry:
        return Registry.load(user_dir=env.config_dir / "commands", cache_file=env.cache_dir / "specs.json")

    catalog = Catalog(session, load_local)
    registry = catalog.local
    session.registry = registry
    session.catalog = catalog
    if first_prompt is not None and registry.problems:
        first_prompt.erase()
    for problem in registry.problems:
        env.stderr.write(f"kf: warning: command file skipped: {problem}\n")
    runner = Runner(session, registry)
    try:
        if options.commands is not None:
            return runner.run_line(options.commands, keep_going=options.keep_going)
        if options.words:
            return runner.run_words(list(options.words))
        if env.stdin_isatty:
            from kfshell.repl import run_repl

            return run_repl(session, registry, runner, first_prompt=first_prompt)
        return runner.run_script(env.stdin, keep_going=options.keep_going)
    except LeaveShell as leave:
        return leave.status
    finally:
        if first_prompt is not None:
            first_prompt.erase()  # a start that failed before prompt_toolkit took over


def run() -> None:
    """The console script: `kf` and `kubectl-kf`. The user's warm agent runs the invocation when it can
    (kfshell.agent; KF_AGENT=0 turns it off), else this process does: the same code, the same result."""
    client = None
    if os.environ.get("KF_AGENT") != "0":
        from kfshell.agent import client

        status, stdin = client.run(sys.argv[1:])
        if status is not None:
            sys.exit(status)
        if stdin is not None:  # a script already read from stdin for the agent: read it from memory here
            import io

            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding=getattr(sys.stdin, "encoding", None) or "utf-8",
                                         errors=getattr(sys.stdin, "errors", None) or "strict")
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`kf status list | head -1`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 1  # ExitStatus.FAILED
    if client is not None:
        client.start_pending()  # the agent the next kf will find, started after this one's work
    if sys.argv[1:2] == ["__complete"]:
        # TAB's answer is out and the shell waits for the process to end: finalizing the interpreter (its
        # modules, the refresher's daemon threads) would add 10-30 ms, and completion leaves nothing to close.
        os._exit(int(status))
    sys.exit(int(status))
