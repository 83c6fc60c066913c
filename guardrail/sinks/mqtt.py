"""Flagged turns as MQTT events, through a durable outbox, without ever slowing the reply.

``emit`` (on the reply path) writes the event to a SQLite outbox and returns; a background
thread with its own asyncio loop drains the outbox to the broker with aiomqtt at QoS 1 and
deletes each event only once the broker has acknowledged it (PUBACK). If the broker is down the
events wait on disk, across restarts, and go out after recovery; the thread reconnects with
jittered exponential backoff. Delivery is at-least-once: consumers dedupe on ``event_id``.

Topic: ``<prefix>/flagged/<mechanism>`` where mechanism is the turn's highest-scoring flag
(``guardrail/flagged/attenuation``); turns the guard failed to score go to ``<prefix>/error``.
Payload (JSON)::

    {"schema": 1, "event_id": "019a…", "ts": "2026-05-01T12:00:00.000Z", "kind": "flagged",
     "conversation_id": "conv-42", "turn_id": "7", "mechanism": "attenuation",
     "flags": ["attenuation", "granularity"], "scores": {"attenuation": 0.81, …},
     "action": "flag", "latency_ms": 3.2}

plus ``findings`` (per mechanism: score, flagged, numeric details) with ``findings=True``, and
``reference``/``response`` and the findings' explanations and evidence, all redacted, when text
logging is on (``log_text``).

Start-up (``start()``, done by ``Guard()`` when ``GUARDRAIL_MQTT_URL`` is set) raises
:class:`MqttConfigError` for a malformed URL, a host that does not resolve, unreadable TLS files,
a failed TLS handshake, and a broker that refuses the credentials. A broker that is merely
unreachable is a warning: events queue in the outbox until it is back (``require_connection=True``
makes that an error too).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog

from guardrail.policy import PolicyError
from guardrail.sinks.events import SCHEMA_VERSION, FlagEvent, event_for, wants_event
from guardrail.sinks.outbox import Outbox, OutboxError, Pending, PublisherLock, WhenFull
from guardrail.sinks.redact import Redactor
from guardrail.types import Turn, Verdict

_log = structlog.get_logger("guardrail.mqtt")
#: paho-mqtt's own messages (via aiomqtt); the sink reports connection trouble itself, so only
#: critical ones show unless this logger is given a lower level
_paho_log = logging.getLogger("guardrail.mqtt.paho")
if _paho_log.level == logging.NOTSET:
    _paho_log.setLevel(logging.CRITICAL)

_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


class MqttConfigError(PolicyError):
    """The MQTT sink cannot start: bad URL, unknown host, TLS set-up or credentials refused."""


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @property
    def display(self) -> str:
        """The URL without the password, for messages and logs."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://[user[:password]@]host[:port]`` (1883) or ``mqtts://…`` (TLS, 8883)."""
    hint = "expected mqtt://host:1883 or mqtts://host:8883 (GUARDRAIL_MQTT_URL)"
    if not url or not url.strip():
        raise MqttConfigError(f"empty MQTT URL; {hint}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MqttConfigError(f"invalid MQTT URL {_hide_password(url)!r}: {exc}; {hint}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise MqttConfigError(f"invalid MQTT URL {_hide_password(url)!r}: scheme must be one of "
                              f"{', '.join(sorted(_SCHEMES))}; {hint}")
    if not parts.hostname:
        raise MqttConfigError(f"invalid MQTT URL {_hide_password(url)!r}: no host; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttConfigError(f"invalid MQTT URL {_hide_password(url)!r}: no path or query allowed "
                              f"(set the topic prefix with GUARDRAIL_MQTT_PREFIX); {hint}")
    tls = _SCHEMES[scheme]
    if port == 0:
        raise MqttConfigError(f"invalid MQTT URL {_hide_password(url)!r}: port 0; {hint}")
    return MqttTarget(host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls,
                      username=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password is not None else None)


def _hide_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            return url.replace(":" + parts.password + "@", ":***@", 1)
    except ValueError:
        pass
    return url


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or "+" in prefix or "#" in prefix \
            or "\x00" in prefix:
        raise MqttConfigError(f"invalid MQTT topic prefix {prefix!r}: non-empty, no leading or trailing '/', "
                              "no wildcards")
    return prefix


def default_outbox_path(target: MqttTarget) -> Path:
    """``$XDG_STATE_HOME/guardrail/mqtt-outbox-<host>-<port>.db`` (``~/.local/state/…``)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "guardrail"
    tag = hashlib.sha1(f"{target.host}:{target.port}".encode(), usedforsecurity=False).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in target.host)[:40]
    return base / f"mqtt-outbox-{safe}-{target.port}-{tag}.db"


def _at_exit(callback: Any) -> None:
    """Run ``callback`` at interpreter exit, early enough to still deliver.

    aiomqtt connects through the event loop's default executor, and ``concurrent.futures`` refuses
    new work once interpreter shutdown begins — before plain ``atexit`` handlers run. Hooks
    registered with ``threading._register_atexit`` run before that (newest first), so the sink can
    still connect and flush; ``atexit`` is the fallback.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(callback)
            return
        except RuntimeError:  # shutdown already under way
            pass
    atexit.register(callback)


def _classify(exc: BaseException) -> tuple[bool, str]:
    """(fatal at start-up?, human-readable reason) for a failed connection attempt."""
    from aiomqtt.exceptions import MqttConnectError

    cause = exc.__context__ or exc.__cause__
    if isinstance(exc, MqttConnectError):
        rc = exc.rc
        code = rc if rc is None or isinstance(rc, int) else rc.value
        if code in (4, 5, 134, 135):  # bad user name or password / not authorised (3.1.1 and 5)
            return True, f"the broker refused the credentials ({exc})"
        return False, f"the broker refused the connection ({exc})"
    if isinstance(cause, ssl.SSLError):
        return True, f"TLS handshake failed ({cause}); check mqtts:// vs mqtt://, the port and the CA file"
    return False, str(exc) or type(exc).__name__


class MqttSink:
    """Publishes flagged turns to MQTT through a durable outbox.

    >>> sink = MqttSink("mqtt://127.0.0.1:1883")          # doctest: +SKIP
    >>> guard = Guard(sinks=[StructlogSink(), sink])     # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "guardrail",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        tls_insecure: bool = False,
        client_id: str | None = None,
        outbox: Outbox | str | Path | None = None,
        max_events: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        when_full: WhenFull = "drop_oldest",
        log_text: bool = False,
        findings: bool = False,
        redactor: Redactor | None = None,
        redact_names: list[str] | None = None,
        qos: int = 1,
        connect_timeout: float = 5.0,
        publish_timeout: float = 10.0,
        keepalive: int = 30,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        close_timeout: float = 2.0,
        require_connection: bool = False,
        start: bool = True,
    ) -> None:
        target = parse_mqtt_url(url)
        if username is not None:
            target = MqttTarget(target.host, target.port, target.tls, username, password)
        elif password is not None:
            raise MqttConfigError("an MQTT password needs a user name (GUARDRAIL_MQTT_USERNAME or in the URL)")
        if (ca_file or cert_file or key_file or tls_insecure) and not target.tls:
            raise MqttConfigError(f"TLS options are set but the URL {target.display} is not TLS; use mqtts://")
        if key_file and not cert_file:
            raise MqttConfigError("an MQTT client key file needs a client certificate file")
        if qos not in (0, 1, 2):
            raise MqttConfigError(f"MQTT QoS must be 0, 1 or 2, not {qos}")
        self.target = target
        self.prefix = _check_prefix(prefix)
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.tls_insecure = tls_insecure
        self.client_id = client_id
        self.log_text = log_text
        self.findings = findings
        self.redactor = redactor if redactor is not None else Redactor(redact_names or ())
        self.qos = qos
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.keepalive = keepalive
        self.backoff_min, self.backoff_max = backoff_min, max(backoff_max, backoff_min)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.close_timeout = close_timeout
        self.require_connection = require_connection
        try:
            self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(
                outbox or default_outbox_path(target), max_events=max_events, max_bytes=max_bytes,
                when_full=when_full)
        except OutboxError as exc:
            raise MqttConfigError(str(exc)) from exc
        self._lock = PublisherLock(self.outbox.path)
        self._ssl: ssl.SSLContext | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._idle = False
        self._stopping = False
        self._closed = False
        self._started = threading.Event()
        self._probe_error: BaseException | None = None
        self.connected = False
        self.published = 0  # acknowledged by the broker, by this process
        self.connects = 0
        if start:
            try:
                self.start()
            except BaseException:
                self.close(timeout=0)  # release the outbox file
                raise

    # --- reply path --------------------------------------------------------------------------
    def topic_for(self, event: FlagEvent) -> str:
        return f"{self.prefix}/flagged/{event.mechanism}" if event.mechanism else f"{self.prefix}/error"

    def payload_for(self, event: FlagEvent) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA_VERSION, **event.summary()}
        if self.findings or self.log_text:
            data["findings"] = event.findings(with_text=self.log_text, redactor=self.redactor)
        if self.log_text:
            reference, reply = event.texts(self.redactor)
            data["reference_kind"] = event.turn.reference_kind
            data["reference"] = reference
            data["response"] = reply
        return data

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if not wants_event(verdict):
            return
        if self._closed:
            raise RuntimeError("MqttSink is closed")
        event = event_for(turn, verdict)
        payload = json.dumps(self.payload_for(event), ensure_ascii=False, separators=(",", ":"), default=str)
        self.outbox.put(event.event_id, self.topic_for(event), payload.encode())
        if self._idle:
            self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(wake.set)

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Check the configuration, connect once, and start the background publisher."""
        if self._thread is not None:
            return
        if self._closed:
            raise MqttConfigError("this MqttSink was closed; create a new one")
        try:
            import aiomqtt  # noqa: F401
        except ImportError:
            raise MqttConfigError("the MQTT sink needs aiomqtt: pip install 'empathy-guardrail[mqtt]'") from None
        try:
            socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise MqttConfigError(f"cannot resolve the MQTT broker host in {self.target.display}: {exc}") from None
        self._ssl = self._tls_context()
        self._started.clear()
        self._thread = threading.Thread(target=self._thread_main, name="guardrail-mqtt-publisher", daemon=True)
        self._thread.start()
        self._started.wait(self.connect_timeout * 2 + 5)
        error = self._probe_error
        if error is not None:
            fatal, reason = _classify(error)
            if fatal or self.require_connection:
                self.close(timeout=0)
                raise MqttConfigError(f"cannot connect to the MQTT broker {self.target.display}: {reason}")
            _log.warning("guardrail.mqtt_unreachable", broker=self.target.display, error=reason,
                         pending=self.outbox.stats().pending,
                         note="events wait in the outbox and are sent when the broker is back")
        _at_exit(self._atexit)

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.target.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(f"MQTT TLS set-up failed (CA file {self.ca_file}, certificate {self.cert_file}, "
                                  f"key {self.key_file}): {exc}") from None
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the outbox is empty (True) or ``timeout`` seconds have passed (False)."""
        deadline = time.monotonic() + timeout
        self._poke()
        while True:
            if self.outbox.empty():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def close(self, timeout: float | None = None) -> None:
        """Try to deliver what is pending for up to ``timeout`` seconds, then stop.

        Whatever is still pending stays in the outbox and goes out after the next start.
        """
        if self._closed:
            return
        timeout = self.close_timeout if timeout is None else timeout
        # wait for delivery while the broker is up (or was at start: the connection may be coming up)
        alive = self._thread is not None and self._thread.is_alive()
        if alive and timeout > 0 and (self.connected or self._probe_error is None):
            self.flush(timeout)
        self._stopping = True
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout=max(timeout, 0) + self.connect_timeout + 1)
        self._closed = True
        if self._thread is None or not self._thread.is_alive():
            self._lock.release()
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit)
        self.outbox.close()

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def stats(self) -> dict[str, Any]:
        box = self.outbox.stats()
        return {"broker": self.target.display, "connected": self.connected, "publisher": self._lock.held,
                "pending": box.pending, "pending_bytes": box.bytes, "dropped": box.dropped,
                "delivered": box.delivered, "published_by_this_process": self.published, "connects": self.connects}

    def __enter__(self) -> MqttSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- publisher thread --------------------------------------------------------------------
    def _client(self) -> Any:
        import aiomqtt

        client = aiomqtt.Client(
            self.target.host, self.target.port, username=self.target.username, password=self.target.password,
            identifier=self.client_id, tls_context=self._ssl, tls_insecure=True if self.tls_insecure else None,
            timeout=self.connect_timeout, keepalive=self.keepalive, max_inflight_messages=self.batch_size,
            clean_session=True, logger=_paho_log,
        )
        client.pending_calls_threshold = self.batch_size + 10
        return client

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # never let the thread die silently
            _log.error("guardrail.mqtt_publisher_crashed", error=repr(exc))
        finally:
            self.connected = False
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            async with self._client():
                pass
        except Exception as exc:
            self._probe_error = exc
        self._started.set()
        error = self._probe_error
        if error is not None and (_classify(error)[0] or self.require_connection):
            return
        maintenance = asyncio.create_task(self._maintain())
        try:
            await self._publish_forever()
        finally:
            maintenance.cancel()
            with contextlib.suppress(BaseException):
                await maintenance

    async def _maintain(self, every: float = 2.0) -> None:
        """Off the reply path, also while the broker is down: re-count the outbox (other processes
        may share it) and checkpoint its write-ahead log."""
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.outbox.refresh)
            if self._lock.held:
                await asyncio.to_thread(self.outbox.checkpoint)

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _publish_forever(self) -> None:
        backoff = self.backoff_min
        down_since: float | None = None
        warned_at = -1e9
        try:
            while not self._stopping:
                if not self._lock.acquire():  # another process publishes this outbox; stand by
                    await self._sleep(1.0)
                    continue
                connected_at = time.monotonic()
                published_before = self.published
                try:
                    async with self._client() as client:
                        self.connected = True
                        self.connects += 1
                        if down_since is not None:
                            _log.info("guardrail.mqtt_reconnected", broker=self.target.display,
                                      outage_s=round(time.monotonic() - down_since, 2),
                                      pending=self.outbox.stats().pending)
                            down_since = None
                        await self._drain(client)
                except Exception as exc:
                    if self._stopping:
                        break
                    fatal, reason = _classify(exc)
                    if down_since is None:
                        down_since = time.monotonic()
                    now = time.monotonic()
                    if now - warned_at >= 30.0:  # at most one warning every 30 s while it flaps
                        warned_at = now
                        _log.log(logging.ERROR if fatal else logging.WARNING, "guardrail.mqtt_disconnected",
                                 broker=self.target.display, error=reason, pending=self.outbox.stats().pending,
                                 retry_s=round(backoff, 2))
                finally:
                    self.connected = False
                if self._stopping:
                    break
                # a connection that worked (delivered, or stayed up a while) starts the backoff afresh
                if self.published > published_before or time.monotonic() - connected_at > 10.0:
                    backoff = self.backoff_min
                await self._sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, self.backoff_max)
        finally:
            self._lock.release()

    @staticmethod
    async def _watch(client: Any) -> None:
        """Returns (raises) when the connection drops: aiomqtt ends message iteration then."""
        async for _ in client.messages:
            pass

    async def _drain(self, client: Any) -> None:
        assert self._wake is not None
        wake = self._wake
        watcher = asyncio.create_task(self._watch(client))
        since_compact = 0
        try:
            while not self._stopping:
                wake.clear()
                self._idle = True  # set before peeking: an emit after the peek will wake us
                rows = self.outbox.peek(self.batch_size)
                if not rows:
                    if since_compact >= 1000:  # a backlog has drained: give the space back
                        since_compact = 0
                        await asyncio.to_thread(self.outbox.compact)
                    waiter = asyncio.create_task(wake.wait())
                    await asyncio.wait({waiter, watcher}, timeout=self.poll_interval,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if watcher.done():
                        if not watcher.cancelled() and watcher.exception() is not None:
                            raise ConnectionError(f"connection to the broker lost: {watcher.exception()}")
                        raise ConnectionError("connection to the broker closed")
                    continue
                self._idle = False
                since_compact += await self._publish_batch(client, rows, watcher)
        finally:
            self._idle = False
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher

    async def _publish_batch(self, client: Any, rows: list[Pending], watcher: asyncio.Task[None]) -> int:
        tasks = [asyncio.create_task(client.publish(r.topic, r.payload, qos=self.qos, timeout=self.publish_timeout))
                 for r in rows]
        everything = asyncio.gather(*tasks, return_exceptions=True)
        waiting: set[asyncio.Future[Any]] = {everything, watcher}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not everything.done():
            everything.cancel()
            with contextlib.suppress(BaseException):
                await everything
        acked = [r for r, t in zip(rows, tasks, strict=True)
                 if t.done() and not t.cancelled() and t.exception() is None]
        if acked:
            self.outbox.ack(acked)
            self.published += len(acked)
        if len(acked) < len(rows):
            failed = next((t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()), None)
            if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
                failed = watcher.exception()
            raise ConnectionError(f"{len(rows) - len(acked)} of {len(rows)} events not acknowledged: "
                                  f"{failed or 'connection closed'}")
        return len(acked)
