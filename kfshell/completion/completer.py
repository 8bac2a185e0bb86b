"""The prompt's completer: prompt_toolkit's side of `Suggester` (see suggest.py): menu entries that
replace the word under the cursor, quoted as needed, with their one-line descriptions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from kfshell.completion.analyze import analyze
from kfshell.completion.suggest import Suggester, Suggestion
from kfshell.completion.words import quote_for_insert, split_for_completion


class KfCompleter(Completer):
    """Completes a `kf>` line from the registry and the current snapshot.

    Takes the same arguments as `Suggester`; `refresher` is set by `make_completer` when the completer
    owns a background refresher (see docs/architecture.md).
    """

    def __init__(self, registry: Any, snapshot_source: Any, **options: Any) -> None:
        self.suggester = Suggester(registry, snapshot_source, **options)
        self.refresher: Any = None

    @property
    def registry(self) -> Any:
        return self.suggester.registry

    def remember(self, line: str) -> None:
        """Tell the completer a line was run, so the names in it rank first next time."""
        self.suggester.remember(line)

    def suggest_line(self, line: str) -> list[Suggestion]:
        return self.suggester.suggest_line(line)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        line = document.text_before_cursor
        split = split_for_completion(line)
        if split.comment:
            return
        wanted = analyze(self.registry, split.words, split.current.text)
        replace = len(line) - split.current.start
        for suggestion in self.suggester.rank(wanted):
            text = wanted.keep + quote_for_insert(suggestion.value, split.current.quote, final=suggestion.final)
            yield Completion(text, start_position=-replace, display=suggestion.value,
                             display_meta=suggestion.meta)
