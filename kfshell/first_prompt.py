"""The `kf>` prompt drawn before prompt_toolkit is loaded, so a person sees it at once.

Importing prompt_toolkit (and pygments) and building the prompt session costs ~150 ms here, more than the
rest of the start together. The prompt's text is known as soon as the session knows its context and
namespace, so it is written straight away in the prompt's own colours. Until prompt_toolkit takes over,
the terminal neither echoes nor acts on keys (no ECHO, ICANON, ISIG): what the person types, Ctrl-C and
Ctrl-D included, waits in the input queue and reaches prompt_toolkit as keys, as if it had been there all
along. `erase()` gives the terminal its own settings back and clears the line, so prompt_toolkit draws
the prompt in the same place; it runs before prompt_toolkit starts and whenever the start fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kfshell.session import Session

# As kfshell.repl.STYLE draws them: prompt.kf bold, prompt.context ansicyan, prompt.namespace ansigreen bold.
_BOLD, _CYAN, _GREEN_BOLD, _RESET = "\x1b[1m", "\x1b[36m", "\x1b[1;32m", "\x1b[0m"


def termios_error() -> type[Exception]:
    try:
        import termios
    except ImportError:
        return OSError
    return termios.error


class FirstPrompt:
    """The prompt written early, once; `erase()` takes it off the line again (idempotent)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.shown = False
        self._saved: list | None = None  # the terminal's settings while keys are held back

    def draw(self) -> None:
        env = self.session.env
        if not (env.stdin_isatty and env.stdout_isatty):
            return
        context, namespace = self.session.context or "(no context)", self.session.namespace
        if env.colors:
            text = f"{_BOLD}kf {_RESET}{_CYAN}{context}{_RESET}:{_GREEN_BOLD}{namespace}{_RESET}> "
        else:
            text = f"kf {context}:{namespace}> "
        self._hold_keys()
        try:
            env.stdout.write(text)
            env.stdout.flush()
        except OSError:
            self._release_keys()
            return
        self.shown = True

    def _hold_keys(self) -> None:
        try:
            import termios

            fd = self.session.env.stdin.fileno()
            saved = termios.tcgetattr(fd)
            held = list(saved)
            held[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
            termios.tcsetattr(fd, termios.TCSANOW, held)  # TCSANOW: nothing typed is dropped
        except (ImportError, OSError, ValueError, AttributeError, termios_error()):
            return
        self._saved = saved

    def _release_keys(self) -> None:
        saved, self._saved = self._saved, None
        if saved is None:
            return
        try:
            import termios

            termios.tcsetattr(self.session.env.stdin.fileno(), termios.TCSANOW, saved)
        except (OSError, ValueError, AttributeError, termios_error()):
            pass

    def erase(self) -> None:
        self._release_keys()
        if not self.shown:
            return
        self.shown = False
        try:
            self.session.env.stdout.write("\r\x1b[K")  # to the line's start, and clear it
            self.session.env.stdout.flush()
        except OSError:
            pass
