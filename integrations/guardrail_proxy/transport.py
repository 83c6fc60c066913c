"""A lean HTTP/1.1 transport for httpx, used for plain-``http://`` upstreams (vLLM, Ollama, llama.cpp
on the same host or network). ``https://`` and anything unusual go to httpx's own transport.

Why: on a small machine httpx's default stack (httpcore + h11 + anyio) costs more than a
millisecond of CPU per request, several times the whole budget the proxy has for time to first
token. This transport speaks just what a chat-completions call needs: one request with a body,
a response framed by ``content-length``, ``transfer-encoding: chunked`` or the connection's end,
keep-alive connections in a pool, and httpx's timeouts (connect, read per chunk, write).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable

import httpx

_MAX_HEAD = 64 * 1024
_DEFAULT_TIMEOUT = 120.0


class _Conn:
    __slots__ = ("key", "reader", "writer")

    def __init__(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _StaleConnection(Exception):
    """A pooled connection the server had closed; the request is retried on a new one."""


class LeanHTTPTransport(httpx.AsyncBaseTransport):
    """Plain-HTTP/1.1 keep-alive transport; delegates other requests to ``fallback``."""

    def __init__(self, fallback: httpx.AsyncBaseTransport | None = None, *, max_idle: int = 200) -> None:
        self._fallback = fallback or httpx.AsyncHTTPTransport()
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._max_idle = max_idle
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        await self._fallback.aclose()

    def _release(self, conn: _Conn) -> None:
        pool = self._idle.setdefault(conn.key, [])
        if self._closed or len(pool) >= self._max_idle or conn.reader.at_eof():
            conn.close()
        else:
            pool.append(conn)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http" or not isinstance(request.stream, httpx.ByteStream):
            return await self._fallback.handle_async_request(request)
        body = b"".join([part for part in request.stream])  # a ByteStream: the bytes, already in memory
        url = request.url
        return await self.send(request.method, url.host, url.port or 80, url.raw_path or b"/", request.headers.raw,
                               body, request.extensions.get("timeout", {}), request=request)

    async def send(self, method: str, host: str, port: int, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: bytes, timeout: dict[str, float | None], *,
                   request: httpx.Request | None = None) -> httpx.Response:
        """One request to ``http://host:port`` + ``target``, without building an ``httpx.Request``
        (the proxy's hot path); the response is an ``httpx.Response`` streaming its body."""
        connect_t, read_t, write_t = (timeout.get(k, _DEFAULT_TIMEOUT) for k in ("connect", "read", "write"))
        head = self._head(method, host, port, target, headers, len(body))
        key = (host, port)
        for attempt in (0, 1):
            conn, reused = await self._connect(key, connect_t, request)
            try:
                return await self._exchange(conn, head + body, read_t, write_t, request, reused,
                                            head_request=method == "HEAD")
            except _StaleConnection:
                conn.close()
                if attempt:
                    raise httpx.RemoteProtocolError("upstream closed the connection", request=request) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _head(method: str, host: str, port: int, target: bytes, headers: list[tuple[bytes, bytes]],
              length: int) -> bytes:
        lines = [method.encode() + b" " + target + b" HTTP/1.1"]
        has_host = False
        for name, value in headers:
            lname = name.lower()
            if lname in (b"content-length", b"transfer-encoding", b"connection"):
                continue
            has_host = has_host or lname == b"host"
            lines.append(name + b": " + value)
        if not has_host:
            lines.append(b"host: " + (host if port == 80 else f"{host}:{port}").encode("idna"))
        if length or method not in ("GET", "HEAD"):
            lines.append(b"content-length: " + str(length).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _connect(self, key: tuple[str, int], timeout: float | None,
                       request: httpx.Request | None) -> tuple[_Conn, bool]:
        pool = self._idle.get(key)
        while pool:
            conn = pool.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(key[0], key[1], limit=_MAX_HEAD)
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting to upstream", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to upstream: {exc.strerror or exc}", request=request) from None
        return _Conn(key, reader, writer), False

    async def _exchange(self, conn: _Conn, data: bytes, read_t: float | None, write_t: float | None,
                        request: httpx.Request | None, reused: bool, head_request: bool) -> httpx.Response:
        try:
            conn.writer.write(data)
            async with asyncio.timeout(write_t):
                await conn.writer.drain()
        except TimeoutError:
            conn.close()
            raise httpx.WriteTimeout("timed out sending to upstream", request=request) from None
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            conn.close()
            raise httpx.WriteError(str(exc), request=request) from None
        try:
            async with asyncio.timeout(read_t):
                raw_head = await conn.reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            conn.close()
            raise httpx.ReadTimeout("upstream did not answer in time", request=request) from None
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if reused and not getattr(exc, "partial", b""):
                raise _StaleConnection from exc
            conn.close()
            raise httpx.RemoteProtocolError("upstream closed the connection without answering",
                                            request=request) from None
        except asyncio.LimitOverrunError:
            conn.close()
            raise httpx.RemoteProtocolError("upstream response head too large", request=request) from None
        status, headers = _parse_head(raw_head, request)
        stream = _Body(self, conn, headers, read_t, request, no_body=head_request or status in (204, 304))
        return httpx.Response(status, headers=headers, stream=stream, extensions={"http_version": b"HTTP/1.1"},
                              request=request)


def _parse_head(raw: bytes, request: httpx.Request | None) -> tuple[int, list[tuple[bytes, bytes]]]:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("upstream sent an invalid status line", request=request)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError("upstream sent an invalid header line", request=request)
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


class _Body(httpx.AsyncByteStream):
    """The response body, de-chunked, read lazily; the connection goes back to the pool at its end."""

    def __init__(self, transport: LeanHTTPTransport, conn: _Conn, headers: list[tuple[bytes, bytes]],
                 read_t: float | None, request: httpx.Request | None, no_body: bool) -> None:
        self._transport = transport
        self._conn: _Conn | None = conn
        self._read_t = read_t
        self._request = request
        values = {k.lower(): v for k, v in headers}
        self._chunked = b"chunked" in values.get(b"transfer-encoding", b"").lower()
        length = values.get(b"content-length")
        self._length = 0 if no_body else (int(length) if length is not None and length.isdigit() else None)
        self._keep = values.get(b"connection", b"").lower() != b"close"
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        reader = conn.reader
        try:
            if self._chunked:
                async for piece in self._chunks(reader):
                    yield piece
            elif self._length is not None:
                left = self._length
                while left:
                    data = await self._read(reader.read(min(left, 65536)))
                    if not data:
                        raise httpx.RemoteProtocolError("upstream closed the connection mid-body",
                                                        request=self._request)
                    left -= len(data)
                    yield data
            else:  # until the connection ends
                self._keep = False
                while data := await self._read(reader.read(65536)):
                    yield data
            self._done = True
        finally:
            self._finish()

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await self._read(reader.readline())
            if not line.endswith(b"\n"):
                raise httpx.RemoteProtocolError("upstream closed the connection mid-body", request=self._request)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("upstream sent an invalid chunk", request=self._request) from None
            if size == 0:
                while (await self._read(reader.readline())).strip():  # trailers
                    pass
                return
            try:
                data = await self._read(reader.readexactly(size + 2))
            except asyncio.IncompleteReadError:
                raise httpx.RemoteProtocolError("upstream closed the connection mid-chunk",
                                                request=self._request) from None
            yield data[:-2]

    async def _read(self, op: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self._read_t):
                return await op
        except TimeoutError:
            raise httpx.ReadTimeout("upstream stopped sending", request=self._request) from None
        except ConnectionError as exc:
            raise httpx.ReadError(str(exc), request=self._request) from None

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep:
            self._transport._release(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        self._finish()
