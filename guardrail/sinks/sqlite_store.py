"""The review queue: every flagged turn with its verdict in a local SQLite file, and people's labels.

As a sink, ``ReviewStore(path)`` records each flagged turn (and each turn the guard failed on)
with its scores, full verdict and, unless ``store_text=False``, the redacted reference and reply.
The same class reads the queue for ``guardrail review`` and ``guardrail calibrate``.

A label is per turn *and* mechanism: a reviewer confirms or rejects each flag, and may confirm a
mechanism the guard missed (its score is below the threshold), which tells calibration that the
threshold is too high.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from guardrail.sinks.events import FlagEvent, event_for, wants_event
from guardrail.sinks.redact import Redactor
from guardrail.sinks.worker import BackgroundWorker
from guardrail.types import MECHANISMS, Mechanism, Turn, Verdict

_log = structlog.get_logger("guardrail.review")

Label = Literal["confirmed", "rejected"]
LABELS: tuple[Label, ...] = ("confirmed", "rejected")
Status = Literal["all", "unlabelled", "labelled", "confirmed", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flagged (
    event_id        TEXT PRIMARY KEY,
    created         REAL NOT NULL,
    created_at      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    conversation_id TEXT,
    turn_id         TEXT,
    mechanism       TEXT,
    flags           TEXT NOT NULL,
    scores          TEXT NOT NULL,
    action          TEXT NOT NULL,
    latency_ms      REAL NOT NULL,
    error           TEXT,
    reference_kind  TEXT NOT NULL,
    reference       TEXT,
    response        TEXT,
    findings        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flagged_created ON flagged(created);
CREATE TABLE IF NOT EXISTS labels (
    event_id    TEXT NOT NULL REFERENCES flagged(event_id) ON DELETE CASCADE,
    mechanism   TEXT NOT NULL,
    label       TEXT NOT NULL CHECK (label IN ('confirmed', 'rejected')),
    reviewer    TEXT,
    note        TEXT,
    labelled_at TEXT NOT NULL,
    PRIMARY KEY (event_id, mechanism)
);
PRAGMA user_version = 1;
"""


class ReviewStoreError(ValueError):
    """A review-store operation could not be done (unknown or ambiguous event id, bad label)."""


@dataclass
class StoredLabel:
    mechanism: str
    label: Label
    reviewer: str | None
    note: str | None
    labelled_at: str


