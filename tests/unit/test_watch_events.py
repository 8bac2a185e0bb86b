"""A watch response's body: one JSON event per line, whatever the chunks, until the reader stops."""

from __future__ import annotations

from kfshell.rest import watch_events


def test_events_split_across_chunks_and_blank_lines():
    chunks = [b'{"type": "ADD', b'ED", "n": 1}\n\n{"type": "MOD', b'IFIED", "n": 2}\n', b'{"type": "DEL']
    events = list(watch_events(chunks, lambda: False))
    assert events == [{"type": "ADDED", "n": 1}, {"type": "MODIFIED", "n": 2}]  # a cut-off last line is no event


def test_a_stopped_reader_reads_no_further():
    stop = []
    chunks = iter([b'{"n": 1}\n', b'{"n": 2}\n'])
    events = watch_events(chunks, lambda: bool(stop))
    assert next(events) == {"n": 1}
    stop.append(True)
    assert list(events) == []
