"""Test kit for the integrations: a local OpenAI-compatible upstream on loopback, a helper to serve
any ASGI app in a thread, and the example turns.

The upstream answers with the reply the request names in ``fake_reply`` (sent by the ``openai``
client as ``extra_body``); the ``model`` picks a behaviour: ``echo`` (normal), ``error500``,
``slow`` (answers after 5 s), ``stall`` (streams a little, then goes quiet), ``broken`` (an
event that is not JSON), ``cut`` (closes the stream without finishing).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

GRIEF_USER = ("my dad died on tuesday, he was 58, i keep picking up my phone to text him and then i fall apart")
FLAT_REPLY = ("It sounds like you are navigating a challenging time. It is important to process your emotions. "
              "Consider reaching out to a professional.")
WARM_REPLY = ("Oh no, I'm so sorry about your dad. Fifty-eight is far too young, and Tuesday was only days ago. "
              "Reaching for your phone to text him and then falling apart makes complete sense: your hands still "
              "expect him to be there. What was he like to text with?")
PLAIN_USER = "How do I reverse a list in Python?"
PLAIN_REPLY = "Use slicing: items[::-1] returns a reversed copy, and items.reverse() reverses the list in place."


def chunk(text: str | None, *, role: bool = False, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if text is not None:
        delta["content"] = text
    obj = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": "echo",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def completion(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": "echo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def make_upstream() -> Starlette:
    seen: dict[str, Any] = {"authorization": []}

    async def chat(request: Request) -> Response:
        seen["authorization"].append(request.headers.get("authorization"))
        body = await request.json()
        model = body.get("model", "echo")
        reply = body.get("fake_reply", PLAIN_REPLY)
        if model == "error500":
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error", "code": None}},
                                status_code=500)
        if model == "slow":
            await asyncio.sleep(5)
        if not body.get("stream"):
            return JSONResponse(completion(reply), headers={"x-upstream": "yes"})

        async def events() -> AsyncIterator[bytes]:
            yield chunk("", role=True)
            parts = pieces(reply)
            for i, part in enumerate(parts):
                if model == "stall" and i == 2:
                    await asyncio.sleep(5)
                if model == "broken" and i == 2:
                    yield b"data: {this is not json\n\n"
                if model == "cut" and i == 2:
                    return
                yield chunk(part)
            yield chunk(None, finish="stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"x-upstream": "yes"})

    async def models(request: Request) -> Response:
        seen["authorization"].append(request.headers.get("authorization"))
        return JSONResponse({"object": "list", "data": [{"id": "echo", "object": "model", "created": 0,
                                                         "owned_by": "test"}]})

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                            Route("/v1/models", models, methods=["GET"])])
    app.state.seen = seen
    return app


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
