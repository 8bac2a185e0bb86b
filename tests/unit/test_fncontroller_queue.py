"""The function controller's work queue: each Function once in the queue, never on two workers at once."""

from __future__ import annotations

import threading

from kfshell.fncontroller.controller import WorkQueue

A, B = ("ns", "a"), ("ns", "b")


def test_a_key_added_twice_is_handled_once() -> None:
    queue = WorkQueue()
    queue.add(A)
    queue.add(B)
    queue.add(A)
    assert len(queue) == 2
    assert [queue.get(), queue.get()] == [A, B]


def test_a_key_added_while_busy_comes_back_after_done_not_before() -> None:
    queue = WorkQueue()
    queue.add(A)
    assert queue.get() == A
    queue.add(A)  # changed while a worker handles it
    assert len(queue) == 0  # a second worker must not take it now
    queue.done(A)
    assert queue.get() == A


def test_a_delayed_key_is_handled_once_due() -> None:
    queue = WorkQueue()
    queue.add_after(A, 0)
    assert queue.get() == A
    queue.done(A)


def test_close_wakes_a_waiting_worker() -> None:
    queue = WorkQueue()
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    queue.close()
    worker.join(10)
    assert got == [None]

