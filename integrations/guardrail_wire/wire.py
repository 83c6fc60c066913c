"""Requests, completions and SSE streams of the OpenAI chat-completions API, checked by a Guard."""

from __future__ import annotations

import asyncio
import json
import json.scanner
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import structlog

from guardrail import Guard, Verdict
from guardrail.stream import StreamChecker, StreamMode

_log = structlog.get_logger("guardrail.wire")

#: response header naming the flagged mechanisms, comma-separated
FLAGS_HEADER = "x-guardrail-flags"
#: an SSE event that grows past this without ending is treated as a broken stream
MAX_EVENT_BYTES = 1 << 20

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool",
          "function": "tool"}


# --- requests and completions ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChatTurn:
    """What the reply is checked against: the last user message and the messages before it."""

    user: str
    history: list[dict[str, str]] = field(default_factory=list)


def content_text(content: Any) -> str | None:
    """The text of a message's ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") in ("text", "input_text")]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def chat_turn(request: Any, history_turns: int = 6) -> ChatTurn | None:
    """The turn a chat-completions request body asks about; None when there is no user message."""
    if not isinstance(request, dict):
        return None
    messages = request.get("messages")
    if not isinstance(messages, list):
        return None
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, dict) and message.get("role") == "user":
            user = content_text(message.get("content"))
            if not user or not user.strip():
                return None
            history = []
            for earlier in messages[max(0, i - history_turns):i]:
                if not isinstance(earlier, dict):
                    continue
                role, text = _ROLES.get(str(earlier.get("role"))), content_text(earlier.get("content"))
                if role and text:
                    history.append({"role": role, "content": text})
            return ChatTurn(user=user, history=history)
    return None


def flags_value(verdict: Verdict) -> str:
    """The ``x-guardrail-flags`` header value."""
    return ",".join(verdict.flags)


def error_body(message: str, code: str, type: str = "guardrail_proxy_error") -> bytes:
    """An OpenAI-style error object."""
    return json.dumps({"error": {"message": message, "type": type, "param": None, "code": code}}).encode()


def error_event(message: str, code: str) -> bytes:
    """An SSE error event; the ``openai`` client raises it as ``APIError``."""
    return b"data: " + error_body(message, code) + b"\n\n"


_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # C scanner where there is one


def loads(text: str) -> Any:
    """``json.loads(text)``; a compact JSON text (an SSE event's data) costs one C-level call."""
    try:
        obj, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end == len(text):
        return obj
    return json.loads(text)  # surrounding whitespace, or an error: json.loads's own answer


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


async def check_completion(guard: Guard, turn: ChatTurn, body: bytes) -> tuple[bytes, Verdict | None]:
    """Check a non-streamed completion; return the body to send and the verdict.

    The body is returned untouched unless the reply is flagged (then it gains a top-level
    ``guardrail`` field, and a blocked reply's content is replaced). Raises ``ValueError`` when
    the body is not a JSON object.
    """
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("completion is not a JSON object")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return body, None
    message = choices[0].get("message")
    reply = content_text(message.get("content")) if isinstance(message, dict) else None
    if not reply:  # tool calls, refusals without content: nothing to compare
        return body, None
    verdict = await guard.acheck(user=turn.user, response=reply, history=turn.history)
    if not verdict.flagged:
        return body, verdict
    if verdict.final_text is not None and verdict.final_text != reply and isinstance(message, dict):
        message["content"] = verdict.final_text
        if verdict.action == "block":
            choices[0]["finish_reason"] = "content_filter"
    obj["guardrail"] = verdict.model_dump(mode="json")
    return _dump(obj), verdict


# --- server-sent events -----------------------------------------------------------------------
class SSEError(ValueError):
    """The upstream's event stream cannot be parsed."""


class SSEEvent(NamedTuple):
    """One event: its exact bytes (separator included) and its data (None for comments)."""

    raw: bytes
    data: str | None


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_new_event = tuple.__new__  # SSEEvent(raw, data) without the namedtuple's Python-level __new__
_LINE = re.compile(rb"\r\n|\n|\r")


class SSEParser:
    """Split a byte stream into events, keeping each event's bytes as they came."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._max = max_event_bytes

    @property
    def leftover(self) -> bytes:
        """Bytes of an event that has not ended (yet)."""
        return self._buf

    def feed(self, data: bytes) -> list[SSEEvent]:
        buf = self._buf + data if self._buf else data
        events = []
        start = 0
        if b"\r" not in buf:  # the usual \n line ends: plain searches, no regex
            find = buf.find
            while (end := find(b"\n\n", start)) >= 0:
                events.append(_new_event(SSEEvent, (buf[start:end + 2], _data_of(buf[start:end]))))
                start = end + 2
        else:
            for m in _EVENT_END.finditer(buf):
                events.append(SSEEvent(buf[start:m.end()], _data_of(buf[start:m.start()])))
                start = m.end()
        self._buf = buf[start:] if start else buf
        if len(self._buf) > self._max:
            raise SSEError(f"an upstream event exceeded {self._max} bytes without ending")
        return events


def _data_of(block: bytes) -> str | None:
    if block.startswith(b"data: ") and b"\n" not in block and b"\r" not in block:  # the usual one-line event
        try:
            return block[6:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSEError("upstream event is not UTF-8") from exc
    data = [line[5:].removeprefix(b" ") for line in _LINE.split(block) if line.startswith(b"data:")]
    if not data:
        return None
    try:
        return b"\n".join(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SSEError("upstream event is not UTF-8") from exc


class _Held(NamedTuple):
    raw: bytes
    content_end: int  # reply characters received up to and including this event
    has_content: bool


class ChatStreamProcessor:
    """Guard one ``stream: true`` chat completion, sans-IO.

    ``feed(bytes)`` returns the bytes to send now; once upstream is done (``data: [DONE]``, end of
    stream or an I/O error), ``await aend(error=...)`` returns the rest: held events, the verdict
    event when flagged, ``[DONE]`` or an error event. ``state`` says whether to keep reading.

    ``observe`` forwards each event as soon as it is complete. ``hold`` forwards an event only
    once the checker has released all of its text; ``hold_sentences=None`` holds the whole stream
    until the verdict (so a server can still put the verdict in the response headers).
    """

    def __init__(self, guard: Guard, turn: ChatTurn | None, *, mode: StreamMode = "observe",
                 hold_sentences: int | None = 2) -> None:
        self._guard, self._turn, self._mode, self._hold_sentences = guard, turn, mode, hold_sentences
        self.hold = mode == "hold" and turn is not None
        # observe mode keeps the first bytes' path free of the guard: the reply's text is collected
        # and checked once at the end; hold mode checks at each sentence boundary on the way
        self.checker: StreamChecker | None = self._new_checker() if self.hold else None
        self._deltas: list[str] = []
        self.hold_all = self.hold and hold_sentences is None
        self.parser = SSEParser()
        self.state: Literal["streaming", "done", "ended"] = "streaming"
        self.verdict: Verdict | None = None
        self.error: str | None = None
        self.saw_finish = False
        self._queue: deque[_Held] = deque()
        self._received = 0  # reply characters received
        self._emitted = 0  # reply characters inside events already sent
        self._done_raw = b""
        self._trailing: list[bytes] = []
        self._meta: dict[str, Any] = {}

    # --- feeding ------------------------------------------------------------------------------
    def _new_checker(self) -> StreamChecker | None:
        turn = self._turn
        if turn is None:
            return None
        return StreamChecker(self._guard, user=turn.user, history=turn.history, mode=self._mode,
                             hold_sentences=self._hold_sentences)

    def prepare(self) -> None:
        """Analyse the user's message (CPU work: run it in a worker thread while the reply streams)."""
        if self.checker is not None:
            self.checker.prepare()
        elif self._turn is not None:
            self._guard.prepare(self._turn.user)  # cached by the guard: the final check finds it ready

    def feed(self, data: bytes) -> list[bytes]:
        if self.state != "streaming":
            if self.state == "done":
                self._trailing.append(data)
            return []
        out: list[bytes] = []
        try:
            events = self.parser.feed(data)
        except SSEError as exc:
            return self._fail(str(exc))
        for ev in events:
            if self.state != "streaming":
                self._trailing.append(ev.raw)
                continue
            data_ = ev.data
            if data_ is None:  # comments and keep-alives go straight through
                out.append(ev.raw)
                continue
            if data_[:1] != "{" and data_.strip() == "[DONE]":
                self._done_raw = ev.raw
                self.state = "done"
                continue
            try:
                obj = loads(data_)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                return out + self._fail("upstream sent a malformed SSE event (data is not a JSON object)")
            if obj.get("error"):  # the upstream's own error event: pass it on and stop
                out.append(ev.raw)
                self.state, self.error = "ended", "upstream error event"
                return out
            delta = self._content_of(obj)
            if not self.hold:
                out.append(ev.raw)
                if delta and self._turn is not None:
                    self._deltas.append(delta)
                continue
            checker = self.checker
            assert checker is not None
            shown = checker.feed(delta) if delta else ""
            if checker.blocked:
                return out + self._blocked(shown)
            self._received += len(delta)
            self._queue.append(_Held(ev.raw, self._received, bool(delta)))
            out.extend(self._release())
        return out

    async def aend(self, error: tuple[str, str] | None = None) -> list[bytes]:
        """The rest of the stream once upstream is done; ``error=(message, code)`` when it failed."""
        if self.state == "ended":
            return []
        if error is None and self.state == "streaming" and not self.saw_finish:
            error = ("upstream stream ended before the reply was complete", "upstream_incomplete")
        if error is None and self.parser.leftover.strip() and self.state == "streaming":
            error = ("upstream stream ended inside an event", "upstream_malformed_sse")
        out: list[bytes] = []
        if self._deltas:  # observe mode: the whole reply, checked once
            if self.checker is None:
                self.checker = self._new_checker()
            if self.checker is not None:
                self.checker.feed("".join(self._deltas))
            self._deltas.clear()
        checker = self.checker
        if checker is not None and checker.text:
            before = checker.released_chars
            try:
                rest, verdict = await asyncio.to_thread(checker.finish)
            except Exception as exc:  # the guard never breaks the stream
                _log.error("guardrail.wire.check_error", error=repr(exc))
                rest, verdict = checker.text[before:], None
            self.verdict = verdict
            if self.hold:
                out.extend(self._final_release(before, rest))
            if verdict is not None and verdict.flagged:
                out.append(self._verdict_event(verdict))
        else:
            out.extend(h.raw for h in self._queue)
            self._queue.clear()
        if error is not None:
            self.error = error[0]
            out.append(error_event(*error))
        elif self._done_raw:
            out.append(self._done_raw)
            out.extend(self._trailing)
        self.state = "ended"
        return out

    # --- internals ----------------------------------------------------------------------------
    def _content_of(self, chunk: dict[str, Any]) -> str:
        for key in ("id", "created", "model", "system_fingerprint"):
            if key in chunk:
                self._meta[key] = chunk[key]
        content = ""
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                if choice.get("finish_reason"):
                    self.saw_finish = True
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    content += delta["content"]
        return content

    def _release(self) -> list[bytes]:
        if self.hold_all or self.checker is None:
            return []
        released = self.checker.released_chars
        out = []
        while self._queue and self._queue[0].content_end <= released:
            held = self._queue.popleft()
            out.append(held.raw)
            self._emitted = held.content_end
        return out

    def _final_release(self, before: int, rest: str) -> list[bytes]:
        assert self.checker is not None
        full = self.checker.text
        if rest == full[before:]:  # the reply stands: everything held goes out as it came
            out = [h.raw for h in self._queue]
            self._queue.clear()
            return out
        # the held part was replaced: text released but not yet sent, then the replacement
        out = [self._chunk(full[self._emitted:before] + rest, None)]
        out.extend(h.raw for h in self._queue if not h.has_content)  # finish reason, usage
        self._queue.clear()
        return out

    def _blocked(self, replacement: str) -> list[bytes]:
        assert self.checker is not None
        self.verdict = self.checker.verdict
        lead = self.checker.text[self._emitted:self.checker.released_chars] if self.hold else ""
        out = [self._chunk(lead + replacement, "content_filter")]
        if self.verdict is not None:
            out.append(self._verdict_event(self.verdict))
        out.append(b"data: [DONE]\n\n")
        self._queue.clear()
        self.state = "ended"
        return out

    def _fail(self, message: str) -> list[bytes]:
        _log.warning("guardrail.wire.bad_upstream_stream", error=message)
        self.state, self.error = "ended", message
        self._queue.clear()
        return [error_event(message, "upstream_malformed_sse")]

    def _base(self) -> dict[str, Any]:
        return {"id": self._meta.get("id", "chatcmpl-guardrail"), "object": "chat.completion.chunk",
                "created": self._meta.get("created", 0), "model": self._meta.get("model", "")}

    def _chunk(self, content: str, finish_reason: str | None) -> bytes:
        obj = self._base()
        obj["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": finish_reason}]
        return b"data: " + _dump(obj) + b"\n\n"

    def _verdict_event(self, verdict: Verdict) -> bytes:
        obj = self._base()
        obj["choices"] = []
        obj["guardrail"] = verdict.model_dump(mode="json")
        return b"data: " + _dump(obj) + b"\n\n"
