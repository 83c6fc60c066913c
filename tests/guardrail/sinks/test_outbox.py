from __future__ import annotations

import threading
from pathlib import Path

import pytest

from guardrail.sinks.outbox import Outbox, OutboxError, PublisherLock


def test_fifo_until_acknowledged_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for i in range(5):
        assert box.put(f"e{i}", f"t/{i}", f"payload {i}".encode())
    first = box.peek(3)
    assert [p.event_id for p in first] == ["e0", "e1", "e2"] and first[1].topic == "t/1"
    assert box.peek(3) == first  # peeking does not remove
    box.ack([first[0], first[2]])
    assert [p.event_id for p in box.peek(10)] == ["e1", "e3", "e4"]
    stats = box.stats()
    assert (stats.pending, stats.delivered, stats.dropped) == (3, 2, 0)
    assert stats.bytes == 3 * len(b"payload 0")
    box.close()
    again = Outbox(path)  # a new process would see the same
    assert [p.event_id for p in again.peek(10)] == ["e1", "e3", "e4"] and again.stats().delivered == 2
    assert not again.empty()
    again.ack(again.peek(10))
    assert again.empty()
    again.close()


def test_drop_oldest_keeps_the_newest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=100)
    for i in range(250):
        assert box.put(f"e{i}", "t", b"x")
    stats = box.stats()
    assert stats.pending <= 100 and stats.dropped == 250 - stats.pending
    ids = [p.event_id for p in box.peek(1000)]
    assert ids[-1] == "e249" and ids == [f"e{i}" for i in range(250 - len(ids), 250)]
    box.close()
    assert Outbox(tmp_path / "o.db").stats().dropped == stats.dropped  # the counter survives restarts


def test_drop_newest_keeps_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=10, when_full="drop_newest")
    results = [box.put(f"e{i}", "t", b"x") for i in range(15)]
    assert results == [True] * 10 + [False] * 5
    assert [p.event_id for p in box.peek(100)] == [f"e{i}" for i in range(10)]
    assert box.stats().dropped == 5
    box.ack(box.peek(2))
    assert box.put("late", "t", b"x")


def test_byte_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1000)
    for i in range(20):
        box.put(f"e{i}", "t", b"y" * 100)
    assert box.stats().bytes <= 1000
    assert box.peek(100)[-1].event_id == "e19"
    assert not box.put("huge", "t", b"z" * 2000)  # bigger than the whole bound: dropped
    assert box.peek(100)[-1].event_id == "e19"


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "o.db", max_events=0)
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "o.db", when_full="drop_random")  # type: ignore[arg-type]
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(OutboxError, match="cannot open"):
        Outbox(tmp_path / "dir.db")


def test_concurrent_puts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def work(k: int) -> None:
        for i in range(250):
            box.put(f"{k}-{i}", "t", b"p")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [p.event_id for p in box.peek(10_000)]
    assert len(ids) == len(set(ids)) == 1000


def test_one_publisher_per_outbox(tmp_path: Path) -> None:
    a, b = PublisherLock(tmp_path / "o.db"), PublisherLock(tmp_path / "o.db")
    assert a.acquire() and a.held
    assert not b.acquire() and not b.held
    a.release()
    assert b.acquire()
    b.release()


def test_shared_file_counts_refresh(tmp_path: Path) -> None:
    """Two writers on one file (two worker processes): the bound sees both after a refresh."""
    a = Outbox(tmp_path / "o.db", max_events=8)
    b = Outbox(tmp_path / "o.db", max_events=8)
    for i in range(5):
        a.put(f"a{i}", "t", b"x")
        b.put(f"b{i}", "t", b"x")
    assert b.stats().pending == 10
    b.refresh()
    b._refreshed_at = 0.0  # as if the last exact count were old
    b.put("b-new", "t", b"x")  # over the bound: the oldest go
    ids = [p.event_id for p in b.peek(100)]
    assert len(ids) <= 8 and ids[-1] == "b-new" and "a0" not in ids
