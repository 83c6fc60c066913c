"""A bounded queue drained by one daemon thread: keeps slow sink work (disk, log I/O) off the reply path.

The reply path only appends to a deque and, when the thread sleeps, wakes it. The thread hands
what it finds to ``handle`` in batches (one SQLite transaction, one burst of log lines). At most
``max_pending`` items wait; beyond that new items are refused and counted, never blocking the
caller. ``flush()`` waits until everything submitted so far is handled; ``close()`` (also run at
interpreter exit) flushes and stops the thread.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class BackgroundWorker(Generic[Item]):
    """One thread that calls ``handle(batch)`` for what was submitted; started on first use."""

    def __init__(self, name: str, handle: Callable[[list[Item]], None], *, max_pending: int = 10_000,
                 batch_size: int = 500, on_error: Callable[[BaseException, int], None] | None = None) -> None:
        self.name = name
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.dropped = 0
        self._handle = handle
        self._on_error = on_error
        self._pending: deque[Item] = deque()
        self._wake = threading.Event()
        self._sleeping = True
        self._busy = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closing = False

    def submit(self, item: Item) -> bool:
        """Queue ``item``; False when closed, or (counted in ``dropped``) when ``max_pending`` items wait."""
        if self._closing:
            return False
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return False
        self._pending.append(item)
        if self._thread is None:
            self._start()
        if self._sleeping:  # a busy thread finds the item anyway: no wake-up call on the reply path
            self._wake.set()
        return True

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
                atexit.register(self.close)

    def _run(self) -> None:
        while True:
            while self._pending:
                self._busy = True  # before popping: flush() waits for popped items too
                batch: list[Item] = []
                while self._pending and len(batch) < self.batch_size:
                    batch.append(self._pending.popleft())
                try:
                    self._handle(batch)
                except Exception as exc:  # keep handling later items
                    if self._on_error is not None:
                        self._on_error(exc, len(batch))
                finally:
                    self._busy = False
            self._sleeping = True
            if self._pending:  # submitted after the loop's last look, before _sleeping was set
                self._sleeping = False
                continue
            if self._closing:
                return
            self._wake.wait(0.5)
            self._wake.clear()
            self._sleeping = False

    @property
    def pending(self) -> int:
        return len(self._pending) + (1 if self._busy else 0)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is handled (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._pending or self._busy:
            thread = self._thread
            if time.monotonic() >= deadline or thread is None or not thread.is_alive():
                return not (self._pending or self._busy)
            time.sleep(0.001)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Handle what is queued (up to ``timeout``), then stop the thread."""
        self._closing = True
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)
