"""A lean HTTP/1.1 client transport for plain-``http://`` upstreams (vLLM, Ollama, llama.cpp on the same
host or network). ``https://`` and anything unusual go to httpx's own transport.

Why: time to first token is the proxy's budget, and on a small machine every layer between the
upstream's bytes and the client counts: httpx's default stack (httpcore + h11 + anyio) costs more
than a millisecond of CPU per request, and even asyncio's stream reader adds a wake-up, a timeout
object and a buffer copy per read. Here each connection is an ``asyncio.Protocol`` that parses the
response as its bytes arrive (status line and headers, then the body framed by ``content-length``,
``transfer-encoding: chunked`` or the connection's end), so the proxy wakes up once per batch of
bytes and finds them ready; a timer exists only while the proxy actually waits.

It speaks just what a chat-completions call needs: one request with a body, keep-alive
connections in a pool (a pooled connection the server has closed is retried once on a new one),
interim ``1xx`` responses skipped, and httpx's timeouts (connect, read per wait, write) raised as
httpx's exceptions.

``LeanHTTPTransport.start()`` is the proxy's hot path: it writes the request and returns an
``Exchange``; ``await exchange.response()`` gives an ``UpstreamResponse`` (status, raw headers, the
body as an async iterator of bytes). ``handle_async_request`` serves plain httpx clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import cast

import httpx

_MAX_HEAD = 64 * 1024
_DEFAULT_TIMEOUT = 120.0
#: decoded body bytes buffered before the connection stops reading from the upstream
_HIGH_WATER = 1 << 20
Headers = list[tuple[bytes, bytes]]


@functools.lru_cache(maxsize=64)
def _host_line(host: str, port: int) -> bytes:
    name = f"[{host}]" if ":" in host else host  # an IPv6 address
    return b"host: " + (name if port == 80 else f"{name}:{port}").encode("idna")


class ChunkedDecoder:
    """Sans-IO decoder of a ``transfer-encoding: chunked`` body: ``feed(bytes)`` returns the payload
    bytes complete so far (chunk extensions and trailers dropped); ``done`` after the last chunk."""

    __slots__ = ("_buf", "_left", "done", "extra")

    _MAX_LINE = 8 * 1024

    def __init__(self) -> None:
        self._buf = b""
        self._left = -1  # payload bytes left in the current chunk; -1: a size line is next, -2: trailers
        self.done = False
        self.extra = b""  # anything after the body's end

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.extra += data
            return b""
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end:
            left = self._left
            if left > 0:  # inside a chunk's payload
                take = min(left, end - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left = left - take
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if end - pos > self._MAX_LINE:
                    raise ValueError("chunk size line too long")
                break
            line = buf[pos:nl]
            pos = nl + 1
            if left == 0:  # the CRLF after a chunk's payload
                if line.strip():
                    raise ValueError("no line break after a chunk")
                self._left = -1
            elif left == -1:  # a size line
                size_text = line.split(b";", 1)[0].strip()
                if not size_text or size_text.translate(None, b"0123456789abcdefABCDEF"):
                    raise ValueError(f"bad chunk size {size_text[:20]!r}")
                size = int(size_text, 16)
                self._left = size if size else -2
            elif not line.strip():  # trailers end with an empty line: the body is complete
                self.done = True
                self.extra = buf[pos:]
                pos = end
            # else: a trailer line, dropped
        self._buf = buf[pos:] if pos < end else b""
        return b"".join(out) if len(out) > 1 else (out[0] if out else b"")


_STATUS_LINE = re.compile(rb"HTTP/1\.\d +(\d+)(?:[ \t][^\r\n]*)?\r\n")
_HEADER_LINE = re.compile(rb"[ \t]*([^:\r\n]*?)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r\n")
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[^\r\n]*close", re.IGNORECASE)


def _parse_head(raw: bytes) -> tuple[int, Headers]:
    """Status and headers of a response head (``raw`` ends with the empty line)."""
    status = _STATUS_LINE.match(raw)
    if status is None:
        raise httpx.RemoteProtocolError("upstream sent an invalid status line")
    start, end = status.end(), len(raw) - 2  # up to the empty line's CRLF
    # all header lines in one regex pass (the hot path pays per Python-level step); a line that
    # does not match (no colon) leaves the count of matches short of the count of lines
    headers: Headers = _HEADER_LINE.findall(raw, start, end)
    if len(headers) != raw.count(b"\r\n", start, end):
        raise httpx.RemoteProtocolError("upstream sent an invalid header line")
    return int(status[1]), headers


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; parses the current response as its bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int]) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.lost = False  # the upstream closed (or reset) the connection
        self.lost_error: Exception | None = None
        self.keep = True  # may go back to the pool once the response is complete
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._begin(no_body=False, expect=False)

    def _begin(self, *, no_body: bool, expect: bool) -> None:
        """Reset the response state before a request is written."""
        self.expect = expect  # a response is due (bytes outside one make the connection unusable)
        self.no_body = no_body
        self.received = False  # any byte of the response has arrived
        self.head: tuple[int, Headers] | None = None
        self.error: Exception | None = None
        self.body_done = False
        self._head_buf = b""
        self._framing: ChunkedDecoder | int | None = None  # decoder, bytes left, or None: until close
        self._pieces: deque[bytes] = deque()
        self._pending = 0

    def usable(self) -> bool:
        t = self.transport
        return self.keep and not self.lost and t is not None and not t.is_closing()

    def close(self) -> None:
        self.keep = False
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if not self.expect or self.body_done or self.error is not None:  # bytes outside a response
            self.close()
            return
        self.received = True
        if self.head is None:
            data = self._on_head_bytes(data)
            if self.head is None or self.error is not None:
                return
        if data:
            self._on_body_bytes(data)
        self._wake()

    def _on_head_bytes(self, data: bytes) -> bytes:
        buf = self._head_buf + data if self._head_buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    self._fail(httpx.RemoteProtocolError("upstream response head too large"))
                else:
                    self._head_buf = buf
                return b""
            head_raw = buf[:end + 4]
            try:
                status, headers = _parse_head(head_raw)
            except httpx.RemoteProtocolError as exc:
                self._fail(exc)
                return b""
            buf = buf[end + 4:]
            if 100 <= status < 200 and status != 101:  # interim (100 Continue …): the real head follows
                continue
            self._head_buf = b""
            self.head = (status, headers)
            self._set_framing(status, head_raw)
            return buf

    def _set_framing(self, status: int, head: bytes) -> None:
        if _CONNECTION_CLOSE.search(head):
            self.keep = False
        if self.no_body or status in (204, 304):
            self._framing = 0
        elif _CHUNKED.search(head):
            self._framing = ChunkedDecoder()
        elif (length := _CONTENT_LENGTH.search(head)) is not None and length[1].isdigit():
            self._framing = int(length[1])
        else:  # the body ends with the connection
            self._framing = None
            self.keep = False
        if self._framing == 0:
            self.body_done = True

    def _on_body_bytes(self, data: bytes) -> None:
        if self.body_done:
            self.keep = False  # bytes after the response's end
            return
        framing = self._framing
        if framing is None:
            out = data
        elif isinstance(framing, int):
            out = data[:framing]
            left = framing - len(out)
            self._framing = left
            if not left:
                self.body_done = True
                if len(data) > len(out):
                    self.keep = False
        else:
            try:
                out = framing.feed(data)
            except ValueError as exc:
                self._fail(httpx.RemoteProtocolError(f"upstream sent an invalid chunk ({exc})"))
                return
            if framing.done:
                self.body_done = True
                if framing.extra:
                    self.keep = False
        if out:
            self._pieces.append(out)
            self._pending += len(out)
            if self._pending > _HIGH_WATER and not self._read_paused and self.transport is not None:
                self.transport.pause_reading()
                self._read_paused = True

    def eof_received(self) -> bool:
        self._on_lost(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(exc)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _on_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.keep = False
        if exc is not None and self.lost_error is None:
            self.lost_error = exc
        if exc is None and self.head is not None and self._framing is None:
            self.body_done = True  # framed by the connection's (clean) end
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # --- for the exchange -----------------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        self.error = exc
        self.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more of the response arrives or the connection ends; ``TimeoutError`` after ``timeout``."""
        waiter = self._waiter = self.loop.create_future()
        handle = self.loop.call_later(timeout, _time_out, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    async def drained(self, timeout: float | None) -> None:
        if not self._write_paused or self.lost:
            return
        self._drain = self.loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._drain
        finally:
            self._drain = None

    def take(self) -> bytes:
        """The body bytes received so far (and not taken yet)."""
        pieces = self._pieces
        data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self._pending = 0
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        return data

    def has_body_bytes(self) -> bool:
        return bool(self._pieces)


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class UpstreamResponse:
    """An upstream response: ``status_code``, ``headers`` (raw pairs, as sent) and the body, read
    with ``aiter_raw()`` (an async iterator of bytes) or ``aread()``; ``aclose()`` when done.

    The proxy's view of a response, whichever transport produced it (see ``from_httpx``)."""

    def __init__(self, status_code: int, headers: Headers) -> None:
        self.status_code = status_code
        self.headers = headers
        self._content: bytes | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case)."""
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("call aread() first")
        return self._content

    async def aread(self) -> bytes:
        if self._content is None:
            try:
                self._content = b"".join([piece async for piece in self.aiter_raw()])
            finally:
                await self.aclose()
        return self._content

    def has_body_bytes(self) -> bool:
        """Whether body bytes have arrived that ``aiter_raw`` has not given yet (False when unknown)."""
        return False

    def aiter_raw(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    @staticmethod
    def from_httpx(response: httpx.Response) -> UpstreamResponse:
        return _HttpxResponse(response)


class _HttpxResponse(UpstreamResponse):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code, list(response.headers.raw))
        self._response = response

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._response.aiter_raw()

    async def aclose(self) -> None:
        await self._response.aclose()


class _LeanResponse(UpstreamResponse):
    def __init__(self, transport: LeanHTTPTransport, conn: _Connection, read_t: float | None,
                 request: httpx.Request | None) -> None:
        assert conn.head is not None
        super().__init__(*conn.head)
        self._transport = transport
        self._conn: _Connection | None = conn
        self._read_t = read_t
        self._request = request

    def has_body_bytes(self) -> bool:
        return self._conn is not None and self._conn.has_body_bytes()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while conn is not None:
            if conn.has_body_bytes():
                yield conn.take()
            elif conn.body_done:
                self._finish()
                return
            elif conn.error is not None:
                error = conn.error
                self._finish()
                raise _with_request(error, self._request)
            elif conn.lost:
                self._finish()
                if isinstance(conn.lost_error, ConnectionError | OSError):
                    raise httpx.ReadError(f"upstream connection failed: {conn.lost_error}", request=self._request)
                raise httpx.RemoteProtocolError("upstream closed the connection mid-body", request=self._request)
            else:
                try:
                    await conn.wait(self._read_t)
                except TimeoutError:
                    self._finish()
                    raise httpx.ReadTimeout("upstream stopped sending", request=self._request) from None
            conn = self._conn
        raise httpx.ReadError("response closed", request=self._request)

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.body_done and conn.usable() and not conn.has_body_bytes():
            conn.expect = False
            self._transport._release(conn)
        else:
            conn.close()
            conn._wake()

    async def aclose(self) -> None:
        self._finish()


def _with_request(exc: Exception, request: httpx.Request | None) -> Exception:
    if isinstance(exc, httpx.RequestError) and request is not None:
        exc.request = request
    return exc


class _StaleConnection(Exception):
    """A pooled connection the server had closed; the request is retried on a new one."""


class Exchange:
    """A request written to the upstream; ``await response()`` waits for the response's head."""

    def __init__(self, transport: LeanHTTPTransport, conn: _Connection, data: bytes, reused: bool,
                 timeouts: tuple[float | None, float | None, float | None], head_request: bool,
                 request: httpx.Request | None) -> None:
        self._transport, self._conn, self._data, self._reused = transport, conn, data, reused
        self._timeouts, self._head_request, self._request = timeouts, head_request, request

    async def response(self) -> UpstreamResponse:
        conn_t, read_t, write_t = self._timeouts
        try:
            await self._head(self._conn, read_t, write_t)
        except _StaleConnection:
            self._conn.close()
            conn = await self._transport._connect(self._conn.key, conn_t, self._request)
            self._conn = conn
            self._transport._write(conn, self._data, self._head_request)
            try:
                await self._head(conn, read_t, write_t)
            except _StaleConnection:
                conn.close()
                raise httpx.RemoteProtocolError("upstream closed the connection without answering",
                                                request=self._request) from None
        return _LeanResponse(self._transport, self._conn, read_t, self._request)

    async def _head(self, conn: _Connection, read_t: float | None, write_t: float | None) -> None:
        try:
            await conn.drained(write_t)
        except TimeoutError:
            conn.close()
            raise httpx.WriteTimeout("timed out sending to upstream", request=self._request) from None
        while conn.head is None:
            if conn.error is not None:
                raise _with_request(conn.error, self._request)
            if conn.lost:
                if self._reused and not conn.received:
                    raise _StaleConnection
                conn.close()
                raise httpx.RemoteProtocolError("upstream closed the connection without answering",
                                                request=self._request)
            try:
                await conn.wait(read_t)
            except TimeoutError:
                conn.close()
                raise httpx.ReadTimeout("upstream did not answer in time", request=self._request) from None

    async def aclose(self) -> None:
        """Give up on the response (closes the connection)."""
        self._conn.close()


