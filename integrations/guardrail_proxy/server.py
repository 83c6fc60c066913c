"""The proxy: Starlette in front, httpx to the upstream, uvicorn to serve.

Routes:

- ``POST /v1/chat/completions``: forwarded to ``{upstream}/chat/completions``; the reply is
  checked. A flagged reply carries the header ``x-guardrail-flags`` and a top-level ``guardrail``
  field (streaming: one more event before ``data: [DONE]``); an unflagged one passes byte for byte.
- ``GET /v1/models``, ``GET /v1/models/{id}``: passed through.
- ``GET /healthz``: ``{"status": "ok"}`` (does not call the upstream).

``upstream`` is the base URL an OpenAI client would use, ``/v1`` included
(``https://api.openai.com/v1``, ``http://localhost:11434/v1`` for Ollama, ``http://host:8000/v1``
for vLLM or llama.cpp's server).

Upstream errors keep their status and body (401, 429, 500 …); an unreachable upstream is 502, a
timeout 504. While streaming, a broken or stalled upstream ends the stream with an error event
(``data: {"error": …}``), never a hang. Request headers (``Authorization`` included) are forwarded
and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from guardrail_wire import (
    FLAGS_HEADER,
    ChatStreamProcessor,
    ChatTurn,
    chat_turn,
    check_completion,
    error_body,
    flags_value,
)
from guardrail_wire.wire import loads
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from guardrail import Guard
from guardrail.stream import STREAM_MODES, StreamMode
from guardrail_proxy.transport import Exchange, HttpxExchange, LeanHTTPTransport, UpstreamResponse

_log = structlog.get_logger("guardrail.proxy")

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "trailers", "transfer-encoding", "upgrade"})
#: request headers not forwarded: the proxy's own host and framing, and compression (the proxy
#: reads the upstream's bytes, so it asks for them uncompressed)
_DROP_REQUEST = _HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_DROP_RESPONSE = _HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
_DROP_REQUEST_B = frozenset(name.encode() for name in _DROP_REQUEST)
_DROP_RESPONSE_B = frozenset(name.encode() for name in _DROP_RESPONSE)


def redact_url(url: str) -> str:
    """The URL without user:password (safe to log)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _forward_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() not in _DROP_REQUEST_B]
    out.append((b"accept-encoding", b"identity"))
    return out


def _response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() not in _DROP_RESPONSE_B]


def _error(status: int, message: str, code: str, type: str = "guardrail_proxy_error") -> Response:
    return Response(error_body(message, code, type), status_code=status, media_type="application/json")


def _raw_response(content: bytes, status: int, headers: list[tuple[bytes, bytes]]) -> Response:
    """A response with exactly these upstream headers (and a correct content-length)."""
    response = Response(content, status_code=status)
    response.raw_headers = [*headers, (b"content-length", str(len(content)).encode())]
    return response


