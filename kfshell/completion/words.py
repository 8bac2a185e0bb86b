"""Splitting the text before the cursor into words, the way the shell will, including a half-typed quote.

`split_for_completion("logs 'my-po")` gives the finished words `["logs"]` and the word under the cursor:
its unquoted text `my-po`, where it starts in the line, and the quote still open (`'`). `quote_for_insert`
does the reverse for a candidate, so completing inside an open quote closes it and a name with spaces is
quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters that need quoting in a shell-like word.
_SPECIAL = set(" \t\n'\"\\;|&<>$`")
# Commands on one line are separated by these, so completion starts afresh after them.
_SEPARATORS = {";"}


@dataclass(frozen=True)
class CursorWord:
    """The word being typed: `text` unquoted, `start` its offset in the line (at its opening quote, if
    any), `quote` the quote character still open (or None)."""

    text: str
    start: int
    quote: str | None = None


@dataclass(frozen=True)
class SplitLine:
    words: tuple[str, ...]
    current: CursorWord
    comment: bool = False  # the cursor is inside a `#` comment: nothing to complete


def split_for_completion(line: str) -> SplitLine:
    """Split `line` (the text before the cursor) into finished words and the word under the cursor.

    Quotes (single and double) and backslash escapes are honoured; an unterminated quote belongs to the
    word under the cursor. Only the words after the last unquoted `;` count; an unquoted `#` starting a
    word begins a comment (as kfshell.parsing reads lines).
    """
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    word_start = 0
    quote: str | None = None
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quote is not None:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"' and i + 1 < n and line[i + 1] in '"\\$`':
                i += 1
                buf.append(line[i])
            else:
                buf.append(ch)
            i += 1
            continue
        if ch in " \t\n":
            if in_word:
                words.append("".join(buf))
                buf = []
                in_word = False
            i += 1
            continue
        if ch in _SEPARATORS:
            if in_word:
                words.append("".join(buf))
                buf = []
                in_word = False
            words = []
            i += 1
            continue
        if not in_word:
            if ch == "#":
                return SplitLine((), CursorWord("", n, None), comment=True)
            in_word = True
            word_start = i
        if ch in "'\"":
            quote = ch
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                buf.append(line[i])
            # A trailing backslash escapes what comes next; nothing to add yet.
        else:
            buf.append(ch)
        i += 1
    if in_word:
        # A word whose quotes are already closed ('abc') is still the word under the cursor.
        current = CursorWord("".join(buf), word_start, quote)
    else:
        current = CursorWord("", n, None)
    return SplitLine(tuple(words), current)


_NEEDS_QUOTING = re.compile("[" + re.escape("".join(sorted(_SPECIAL))) + "]")


def needs_quoting(text: str) -> bool:
    return text == "" or _NEEDS_QUOTING.search(text) is not None


def quote_for_insert(value: str, quote: str | None, *, final: bool = True) -> str:
    """The text that replaces the word under the cursor with `value`.

    Inside an open quote the same quote is kept and, for a final value (not a directory one keeps
    typing into), closed. Without a quote, a value with spaces or shell characters is single-quoted.
    """
    if quote == "'":
        if "'" in value:
            quote = None  # cannot be inside single quotes; fall through to escaping below
        else:
            return "'" + value + ("'" if final else "")
    if quote == '"':
        escaped = "".join("\\" + ch if ch in '"\\$`' else ch for ch in value)
        return '"' + escaped + ('"' if final else "")
    if not needs_quoting(value):
        return value
    if "'" not in value:
        return "'" + value + ("'" if final else "")
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in value)
