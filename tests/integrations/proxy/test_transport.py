"""The proxy's lean upstream transport against scripted raw HTTP/1.1 servers on loopback."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from guardrail_proxy.transport import ChunkedDecoder, LeanHTTPTransport

TIMEOUT = {"connect": 1.0, "read": 1.0, "write": 1.0}


@pytest.fixture
async def transport() -> AsyncIterator[LeanHTTPTransport]:
    """A transport of its own per test, closed after it."""
    lean = LeanHTTPTransport()
    yield lean
    await lean.aclose()


def chunked(parts: list[bytes], ext: bool = False, trailers: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n" % (len(p), b";x=y" if ext else b"") + p + b"\r\n" for p in parts)
    return out + b"0\r\n" + trailers + b"\r\n"


# --- the chunked decoder ------------------------------------------------------------------------
def test_chunked_decoder_any_split() -> None:
    rng = random.Random(4)
    for _ in range(500):
        parts = [rng.randbytes(rng.randrange(1, 50)) for _ in range(rng.randrange(0, 6))]
        wire = chunked(parts, ext=rng.random() < 0.3, trailers=b"x-t: 1\r\n" if rng.random() < 0.3 else b"")
        decoder, got, i = ChunkedDecoder(), b"", 0
        while i < len(wire):
            j = i + rng.randrange(1, 9)
            got += decoder.feed(wire[i:j])
            i = j
        assert decoder.done and got == b"".join(parts) and decoder.extra == b""


def test_chunked_decoder_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(b"zz\r\nhello\r\n")
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(b"5\r\nhelloXX\r\n")
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\n\r\nEXTRA") == b"abc"
    assert decoder.done and decoder.extra == b"EXTRA"


# --- scripted servers -----------------------------------------------------------------------------
@asynccontextmanager
async def raw_server(handler: Callable[..., object]) -> AsyncIterator[tuple[int, list[int]]]:
    """A server whose connections are handled by ``handler(reader, writer, n)`` (n: connection number);
    yields (port, connection count holder)."""
    count = [0]

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count[0] += 1
        try:
            await handler(reader, writer, count[0])  # type: ignore[misc]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, count
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


async def fetch(transport: LeanHTTPTransport, port: int, body: bytes = b"{}") -> tuple[int, bytes]:
    exchange = await transport.start("POST", "127.0.0.1", port, b"/v1/chat/completions",
                                     [(b"content-type", b"application/json")], body, TIMEOUT)
    response = await exchange.response()
    return response.status_code, await response.aread()


async def test_keep_alive_chunked_and_content_length(transport: LeanHTTPTransport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for i in range(3):
            request = await read_request(reader)
            assert b"host: 127.0.0.1:" in request and request.endswith(b"{}")
            if i % 2:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            else:  # the head and the body in separate writes, the body split inside a chunk
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                await writer.drain()
                wire = chunked([b"data: a\n\n", b"data: b\n\n"])
                writer.write(wire[:7])
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(wire[7:])
            await writer.drain()

    async with raw_server(handler) as (port, count):
        assert await fetch(transport, port) == (200, b"data: a\n\ndata: b\n\n")
        assert await fetch(transport, port) == (200, b"hello")
        assert await fetch(transport, port) == (200, b"data: a\n\ndata: b\n\n")
        assert count[0] == 1  # one connection, kept alive


async def test_interim_100_continue_is_skipped_and_close_delimited_body(transport: LeanHTTPTransport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nx-a: 1\r\n\r\nuntil the end")
        await writer.drain()

    async with raw_server(handler) as (port, _):
        assert await fetch(transport, port) == (201, b"until the end")


async def test_stale_pooled_connection_is_retried(transport: LeanHTTPTransport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        if n == 1:  # keep-alive promised, then the server drops the idle connection
            return
        await read_request(reader)

    async with raw_server(handler) as (port, count):
        assert await fetch(transport, port) == (200, b"ok")
        await asyncio.sleep(0.05)
        assert await fetch(transport, port) == (200, b"ok")
        assert count[0] == 2


async def test_errors_are_httpx_errors(transport: LeanHTTPTransport) -> None:
    async def bad_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nnope\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        await asyncio.sleep(3)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")
        await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()

    async with raw_server(bad_chunk) as (port, _):
        with pytest.raises(httpx.RemoteProtocolError, match="invalid chunk"):
            await fetch(transport, port)
    async with raw_server(silent) as (port, _):
        with pytest.raises(httpx.ReadTimeout):
            await fetch(transport, port)
    async with raw_server(cut) as (port, _):
        with pytest.raises(httpx.RemoteProtocolError, match="mid-body"):
            await fetch(transport, port)
    async with raw_server(garbage) as (port, _):
        with pytest.raises(httpx.RemoteProtocolError, match="status line"):
            await fetch(transport, port)
    with pytest.raises(httpx.ConnectError):
        await fetch(transport, 9)


async def test_plain_httpx_client_through_the_transport() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
                         b'{"ok":true}')
            await writer.drain()

    async with raw_server(handler) as (port, count), httpx.AsyncClient(transport=LeanHTTPTransport()) as client:
        for _ in range(2):
            resp = await client.post(f"http://127.0.0.1:{port}/v1/x", json={"a": 1})
            assert resp.status_code == 200 and resp.json() == {"ok": True}
        assert count[0] == 1