class Proxy:
    """The proxy's state and its handlers: the guard, the upstream transport and the streaming mode.

    ``POST /v1/chat/completions`` is served at the ASGI level (no per-request framework layers:
    time to first token is the budget); the other routes are a small Starlette app.
    """

    def __init__(self, upstream: str, guard: Guard | None = None, *, mode: StreamMode = "observe",
                 hold_sentences: int | None = 2, timeout: float = 120.0, connect_timeout: float = 10.0,
                 history_turns: int = 6, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if mode not in STREAM_MODES:
            raise ValueError(f"mode must be one of {STREAM_MODES}, not {mode!r}")
        self.upstream = upstream.rstrip("/")
        self.guard = guard or Guard()
        self.mode: StreamMode = mode
        self.hold_sentences = hold_sentences
        self.history_turns = history_turns
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout).as_dict()
        self._transport = transport
        parts = urlsplit(self.upstream)
        # plain http:// goes through the lean transport without building URLs or httpx requests
        self._plain = (parts.hostname or "", parts.port or 80, parts.path.encode()) if parts.scheme == "http" else None

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        if self._transport is None:
            self._transport = LeanHTTPTransport(httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200)))
        return self._transport

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    async def _start(self, method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
                     body: bytes = b"") -> Exchange | HttpxExchange:
        """Send one request to ``{upstream}{path}?{query}``; ``await (…).response()`` for the answer."""
        transport = self.transport
        if self._plain is not None and isinstance(transport, LeanHTTPTransport):
            host, port, base = self._plain
            target = base + path + (b"?" + query if query else b"")
            return await transport.start(method, host, port, target, headers, body, self._timeout,
                                         forwardable=True)  # headers from _forward_headers
        url = self.upstream + path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        request = httpx.Request(method, url, headers=headers, content=body, extensions={"timeout": self._timeout})
        return HttpxExchange(transport, request)

    async def _fetch(self, method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
                     body: bytes = b"") -> UpstreamResponse | Response:
        """One whole upstream response, or the error response to send instead."""
        try:
            exchange = await self._start(method, path, query, headers, body)
        except httpx.HTTPError as exc:
            return self._failure(exc)
        return await self._read(exchange, whole=True)

    async def _read(self, exchange: Exchange | HttpxExchange, *, whole: bool) -> UpstreamResponse | Response:
        """The exchange's response (its body read too when ``whole``), or the error response to send instead."""
        try:
            resp = await exchange.response()
            if whole:
                await resp.aread()
        except httpx.HTTPError as exc:
            await exchange.aclose()
            return self._failure(exc)
        except BaseException:
            await exchange.aclose()
            raise
        return resp

    def _failure(self, exc: httpx.HTTPError) -> Response:
        if isinstance(exc, httpx.TimeoutException):
            return _error(504, "upstream timed out", "upstream_timeout")
        return self._unreachable(exc)

    # --- routes -------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": self.mode})

    async def models(self, request: Request) -> Response:
        path = "/models" + (f"/{request.path_params['model']}" if "model" in request.path_params else "")
        resp = await self._fetch("GET", path.encode(), request.scope.get("query_string", b""),
                                 _forward_headers(request.headers.raw))
        if isinstance(resp, Response):
            return resp
        return _raw_response(resp.content, resp.status_code, _response_headers(resp.headers))

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/chat/completions``, as an ASGI handler."""
        parts = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        try:  # a body that starts with "{" is UTF-8 JSON (other encodings start with a BOM or a zero byte)
            payload = loads(body.decode()) if body[:1] == b"{" else json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            await _error(400, "request body must be a JSON object", "invalid_json", "invalid_request_error")(
                scope, receive, send)
            return
        try:
            exchange = await self._start("POST", b"/chat/completions", scope.get("query_string", b""),
                                         _forward_headers(scope["headers"]), body)
        except httpx.HTTPError as exc:
            await self._failure(exc)(scope, receive, send)
            return
        # the request is on its way: what the reply is checked against is worked out while the upstream answers
        try:
            turn = chat_turn(payload, self.history_turns)
            streaming = payload.get("stream") is True
            processor = ChatStreamProcessor(self.guard, turn, mode=self.mode,
                                            hold_sentences=self.hold_sentences) if streaming else None
        except BaseException:
            await exchange.aclose()
            raise
        if processor is not None:
            resp = await self._read(exchange, whole=False)
            if isinstance(resp, Response):
                await resp(scope, receive, send)
            else:
                await self._stream(resp, processor, scope, receive, send)
        else:
            resp = await self._read(exchange, whole=True)
            if isinstance(resp, Response):
                await resp(scope, receive, send)
            else:
                await (await self._complete(resp, turn))(scope, receive, send)

    # --- non-streamed -------------------------------------------------------------------------
    async def _complete(self, resp: UpstreamResponse, turn: ChatTurn | None) -> Response:
        out_headers = _response_headers(resp.headers)
        if resp.status_code != 200 or turn is None:
            return _raw_response(resp.content, resp.status_code, out_headers)
        try:
            content, verdict = await check_completion(self.guard, turn, resp.content)
        except ValueError:
            _log.warning("guardrail.proxy.bad_upstream_response", status=resp.status_code)
            return _error(502, "upstream returned a malformed completion (not a JSON object)", "upstream_malformed")
        if verdict is not None and verdict.flagged:
            out_headers.append((FLAGS_HEADER.encode(), flags_value(verdict).encode()))
        return _raw_response(content, 200, out_headers)

    # --- streamed -----------------------------------------------------------------------------
    async def _stream(self, resp: UpstreamResponse, processor: ChatStreamProcessor, scope: Scope, receive: Receive,
                      send: Send) -> None:
        out_headers = _response_headers(resp.headers)
        if resp.status_code != 200:
            try:
                content = await resp.aread()
            except httpx.HTTPError:
                content = error_body(f"upstream answered {resp.status_code}", "upstream_error")
            finally:
                await resp.aclose()
            await _raw_response(content, resp.status_code, out_headers)(scope, receive, send)
            return
        if b"text/event-stream" not in (resp.header(b"content-type") or b""):
            await resp.aclose()
            await _error(502, "upstream did not answer with an event stream", "upstream_not_streaming")(
                scope, receive, send)
            return
        events = self._events(resp, processor)
        watcher: asyncio.Task[None] | None = None
        try:
            if processor.hold or resp.has_body_bytes():
                # the headers go out with the first bytes (one write for both when the upstream sent them
                # together); in hold mode the verdict may exist by then: hold-all knows it, and a reply
                # blocked before its first release carries the flags header too
                first = await anext(events, None)
                verdict = processor.verdict
                if verdict is not None and verdict.flagged:
                    out_headers.append((FLAGS_HEADER.encode(), flags_value(verdict).encode()))
                sock = _cork(send) if first else None  # the headers and the first bytes in one TCP segment
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": out_headers})
                    if first:
                        await send({"type": "http.response.body", "body": first, "more_body": True})
                finally:
                    if sock is not None:
                        _uncork(sock)
            else:
                # observe mode, first token not there yet (a real model's prefill): the headers cannot
                # carry the verdict anyway, so they go out now, off the time to first token
                await send({"type": "http.response.start", "status": 200, "headers": out_headers})
            watcher = asyncio.ensure_future(_close_on_disconnect(receive, resp))
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if watcher is not None:
                watcher.cancel()
            await events.aclose()

    async def _events(self, resp: UpstreamResponse, processor: ChatStreamProcessor) -> AsyncGenerator[bytes, None]:
        # The user's message is analysed by the final check (cached per text), not in a worker thread
        # while streaming: on a small machine the thread hand-off costs more time to first token than
        # the analysis saves at the end.
        error: tuple[str, str] | None = None
        try:
            try:
                async for data in resp.aiter_raw():
                    out = processor.feed(data)
                    if out:
                        yield b"".join(out) if len(out) > 1 else out[0]
                    if processor.state == "ended":  # blocked or broken: stop reading the upstream
                        break
                    # after [DONE] the loop reads on to the end, so the connection goes back to the pool
            except httpx.TimeoutException:
                error = ("upstream stopped sending (read timeout)", "upstream_timeout")
            except httpx.HTTPError as exc:
                error = (f"upstream connection failed mid-stream ({type(exc).__name__})", "upstream_error")
            if error is not None:
                _log.warning("guardrail.proxy.upstream_stream_error", error=error[0])
            tail = await processor.aend(error)
            if tail:
                yield b"".join(tail)
        finally:
            await resp.aclose()

    def _unreachable(self, exc: Exception) -> Response:
        _log.warning("guardrail.proxy.upstream_unreachable", upstream=redact_url(self.upstream),
                     error=type(exc).__name__)
        return _error(502, f"upstream unreachable ({type(exc).__name__})", "upstream_unreachable")


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux


def _cork(send: Send) -> Any:
    """Cork the client's TCP socket (``_uncork`` sends what was written meanwhile as one segment);
    the socket, or None where it cannot be reached.

    The ASGI server writes the response head and each body part with a send of its own, and on
    loopback or a small VM each send that wakes the reader costs about as much as all the proxy's
    Python on the way to the first token. Only where ``TCP_CORK`` exists (Linux) and the socket can
    be reached (uvicorn's ``send`` is a method of an object with the connection's ``transport``);
    anywhere else the writes just go out one by one.
    """
    if _TCP_CORK is None:
        return None
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    get_extra_info = getattr(transport, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    try:
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
            return sock
    except (OSError, AttributeError, TypeError):
        pass
    return None


def _uncork(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)


async def _close_on_disconnect(receive: Receive, resp: UpstreamResponse) -> None:
    """When the client goes away mid-stream, close the upstream response (stops the LLM)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            await resp.aclose()
            return


