"""A durable, bounded outbox: a SQLite (WAL) queue between the guard and a message broker.

``put`` runs on the reply path: one committed INSERT, no fsync (``synchronous=NORMAL``), so an
event is in the file before ``emit`` returns and survives a crash or kill of the process; after
a power cut the last moments may be lost (pass ``synchronous="FULL"`` to fsync every event, at a
cost of milliseconds). ``peek``/``ack`` run on the publisher: rows stay until the broker has
acknowledged them, so delivery is at-least-once (consumers dedupe on ``event_id``).

Bounded: at most ``max_events`` events and ``max_bytes`` of payload. When full:

- ``drop_oldest`` (default): the oldest pending events are deleted to make room — a live
  dashboard or alert wants what is happening now, and every flagged turn is still in the logs
  and the review store;
- ``drop_newest``: the new event is not queued.

Either way the ``dropped`` counter (kept in the file, so it survives restarts) goes up and a
warning is logged. Several processes may share one outbox file; only one of them publishes at a
time (see :class:`PublisherLock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

WhenFull = Literal["drop_oldest", "drop_newest"]
_log = structlog.get_logger("guardrail.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_meta (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    dropped   INTEGER NOT NULL,
    delivered INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_meta VALUES (0, 0, 0);
"""


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written."""


@dataclass(frozen=True)
class Pending:
    seq: int
    event_id: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    bytes: int
    dropped: int
    delivered: int


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA journal_size_limit=8388608")
    return conn


class Outbox:
    """Durable FIFO of (event_id, topic, payload) with a size bound. Thread-safe."""

    def __init__(self, path: str | Path, *, max_events: int = 100_000, max_bytes: int = 256 * 1024 * 1024,
                 when_full: WhenFull = "drop_oldest", synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if max_events < 1 or max_bytes < 1:
            raise OutboxError("outbox bounds must be positive")
        if when_full not in ("drop_oldest", "drop_newest"):
            raise OutboxError(f"when_full must be drop_oldest or drop_newest, not {when_full!r}")
        if synchronous not in ("NORMAL", "FULL"):
            raise OutboxError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.when_full: WhenFull = when_full
        self._lock = threading.Lock()  # the write connection (put, ack)
        self._read_lock = threading.Lock()  # the read connection (peek, stats, checkpoint)
        self._warned_at = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(self.path, synchronous)
            fresh = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'outbox'").fetchone()[0] == 0
            if fresh:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.executescript(_SCHEMA)
            self._events, self._bytes = 0, 0
            self._put_events, self._put_bytes = 0, 0  # ever put by this instance (for ``refresh``)
            self._refreshed_at = 0.0
            # no checkpoints on the reply path: the publisher runs them (``checkpoint``)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            reader = _connect(self.path, synchronous)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open the MQTT outbox {self.path}: {exc}") from exc
        self._conn = conn
        self._reader = reader
        self._refresh()

    # --- reply path --------------------------------------------------------------------------
    def put(self, event_id: str, topic: str, payload: bytes) -> bool:
        """Queue one event durably (one INSERT, committed); False when the bound dropped it."""
        size = len(payload)
        dropped = 0
        with self._lock:
            if self._events >= self.max_events or self._bytes + size > self.max_bytes:
                dropped = self._make_room(size)
                if dropped < 0:  # drop_newest, or an event bigger than the whole bound
                    self._count_dropped(1)
                    queued = False
                else:
                    queued = True
            else:
                queued = True
            if queued:
                self._conn.execute("INSERT INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                                   (event_id, topic, payload, time.time()))
                self._events += 1
                self._bytes += size
                self._put_events += 1
                self._put_bytes += size
        if dropped or not queued:
            self._warn_full(max(dropped, 1))
        return queued

    def _refresh(self) -> None:
        """Exact counts (other processes may share the file); caller holds ``_lock``."""
        events, used = self._conn.execute("SELECT count(*), total(length(payload)) FROM outbox").fetchone()
        self._events, self._bytes = int(events), int(used)
        self._refreshed_at = time.monotonic()

    def _make_room(self, size: int) -> int:
        """Apply the when-full policy for an event of ``size`` bytes: rows deleted, or -1 to drop the new one."""
        if time.monotonic() - self._refreshed_at > 1.0:  # counting is O(n): at most once a second when full
            self._refresh()
        if self._events < self.max_events and self._bytes + size <= self.max_bytes:
            return 0
        if self.when_full == "drop_newest" or size > self.max_bytes:
            return -1
        # drop_oldest: free 1% headroom at once so the next puts are plain inserts again
        need_events = self._events - self.max_events + max(1, self.max_events // 100)
        need_bytes = self._bytes + size - self.max_bytes
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted, freed = 0, 0
            while deleted < need_events or freed < need_bytes:
                rows = conn.execute("SELECT seq, length(payload) FROM outbox ORDER BY seq LIMIT 500").fetchall()
                if not rows:
                    break
                take = []
                for seq, length in rows:
                    if deleted >= need_events and freed >= need_bytes:
                        break
                    take.append(seq)
                    deleted += 1
                    freed += length
                conn.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(take))})", take)
            conn.execute("UPDATE outbox_meta SET dropped = dropped + ? WHERE id = 0", (deleted,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._events -= deleted
        self._bytes -= freed
        return deleted

    def _count_dropped(self, n: int) -> None:
        self._conn.execute("UPDATE outbox_meta SET dropped = dropped + ? WHERE id = 0", (n,))

    def _warn_full(self, dropped: int) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 10.0:
            self._warned_at = now
            _log.warning("guardrail.outbox_full", path=str(self.path), policy=self.when_full,
                         dropped_now=dropped, max_events=self.max_events, max_bytes=self.max_bytes,
                         dropped_total=self.stats().dropped)

    # --- publisher side ----------------------------------------------------------------------
    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest pending events (they stay queued until ``ack``)."""
        with self._read_lock:
            rows = self._reader.execute("SELECT seq, event_id, topic, payload FROM outbox ORDER BY seq LIMIT ?",
                                        (limit,)).fetchall()
        return [Pending(seq, event_id, topic, bytes(payload)) for seq, event_id, topic, payload in rows]

    def ack(self, done: list[Pending]) -> None:
        """The broker has these: delete them (one short transaction, contiguous ranges)."""
        if not done:
            return
        seqs = sorted(p.seq for p in done)
        ranges: list[tuple[int, int]] = []
        for seq in seqs:
            if ranges and seq == ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        freed = sum(len(p.payload) for p in done)
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = 0
                for low, high in ranges:
                    deleted += conn.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (low, high)).rowcount
                conn.execute("UPDATE outbox_meta SET delivered = delivered + ? WHERE id = 0", (deleted,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._events = max(0, self._events - deleted)
            self._bytes = max(0, self._bytes - (freed if deleted == len(done) else 0))

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file without blocking writers (PASSIVE)."""
        with self._read_lock, contextlib.suppress(sqlite3.Error):
            self._reader.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def compact(self) -> None:
        """Give free pages back to the file system (after a backlog has drained)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA incremental_vacuum")
        self.checkpoint()

    def refresh(self) -> None:
        """Re-count what is queued (other processes may share the file); the publisher does it periodically.

        Counts on the read connection, so ``put`` is not held up while a large backlog is counted;
        what was put meanwhile is added back, so the bound stays close (it is approximate).
        """
        with self._lock:
            put_events, put_bytes = self._put_events, self._put_bytes
        with self._read_lock:
            events, used = self._reader.execute("SELECT count(*), total(length(payload)) FROM outbox").fetchone()
        with self._lock:
            self._events = int(events) + self._put_events - put_events
            self._bytes = int(used) + self._put_bytes - put_bytes
            self._refreshed_at = time.monotonic()

    def empty(self) -> bool:
        with self._read_lock:
            return self._reader.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None

    def stats(self) -> OutboxStats:
        """Exact numbers (counts the queue: use ``empty()`` to poll)."""
        with self._read_lock:
            events, used = self._reader.execute("SELECT count(*), total(length(payload)) FROM outbox").fetchone()
            dropped, delivered = self._reader.execute(
                "SELECT dropped, delivered FROM outbox_meta WHERE id = 0").fetchone()
        return OutboxStats(pending=int(events), bytes=int(used), dropped=int(dropped), delivered=int(delivered))

    def __len__(self) -> int:
        return self.stats().pending

    def close(self) -> None:
        self.checkpoint()
        with self._lock:
            self._conn.close()
        with self._read_lock:
            self._reader.close()


class PublisherLock:
    """An exclusive, non-blocking file lock: one publisher per outbox across processes.

    Processes that share an outbox all enqueue; the one holding the lock drains it. When that
    process exits (or crashes: the OS releases the lock), another one takes over.
    """

    def __init__(self, outbox_path: str | Path) -> None:
        self.path = Path(str(outbox_path) + ".lock")
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def acquire(self) -> bool:
        with self._mutex:
            if self._fd is not None:
                return True
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
