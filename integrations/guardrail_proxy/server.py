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
from collections.abc import AsyncGenerator, AsyncIterator
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
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from guardrail import Guard
from guardrail.stream import STREAM_MODES, StreamMode
from guardrail_proxy.transport import LeanHTTPTransport

_log = structlog.get_logger("guardrail.proxy")

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "trailers", "transfer-encoding", "upgrade"})
#: request headers not forwarded: the proxy's own host and framing, and compression (the proxy
#: reads the upstream's bytes, so it asks for them uncompressed)
_DROP_REQUEST = _HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_DROP_RESPONSE = _HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}


def redact_url(url: str) -> str:
    """The URL without user:password (safe to log)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _forward_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower().decode("latin-1") not in _DROP_REQUEST]
    out.append((b"accept-encoding", b"identity"))
    return out


def _response_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers.raw if k.lower().decode("latin-1") not in _DROP_RESPONSE]


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

    def _url(self, path: str, query: bytes | str) -> str:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        return f"{self.upstream}{path}" + (f"?{query}" if query else "")

    async def _upstream(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes = b"",
                        *, stream: bool = False) -> httpx.Response:
        """One upstream call through the transport (httpx's request and response types, no client layers)."""
        transport = self.transport
        if isinstance(transport, LeanHTTPTransport) and url.startswith("http://"):
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            response = await transport.send(method, parts.hostname or "", parts.port or 80, target.encode(),
                                            headers, body, self._timeout)
        else:
            request = httpx.Request(method, url, headers=headers, content=body, extensions={"timeout": self._timeout})
            response = await transport.handle_async_request(request)
            response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    # --- routes -------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": self.mode})

    async def models(self, request: Request) -> Response:
        path = "/models" + (f"/{request.path_params['model']}" if "model" in request.path_params else "")
        try:
            resp = await self._upstream("GET", self._url(path, request.url.query),
                                        _forward_headers(request.headers.raw))
        except httpx.TimeoutException:
            return _error(504, "upstream timed out", "upstream_timeout")
        except httpx.HTTPError as exc:
            return self._unreachable(exc)
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
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            await _error(400, "request body must be a JSON object", "invalid_json", "invalid_request_error")(
                scope, receive, send)
            return
        turn = chat_turn(payload, self.history_turns)
        url = self._url("/chat/completions", scope.get("query_string", b""))
        headers = _forward_headers(scope["headers"])
        if payload.get("stream") is True:
            await self._stream(url, body, headers, turn, scope, receive, send)
        else:
            await (await self._complete(url, body, headers, turn))(scope, receive, send)

    # --- non-streamed -------------------------------------------------------------------------
    async def _complete(self, url: str, body: bytes, headers: list[tuple[bytes, bytes]],
                        turn: ChatTurn | None) -> Response:
        try:
            resp = await self._upstream("POST", url, headers, body)
        except httpx.TimeoutException:
            return _error(504, "upstream timed out", "upstream_timeout")
        except httpx.HTTPError as exc:
            return self._unreachable(exc)
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
    async def _stream(self, url: str, body: bytes, headers: list[tuple[bytes, bytes]], turn: ChatTurn | None,
                      scope: Scope, receive: Receive, send: Send) -> None:
        try:
            resp = await self._upstream("POST", url, headers, body, stream=True)
        except httpx.TimeoutException:
            await _error(504, "upstream timed out", "upstream_timeout")(scope, receive, send)
            return
        except httpx.HTTPError as exc:
            await self._unreachable(exc)(scope, receive, send)
            return
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
        if "text/event-stream" not in resp.headers.get("content-type", ""):
            await resp.aclose()
            await _error(502, "upstream did not answer with an event stream", "upstream_not_streaming")(
                scope, receive, send)
            return
        processor = ChatStreamProcessor(self.guard, turn, mode=self.mode, hold_sentences=self.hold_sentences)
        events = self._events(resp, processor)
        watcher: asyncio.Task[None] | None = None
        try:
            first = await anext(events, None)  # headers go with the first bytes: hold-all mode knows the verdict
            verdict = processor.verdict
            if verdict is not None and verdict.flagged:
                out_headers.append((FLAGS_HEADER.encode(), flags_value(verdict).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": out_headers})
            if first:
                await send({"type": "http.response.body", "body": first, "more_body": True})
            watcher = asyncio.ensure_future(_close_on_disconnect(receive, resp))
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if watcher is not None:
                watcher.cancel()
            await events.aclose()

    async def _events(self, resp: httpx.Response, processor: ChatStreamProcessor) -> AsyncGenerator[bytes, None]:
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


async def _close_on_disconnect(receive: Receive, resp: httpx.Response) -> None:
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