class ProxyApp:
    """The proxy's ASGI app: chat completions handled directly, everything else by Starlette."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await proxy.aclose()

        self.routes = Starlette(routes=[
            Route("/v1/models", proxy.models, methods=["GET"]),
            Route("/v1/models/{model:path}", proxy.models, methods=["GET"]),
            Route("/healthz", proxy.healthz, methods=["GET"]),
        ], lifespan=lifespan)
        self.state = self.routes.state
        self.state.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
            if scope["method"] == "POST":
                await self.proxy.chat_completions(scope, receive, send)
            else:
                await _error(405, "use POST", "method_not_allowed", "invalid_request_error")(scope, receive, send)
            return
        await self.routes(scope, receive, send)


def create_app(upstream: str, guard: Guard | None = None, *, mode: StreamMode = "observe",
               hold_sentences: int | None = 2, timeout: float = 120.0, connect_timeout: float = 10.0,
               history_turns: int = 6, transport: httpx.AsyncBaseTransport | None = None) -> ProxyApp:
    """The proxy as an ASGI app (``app.state.proxy`` is the ``Proxy``)."""
    return ProxyApp(Proxy(upstream, guard, mode=mode, hold_sentences=hold_sentences, timeout=timeout,
                          connect_timeout=connect_timeout, history_turns=history_turns, transport=transport))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(upstream: str, host: str = "127.0.0.1", port: int = 8080, guard: Guard | None = None, *,
        mode: str | None = None, hold_sentences: int | str | None = "env", timeout: float | None = None,
        log_level: str = "info", access_log: bool = True) -> None:
    """Serve the proxy with uvicorn (``guardrail serve`` calls this).

    Defaults from the environment: ``GUARDRAIL_PROXY_MODE`` (observe | hold),
    ``GUARDRAIL_PROXY_HOLD_SENTENCES`` (a number, or ``all``), ``GUARDRAIL_PROXY_TIMEOUT`` (seconds).
    """
    import uvicorn

    chosen_mode = mode or os.environ.get("GUARDRAIL_PROXY_MODE", "observe")
    if chosen_mode not in STREAM_MODES:
        raise ValueError(f"GUARDRAIL_PROXY_MODE must be one of {STREAM_MODES}, not {chosen_mode!r}")
    if hold_sentences == "env":
        raw = os.environ.get("GUARDRAIL_PROXY_HOLD_SENTENCES", "2").strip().lower()
        hold: int | None = None if raw in ("all", "none", "") else int(raw)
    else:
        hold = None if hold_sentences is None else int(hold_sentences)
    seconds = timeout if timeout is not None else float(os.environ.get("GUARDRAIL_PROXY_TIMEOUT", "120"))
    if not _is_loopback(host):
        _log.warning("guardrail.proxy.public_bind", host=host,
                     note="the proxy forwards API keys; expose it only behind TLS and access control")
    app = create_app(upstream, guard, mode=chosen_mode, hold_sentences=hold, timeout=seconds)
    _log.info("guardrail.proxy.start", upstream=redact_url(upstream), host=host, port=port, mode=chosen_mode)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)


__all__ = ["Proxy", "ProxyApp", "create_app", "redact_url", "run"]
