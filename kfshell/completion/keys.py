"""TAB at the kf> prompt, as pgcli and fish have it.

prompt_toolkit's own TAB, with the menu open, selects the first item and writes it into the line, so what
one types next is appended to that item (`status healthinfo`), and a lone candidate takes a second TAB.
Here:
- TAB with one candidate completes it at once;
- TAB with several inserts the part they all share, if any, else opens the menu or moves through it;
- while an item of the menu is selected, typing a character other than a space goes back to what was typed
  and filters the menu with it (the selection was only a preview); a space accepts the selection.
"""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix
from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys


def tab_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @Condition
    def previewing() -> bool:
        from prompt_toolkit.application import get_app

        state = get_app().current_buffer.complete_state
        return state is not None and state.complete_index is not None

    @bindings.add("tab")
    def _tab(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.complete_index is not None:
            buffer.complete_next()  # moving through the menu
            return
        if buffer.completer is None:
            return
        # The completer only reads memory (the snapshot), so asking it here does not block the prompt.
        completions = list(buffer.completer.get_completions(buffer.document,
                                                            CompleteEvent(completion_requested=True)))
        if not completions:
            return
        if len(completions) == 1:
            buffer.apply_completion(completions[0])
            return
        common = get_common_complete_suffix(buffer.document, completions)
        if common:
            buffer.insert_text(common)  # the menu reopens, narrowed, as the text changed
            return
        if state is None or not state.completions:
            buffer.start_completion(select_first=False)
        else:
            buffer.complete_next()

    @bindings.add(Keys.Any, filter=previewing)
    def _type_while_previewing(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if not event.data.isprintable():
            return
        if event.data != " " and state is not None:
            buffer.document = state.original_document  # back to what was typed: the menu filters
        buffer.insert_text(event.data * event.arg)

    return bindings
