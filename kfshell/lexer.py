"""Syntax highlighting for the kf> prompt: command words, flags, strings, numbers and names.

A pygments lexer built for the commands of the running session, so a known command is highlighted as a
keyword while it is typed and a misspelt one is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pygments.lexer import RegexLexer, bygroups, default
from pygments.token import Comment, Keyword, Name, Number, Punctuation, String, Text, Whitespace

_END = r"(?=[\s;]|$)"


def _alternatives(words: Iterable[str]) -> str:
    names = sorted(set(words), key=len, reverse=True)
    return "|".join(re.escape(n) for n in names) or r"(?!)"


def make_lexer(command_names: Iterable[str], subcommand_names: Iterable[str] = ()) -> type[RegexLexer]:
    """A RegexLexer class that knows these command and subcommand names (prompt_toolkit's
    PygmentsLexer takes the class)."""
    known = _alternatives(command_names)
    subcommands = _alternatives(subcommand_names)
    arguments = [
        (r"\s+", Whitespace),
        (r";", Punctuation, "#pop"),
        (r"#.*$", Comment.Single),
        (r"(--?[A-Za-z][\w-]*)(=)", bygroups(Name.Attribute, Punctuation)),
        (r"--?[A-Za-z][\w-]*" + _END, Name.Attribute),
        (r"--" + _END, Punctuation),
        (r"'[^']*'?", String.Single),
        (r'"(\\\\.|[^"\\\\])*"?', String.Double),
        (r"-?\d+(\.\d+)?" + _END, Number),
        (r"[^\s;'\"]+", Name.Variable),
    ]

    class KfLexer(RegexLexer):
        name = "kf"
        aliases = ["kf"]
        tokens = {
            "root": [
                (r"\s+", Whitespace),
                (r";", Punctuation),
                (r"#.*$", Comment.Single),
                (rf"({known}){_END}", Keyword, "subcommand"),
                (r"[^\s;]+", Text, "arguments"),
            ],
            "subcommand": [
                (r"[ \t]+", Whitespace),
                (rf"({subcommands}){_END}", Name.Function, ("#pop", "arguments")),
                default(("#pop", "arguments")),
            ],
            "arguments": arguments,
        }

    return KfLexer
