from __future__ import annotations

import threading

from guardrail.sinks.worker import BackgroundWorker


def test_everything_submitted_is_handled_in_order_off_the_calling_thread() -> None:
    seen: list[int] = []
    threads: set[str] = set()

    def handle(batch: list[int]) -> None:
        threads.add(threading.current_thread().name)
        seen.extend(batch)

    worker = BackgroundWorker("test-worker", handle, batch_size=7)
    for i in range(1000):
        assert worker.submit(i)
    assert worker.flush(5)
    assert seen == list(range(1000))
    assert threads == {"test-worker"}
    assert worker.pending == 0
    worker.close()


def test_full_queue_refuses_and_counts_without_blocking() -> None:
    gate = threading.Event()
    handled: list[int] = []

    def handle(batch: list[int]) -> None:
        gate.wait(5)
        handled.extend(batch)

    worker = BackgroundWorker("test-full", handle, max_pending=3, batch_size=1)
    worker.submit(0)  # taken by the thread, which then waits on the gate
    while worker._pending:
        pass
    results = [worker.submit(i) for i in range(1, 6)]
    assert results == [True, True, True, False, False]
    assert worker.dropped == 2
    gate.set()
    assert worker.flush(5)
    assert handled == [0, 1, 2, 3]
    worker.close()


def test_a_failing_batch_is_reported_and_later_items_still_handled() -> None:
    errors: list[tuple[str, int]] = []
    handled: list[int] = []

    def handle(batch: list[int]) -> None:
        if 3 in batch:
            raise ValueError("disk full")
        handled.extend(batch)

    worker = BackgroundWorker("test-errors", handle, batch_size=1,
                              on_error=lambda exc, lost: errors.append((str(exc), lost)))
    for i in range(6):
        worker.submit(i)
    assert worker.flush(5)
    assert handled == [0, 1, 2, 4, 5]
    assert errors == [("disk full", 1)]
    worker.close()


def test_close_handles_what_is_queued_then_refuses_new_items() -> None:
    handled: list[int] = []
    worker = BackgroundWorker("test-close", handled.extend)
    for i in range(50):
        worker.submit(i)
    worker.close(5)
    assert handled == list(range(50))
    assert worker.submit(99) is False
    assert worker.dropped == 0  # refused because closed, not because full
    assert worker._thread is not None and not worker._thread.is_alive()


def test_many_producers_lose_nothing() -> None:
    handled: list[tuple[int, int]] = []
    worker = BackgroundWorker("test-producers", handled.extend, max_pending=100_000, batch_size=64)

    def produce(n: int) -> None:
        for i in range(2000):
            worker.submit((n, i))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worker.flush(10)
    assert len(handled) == 8000 and len(set(handled)) == 8000
    for n in range(4):  # each producer's items stay in its order
        assert [i for m, i in handled if m == n] == list(range(2000))
    worker.close()
