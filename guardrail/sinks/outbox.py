"""A durable, bounded outbox: a SQLite (WAL) queue between the guard and a message broker.

``put`` runs on the reply path: one small transaction, no fsync (``synchronous=NORMAL``), so an
event is on disk before ``emit`` returns and survives a crash or kill of the process; after a
power cut the last moments may be lost (pass ``synchronous="FULL"`` to fsync every event, at a
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
    events    INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    dropped   INTEGER NOT NULL,
    delivered INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_meta VALUES (0, 0, 0, 0, 0);
CREATE TRIGGER IF NOT EXISTS outbox_ins AFTER INSERT ON outbox BEGIN
    UPDATE outbox_meta SET events = events + 1, bytes = bytes + length(NEW.payload) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS outbox_del AFTER DELETE ON outbox BEGIN
    UPDATE outbox_meta SET events = events - 1, bytes = bytes - length(OLD.payload) WHERE id = 0;
END;
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
            # no checkpoints on the reply path: the publisher runs them (``checkpoint``)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            reader = _connect(self.path, synchronous)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open the MQTT outbox {self.path}: {exc}") from exc
        self._conn = conn
        self._reader = reader

    # --- reply path --------------------------------------------------------------------------
    def put(self, event_id: str, topic: str, payload: bytes) -> bool:
        """Queue one event durably; False when the bound made it drop this event."""
        size = len(payload)
        dropped = 0
        queued = True
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self.when_full == "drop_newest":
                    events, used = conn.execute("SELECT events, bytes FROM outbox_meta WHERE id = 0").fetchone()
                    if events >= self.max_events or used + size > self.max_bytes:
                        queued, dropped = False, 1
                if queued:
                    conn.execute("INSERT INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                                 (event_id, topic, payload, time.time()))
                    if self.when_full == "drop_oldest":
                        dropped, queued = self._trim(conn, event_id)
                if dropped:
                    conn.execute("UPDATE outbox_meta SET dropped = dropped + ? WHERE id = 0", (dropped,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if dropped:
            self._warn_full(dropped)
        return queued

    def _trim(self, conn: sqlite3.Connection, event_id: str) -> tuple[int, bool]:
        events, used = conn.execute("SELECT events, bytes FROM outbox_meta WHERE id = 0").fetchone()
        if events <= self.max_events and used <= self.max_bytes:
            return 0, True
        dropped = 0
        # oldest first, in small batches, until both bounds hold (the new event last of all)
        while events > self.max_events or used > self.max_bytes:
            excess = max(events - self.max_events, 1)
            rows = conn.execute("SELECT seq, length(payload) FROM outbox ORDER BY seq LIMIT ?",
                                (min(excess, 1000),)).fetchall()
            if not rows:
                break
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq, _ in rows])
            dropped += len(rows)
            events, used = conn.execute("SELECT events, bytes FROM outbox_meta WHERE id = 0").fetchone()
        still_there = conn.execute("SELECT 1 FROM outbox WHERE event_id = ? LIMIT 1", (event_id,)).fetchone()
        return dropped, still_there is not None

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

    def ack(self, seqs: list[int]) -> None:
        """The broker has these: delete them."""
        if not seqs:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.execute("SELECT events FROM outbox_meta WHERE id = 0").fetchone()[0]
                for start in range(0, len(seqs), 500):
                    chunk = seqs[start:start + 500]
                    conn.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
                after = conn.execute("SELECT events FROM outbox_meta WHERE id = 0").fetchone()[0]
                conn.execute("UPDATE outbox_meta SET delivered = delivered + ? WHERE id = 0", (before - after,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file without blocking writers (PASSIVE)."""
        with self._read_lock, contextlib.suppress(sqlite3.Error):
            self._reader.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def compact(self) -> None:
        """Give free pages back to the file system (after a backlog has drained)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA incremental_vacuum")
        self.checkpoint()

    def stats(self) -> OutboxStats:
        with self._read_lock:
            events, used, dropped, delivered = self._reader.execute(
                "SELECT events, bytes, dropped, delivered FROM outbox_meta WHERE id = 0").fetchone()
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
