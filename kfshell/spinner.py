"""A spinner on stderr while a command waits for the cluster (`notebook create`, `serve`, `--wait`).

Only on a terminal, only after a short delay (quick answers never flicker), and the line is wiped when the
wait ends, so what the command prints afterwards starts on a clean line. It draws from a daemon thread and
never touches stdout, so `-o json` stays clean.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ASCII_FRAMES = "|/-\\"
DELAY = 0.4  # seconds before the first frame
INTERVAL = 0.1


@contextmanager
def spinning(stream: TextIO, text: str, *, enabled: bool = True, delay: float = DELAY) -> Iterator[None]:
    """Show `text` with a turning wheel on `stream` until the block ends (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    encoding = (getattr(stream, "encoding", None) or "ascii").lower()
    frames = FRAMES if "utf" in encoding else ASCII_FRAMES
    drawn = threading.Event()

    def draw() -> None:
        if stop.wait(delay):
            return
        n = 0
        while not stop.is_set():
            try:
                stream.write(f"\r{frames[n % len(frames)]} {text}")
                stream.flush()
            except (OSError, ValueError):
                return
            drawn.set()
            n += 1
            stop.wait(INTERVAL)

    thread = threading.Thread(target=draw, name="kf-spinner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)
        if drawn.is_set():
            try:
                stream.write("\r\x1b[K")
                stream.flush()
            except (OSError, ValueError):
                pass
