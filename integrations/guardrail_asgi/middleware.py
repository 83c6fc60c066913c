"""Plain ASGI middleware: guard the chat completions an app serves itself."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from guardrail_wire import FLAGS_HEADER, ChatStreamProcessor, ChatTurn, chat_turn, check_completion, flags_value

from guardrail import Guard
from guardrail.stream import STREAM_MODES, StreamMode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GuardrailMiddleware:
    """Check every chat completion ``app`` answers on ``paths`` (JSON and ``text/event-stream``).

    ``mode="observe"`` (default) never delays the stream; ``mode="hold"`` holds up to
    ``hold_sentences`` sentences (None: the whole reply) so a ``block`` policy can still act.
    """

    def __init__(self, app: ASGIApp, guard: Guard | None = None, *,
                 paths: Iterable[str] = ("/v1/chat/completions", "/chat/completions"),
                 mode: StreamMode = "observe", hold_sentences: int | None = 2, history_turns: int = 6) -> None:
        if mode not in STREAM_MODES:
            raise ValueError(f"mode must be one of {STREAM_MODES}, not {mode!r}")
        self.app = app
        self.guard = guard or Guard()
        self.paths = frozenset(paths)
        self.mode: StreamMode = mode
        self.hold_sentences = hold_sentences
        self.history_turns = history_turns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its request
                await self.app(scope, _replay([message], receive), send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        try:
            turn = chat_turn(json.loads(body), self.history_turns)
        except ValueError:
            turn = None
        replay = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        if turn is None:  # nothing to check against: the app answers as it would
            await self.app(scope, replay, send)
            return
        await self.app(scope, replay, _GuardedSend(self, turn, send))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _without(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() != name]


class _GuardedSend:
    """Wraps ``send`` for one request: passes, buffers (JSON) or streams (SSE) the app's answer."""

    def __init__(self, middleware: GuardrailMiddleware, turn: ChatTurn, send: Send) -> None:
        self.mw = middleware
        self.turn = turn
        self.send = send
        self.kind = "pass"
        self.start: Message | None = None  # a held-back response start
        self.body: list[bytes] = []
        self.processor: ChatStreamProcessor | None = None
        self.finished = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            if self.kind == "pass":
                await self.send(message)
            elif not self.finished:  # after a block or a broken stream the app's rest is dropped
                await (self._json(message) if self.kind == "json" else self._sse(message))
        else:
            await self.send(message)

    async def _start(self, message: Message) -> None:
        headers = list(message.get("headers", []))
        content_type = _header(headers, b"content-type")
        if message.get("status") != 200:
            self.kind = "pass"
        elif "text/event-stream" in content_type:
            self.kind = "sse"
            self.processor = ChatStreamProcessor(self.mw.guard, self.turn, mode=self.mw.mode,
                                                 hold_sentences=self.mw.hold_sentences)
            message = {**message, "headers": _without(headers, b"content-length")}
            if self.processor.hold_all:  # the verdict comes before the first byte: it can go in a header
                self.start = message
                return
        elif "json" in content_type:
            self.kind = "json"
            self.start = message
            return
        await self.send(message)

    async def _json(self, message: Message) -> None:
        self.body.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        raw = b"".join(self.body)
        try:
            content, verdict = await check_completion(self.mw.guard, self.turn, raw)
        except ValueError:
            content, verdict = raw, None
        assert self.start is not None
        headers = _without(self.start.get("headers", []), b"content-length")
        headers.append((b"content-length", str(len(content)).encode()))
        if verdict is not None and verdict.flagged:
            headers.append((FLAGS_HEADER.encode(), flags_value(verdict).encode()))
        self.finished = True
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": content, "more_body": False})

    async def _sse(self, message: Message) -> None:
        processor = self.processor
        assert processor is not None
        outs = processor.feed(message.get("body", b""))
        last = not message.get("more_body", False) or processor.state != "streaming"
        if last:
            outs += await processor.aend()
            self.finished = True
        if self.start is not None and (outs or last):
            headers = list(self.start.get("headers", []))
            verdict = processor.verdict
            if verdict is not None and verdict.flagged:
                headers.append((FLAGS_HEADER.encode(), flags_value(verdict).encode()))
            await self.send({**self.start, "headers": headers})
            self.start = None
        if outs or last:
            await self.send({"type": "http.response.body", "body": b"".join(outs), "more_body": not last})