class LeanHTTPTransport(httpx.AsyncBaseTransport):
    """Plain-HTTP/1.1 keep-alive transport; delegates other requests to ``fallback``."""

    def __init__(self, fallback: httpx.AsyncBaseTransport | None = None, *, max_idle: int = 200) -> None:
        self._fallback = fallback or httpx.AsyncHTTPTransport()
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        await self._fallback.aclose()

    def _release(self, conn: _Connection) -> None:
        pool = self._idle.setdefault(conn.key, [])
        if self._closed or len(pool) >= self._max_idle:
            conn.close()
        else:
            pool.append(conn)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http" or not isinstance(request.stream, httpx.ByteStream):
            return await self._fallback.handle_async_request(request)
        body = b"".join([part for part in request.stream])  # a ByteStream: the bytes, already in memory
        url = request.url
        exchange = await self.start(request.method, url.host, url.port or 80, url.raw_path or b"/",
                                    request.headers.raw, body, request.extensions.get("timeout", {}), request=request)
        response = await exchange.response()
        return httpx.Response(response.status_code, headers=response.headers, stream=_ByteStream(response),
                              extensions={"http_version": b"HTTP/1.1"}, request=request)

    async def start(self, method: str, host: str, port: int, target: bytes, headers: Headers, body: bytes,
                    timeout: Mapping[str, float | None], *, request: httpx.Request | None = None,
                    forwardable: bool = False) -> Exchange:
        """Write one request to ``http://host:port`` + ``target`` (the proxy's hot path: no
        ``httpx.Request``); ``await (await start(…)).response()`` gives the response.

        ``forwardable=True`` promises that ``headers`` hold no ``host``, ``content-length``,
        ``transfer-encoding`` or ``connection`` (the transport then writes them as they are)."""
        timeouts = (timeout.get("connect", _DEFAULT_TIMEOUT), timeout.get("read", _DEFAULT_TIMEOUT),
                    timeout.get("write", _DEFAULT_TIMEOUT))
        if forwardable:
            data = b"".join([method.encode(), b" ", target, b" HTTP/1.1\r\n", _host_line(host, port), b"\r\n",
                             *[name + b": " + value + b"\r\n" for name, value in headers],
                             b"content-length: %d\r\n\r\n" % len(body), body])
        else:
            data = self._head(method, host, port, target, headers, len(body)) + body
        head_request = method == "HEAD"
        key = (host, port)
        conn = self._pooled(key)
        if conn is None or not self._write(conn, data, head_request):
            if conn is not None:
                conn.close()
            conn = await self._connect(key, timeouts[0], request)
            self._write(conn, data, head_request)
            return Exchange(self, conn, data, False, timeouts, head_request, request)
        return Exchange(self, conn, data, True, timeouts, head_request, request)

    @staticmethod
    def _write(conn: _Connection, data: bytes, head_request: bool) -> bool:
        """Send the request; False when the connection turned out to be closed."""
        transport = conn.transport
        if transport is None or transport.is_closing() or conn.lost:
            return False
        conn._begin(no_body=head_request, expect=True)
        try:
            transport.write(data)
        except (OSError, RuntimeError):
            return False
        return True

    @staticmethod
    def _head(method: str, host: str, port: int, target: bytes, headers: Headers, length: int) -> bytes:
        lines = [method.encode() + b" " + target + b" HTTP/1.1"]
        has_host = False
        for name, value in headers:
            lname = name.lower()
            if lname in (b"content-length", b"transfer-encoding", b"connection"):
                continue
            has_host = has_host or lname == b"host"
            lines.append(name + b": " + value)
        if not has_host:
            lines.append(_host_line(host, port))
        if length or method not in ("GET", "HEAD"):
            lines.append(b"content-length: " + str(length).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _pooled(self, key: tuple[str, int]) -> _Connection | None:
        pool = self._idle.get(key)
        while pool:
            conn = pool.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def _connect(self, key: tuple[str, int], timeout: float | None,
                       request: httpx.Request | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(lambda: _Connection(loop, key), key[0], key[1])
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting to upstream", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to upstream: {exc.strerror or exc}", request=request) from None
        return conn


class _ByteStream(httpx.AsyncByteStream):
    """An ``UpstreamResponse``'s body as httpx's response stream."""

    def __init__(self, response: UpstreamResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._response.aiter_raw():
            yield piece

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._response.aclose()


class HttpxExchange:
    """The same interface as ``Exchange`` for any other httpx transport (``https://`` upstreams)."""

    def __init__(self, transport: httpx.AsyncBaseTransport, request: httpx.Request) -> None:
        self._transport = transport
        self._request = request

    async def response(self) -> UpstreamResponse:
        response = await self._transport.handle_async_request(self._request)
        response.request = self._request
        return UpstreamResponse.from_httpx(response)

    async def aclose(self) -> None:
        """Nothing to give up before ``response()``: the request is sent there."""