@dataclass
class StoredTurn:
    event_id: str
    created_at: str
    kind: str
    conversation_id: str | None
    turn_id: str | None
    mechanism: str | None
    flags: list[str]
    scores: dict[str, float]
    action: str
    latency_ms: float
    error: str | None
    reference_kind: str
    reference: str | None
    response: str | None
    findings: list[dict[str, Any]]
    labels: dict[str, StoredLabel] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """"unlabelled", "confirmed", "rejected" or "mixed" (flags labelled both ways)."""
        kinds = {lab.label for lab in self.labels.values()}
        if not kinds:
            return "unlabelled"
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "labels"}
        data["labels"] = {m: lab.__dict__ for m, lab in self.labels.items()}
        return data


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class ReviewStore:
    """SQLite review queue; use as a sink and to read and label what it recorded.

    As a sink it stays off the reply path: ``emit`` hands the turn to a writer thread (started on
    first use), which redacts, serialises and inserts in batches, one transaction per batch. At
    most ``queue_max`` turns wait in memory (beyond that new ones are dropped with a warning);
    ``flush()`` waits for the writer, ``close()`` (also run at exit) flushes and closes.
    """

    def __init__(self, path: str | Path, *, store_text: bool = True, redactor: Redactor | None = None,
                 redact_names: Sequence[str] = (), queue_max: int = 10_000) -> None:
        self.path = Path(path)
        self.store_text = store_text
        self.redactor = redactor if redactor is not None else Redactor(redact_names)
        self._lock = threading.Lock()
        self._worker = BackgroundWorker[FlagEvent]("guardrail-review-writer", self._write, max_pending=queue_max,
                                                   on_error=self._write_failed)
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path)
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ReviewStoreError(f"cannot open review store {self.path}: {exc}") from exc

    # --- sink --------------------------------------------------------------------------------
    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if not wants_event(verdict):
            return
        if self._closed:
            raise ReviewStoreError(f"review store {self.path} is closed")
        if not self._worker.submit(event_for(turn, verdict)):
            dropped = self._worker.dropped
            if dropped == 1 or dropped % 1000 == 0:
                _log.warning("guardrail.review_queue_full", path=str(self.path), dropped=dropped)

    @property
    def queue_max(self) -> int:
        return self._worker.max_pending

    @property
    def dropped(self) -> int:
        """Turns refused because ``queue_max`` turns were already waiting."""
        return self._worker.dropped

    def _row(self, ev: FlagEvent) -> tuple[Any, ...]:
        verdict, turn = ev.verdict, ev.turn
        reference, response = ev.texts(self.redactor) if self.store_text else (None, None)
        findings = ev.findings(with_text=self.store_text, redactor=self.redactor)
        return (ev.event_id, ev.created, ev.created_at, ev.kind, ev.conversation_id,
                None if verdict.id is None else str(verdict.id), ev.mechanism, json.dumps(verdict.flags),
                json.dumps(verdict.scores), verdict.action, verdict.latency_ms, verdict.error,
                turn.reference_kind, reference, response, json.dumps(findings, ensure_ascii=False, default=str))

    def _write_failed(self, exc: BaseException, lost: int) -> None:
        _log.error("guardrail.review_store_error", path=str(self.path), error=repr(exc), lost=lost)

    def _write(self, batch: list[FlagEvent]) -> None:
        rows = [self._row(ev) for ev in batch]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO flagged VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every turn emitted so far is in the file (True) or ``timeout`` passes (False)."""
        return self._worker.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._worker.close(timeout)
        self._closed = True
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------------------
    def _turn(self, row: sqlite3.Row | tuple[Any, ...]) -> StoredTurn:
        (event_id, _created, created_at, kind, conversation_id, turn_id, mechanism, flags, scores, action,
         latency_ms, error, reference_kind, reference, response, findings) = row
        return StoredTurn(event_id=event_id, created_at=created_at, kind=kind, conversation_id=conversation_id,
                          turn_id=turn_id, mechanism=mechanism, flags=json.loads(flags), scores=json.loads(scores),
                          action=action, latency_ms=latency_ms, error=error, reference_kind=reference_kind,
                          reference=reference, response=response, findings=json.loads(findings))

    def _attach_labels(self, turns: list[StoredTurn]) -> list[StoredTurn]:
        if not turns:
            return turns
        by_id = {t.event_id: t for t in turns}
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for event_id, mechanism, label, reviewer, note, labelled_at in self._conn.execute(
                    f"SELECT event_id, mechanism, label, reviewer, note, labelled_at FROM labels "
                    f"WHERE event_id IN ({marks})", chunk):
                by_id[event_id].labels[mechanism] = StoredLabel(mechanism, label, reviewer, note, labelled_at)
        return turns

    def count(self, status: Status = "all") -> int:
        where, params = self._where(status, None, None)
        with self._lock:
            (n,) = self._conn.execute(f"SELECT count(*) FROM flagged f {where}", params).fetchone()
        return int(n)

    @staticmethod
    def _where(status: Status, mechanism: str | None, since: float | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        has_label = "EXISTS (SELECT 1 FROM labels l WHERE l.event_id = f.event_id{extra})"
        if status == "unlabelled":
            clauses.append("NOT " + has_label.format(extra=""))
        elif status == "labelled":
            clauses.append(has_label.format(extra=""))
        elif status in LABELS:
            clauses.append(has_label.format(extra=" AND l.label = ?"))
            params.append(status)
        elif status != "all":
            raise ReviewStoreError(f"unknown status {status!r}")
        if mechanism is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(f.flags) j WHERE j.value = ?)")
            params.append(mechanism)
        if since is not None:
            clauses.append("f.created >= ?")
            params.append(since)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list_turns(self, *, status: Status = "all", mechanism: str | None = None, limit: int | None = 50,
             since: float | None = None, newest_first: bool = True) -> list[StoredTurn]:
        where, params = self._where(status, mechanism, since)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM flagged f {where} ORDER BY f.created {order}, f.rowid {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            turns = [self._turn(r) for r in self._conn.execute(sql, params)]
            return self._attach_labels(turns)

    def iter_all(self, *, status: Status = "all", mechanism: str | None = None) -> Iterator[StoredTurn]:
        """Every stored turn, oldest first, in pages (for export and calibration)."""
        last = (-1.0, -1)
        where, params = self._where(status, mechanism, None)
        join = " AND " if where else "WHERE "
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT f.rowid, * FROM flagged f {where}{join}(f.created, f.rowid) > (?, ?) "
                    "ORDER BY f.created, f.rowid LIMIT 500", [*params, *last]).fetchall()
                turns = self._attach_labels([self._turn(r[1:]) for r in rows])
            if not rows:
                return
            yield from turns
            last = (rows[-1][2], rows[-1][0])

    def resolve(self, event_id: str) -> str:
        """The full event id for an id or a unique prefix of one (at least 4 characters)."""
        event_id = event_id.strip().lower()
        if len(event_id) < 4:
            raise ReviewStoreError("give at least 4 characters of the event id")
        with self._lock:
            rows = self._conn.execute("SELECT event_id FROM flagged WHERE event_id >= ? AND event_id < ? LIMIT 2",
                                      (event_id, event_id + "\uffff")).fetchall()
        if not rows:
            raise ReviewStoreError(f"no flagged turn with event id {event_id!r} in {self.path}")
        if len(rows) > 1 and rows[0][0] != event_id:
            raise ReviewStoreError(f"event id prefix {event_id!r} is ambiguous; give more characters")
        return str(rows[0][0])

    def get(self, event_id: str) -> StoredTurn:
        full = self.resolve(event_id)
        with self._lock:
            row = self._conn.execute("SELECT * FROM flagged WHERE event_id = ?", (full,)).fetchone()
            return self._attach_labels([self._turn(row)])[0]

    # --- labelling ---------------------------------------------------------------------------
    def label(self, event_id: str, label: Label, *, mechanisms: Sequence[str] | None = None,
              reviewer: str | None = None, note: str | None = None) -> StoredTurn:
        """Confirm or reject the turn's flags (all of them, or only ``mechanisms``)."""
        if label not in LABELS:
            raise ReviewStoreError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        turn = self.get(event_id)
        chosen = list(mechanisms) if mechanisms else list(turn.flags)
        if not chosen:
            raise ReviewStoreError(f"turn {turn.event_id} has no flags (the guard failed on it); "
                                   "name the mechanism(s) with --mechanism")
        unknown = [m for m in chosen if m not in MECHANISMS]
        if unknown:
            raise ReviewStoreError(f"unknown mechanism(s): {', '.join(unknown)} (known: {', '.join(MECHANISMS)})")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO labels VALUES (?,?,?,?,?,?)",
                    [(turn.event_id, m, label, reviewer, note, now) for m in chosen])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return self.get(turn.event_id)

    def unlabel(self, event_id: str, *, mechanisms: Sequence[str] | None = None) -> StoredTurn:
        turn = self.get(event_id)
        with self._lock:
            if mechanisms:
                self._conn.executemany("DELETE FROM labels WHERE event_id = ? AND mechanism = ?",
                                       [(turn.event_id, m) for m in mechanisms])
            else:
                self._conn.execute("DELETE FROM labels WHERE event_id = ?", (turn.event_id,))
        return self.get(turn.event_id)

    def labelled_scores(self) -> dict[Mechanism, list[tuple[float, bool]]]:
        """Per mechanism: (score the guard gave, reviewer confirmed?) for every label."""
        out: dict[Mechanism, list[tuple[float, bool]]] = {m: [] for m in MECHANISMS}
        with self._lock:
            rows = self._conn.execute(
                "SELECT l.mechanism, l.label, json_extract(f.scores, '$.' || l.mechanism) "
                "FROM labels l JOIN flagged f USING (event_id)").fetchall()
        for mechanism, label, score in rows:
            if mechanism in out and score is not None:
                out[mechanism].append((float(score), label == "confirmed"))
        return out

    def stats(self) -> dict[str, int]:
        with self._lock:
            total, labelled = self._conn.execute(
                "SELECT count(*), (SELECT count(DISTINCT event_id) FROM labels) FROM flagged").fetchone()
        return {"turns": int(total), "labelled": int(labelled), "unlabelled": int(total) - int(labelled)}


def age_to_since(age: str | None) -> float | None:
    """'30m', '12h', '7d' → epoch seconds of that long ago (None → None)."""
    if not age:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        amount, unit = float(age[:-1]), age[-1].lower()
        return time.time() - amount * units[unit]
    except (ValueError, KeyError):
        raise ReviewStoreError(f"age must look like 30m, 12h or 7d, not {age!r}") from None
