"""The proxy against a local upstream, driven by the official ``openai`` client (sync and async)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import structlog
from guardrail_proxy.server import create_app, redact_url
from integration_fakes import FLAT_REPLY, GRIEF_USER, PLAIN_REPLY, PLAIN_USER, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardrail import Guard, load_policy

SECRET = "sk-test-DO-NOT-LOG-4242"


@pytest.fixture(scope="module")
def proxy(upstream: str, guard: Guard) -> Iterator[str]:
    with serve(create_app(upstream, guard, timeout=0.5, connect_timeout=0.5)) as url:
        yield url


@pytest.fixture(scope="module")
def hold_proxy(upstream: str) -> Iterator[str]:
    """Hold the whole reply; attenuation blocks."""
    guard = Guard(load_policy(attenuation={"action": "block"}), sinks=[])
    with serve(create_app(upstream, guard, mode="hold", hold_sentences=None, timeout=1.0)) as url:
        yield url


def client(proxy: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy + "/v1", api_key=SECRET, max_retries=0, timeout=10)


def aclient(proxy: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy + "/v1", api_key=SECRET, max_retries=0, timeout=10)


def ask(user: str, reply: str, model: str = "echo") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": "be kind"}, {"role": "user", "content": user}],
            "extra_body": {"fake_reply": reply}}


# --- non-streamed ----------------------------------------------------------------------------
def test_sync_json_flagged(proxy: str, guard: Guard) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(**ask(GRIEF_USER, FLAT_REPLY))
    completion = raw.parse()
    expected = guard.check(user=GRIEF_USER, response=FLAT_REPLY)
    assert completion.choices[0].message.content == FLAT_REPLY
    verdict = completion.model_extra["guardrail"]
    assert verdict["flagged"] is True and "attenuation" in verdict["flags"]
    assert verdict["flags"] == expected.flags
    assert raw.headers["x-guardrail-flags"] == ",".join(expected.flags)
    assert raw.headers["x-upstream"] == "yes"  # upstream headers pass through


def test_sync_json_unflagged_is_byte_for_byte(proxy: str, upstream: str) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": PLAIN_USER}], "fake_reply": PLAIN_REPLY}
    direct = httpx.post(upstream + "/chat/completions", json=body)
    via = httpx.post(proxy + "/v1/chat/completions", json=body)
    assert via.status_code == 200
    assert via.content == direct.content
    assert "x-guardrail-flags" not in via.headers
    completion = client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY))
    assert completion.choices[0].message.content == PLAIN_REPLY
    assert "guardrail" not in (completion.model_extra or {})


async def test_async_json_flagged_and_unflagged(proxy: str) -> None:
    async with aclient(proxy) as c:
        flagged = await c.chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY))
        plain = await c.chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY))
    assert "attenuation" in flagged.model_extra["guardrail"]["flags"]
    assert "guardrail" not in (plain.model_extra or {})


# --- streamed ----------------------------------------------------------------------------------
def test_sync_stream_flagged_verdict_in_last_event(proxy: str, guard: Guard) -> None:
    chunks = list(client(proxy).chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FLAT_REPLY  # observe mode: the reply itself is untouched
    last = chunks[-1]
    assert last.choices == []
    assert last.model_extra["guardrail"]["flags"] == guard.check(user=GRIEF_USER, response=FLAT_REPLY).flags
    assert all("guardrail" not in (c.model_extra or {}) for c in chunks[:-1])


def test_sync_stream_unflagged_is_byte_for_byte(proxy: str, upstream: str) -> None:
    body = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": PLAIN_USER}],
            "fake_reply": PLAIN_REPLY}
    direct = httpx.post(upstream + "/chat/completions", json=body)
    via = httpx.post(proxy + "/v1/chat/completions", json=body)
    assert via.status_code == 200 and via.headers["content-type"].startswith("text/event-stream")
    assert via.content == direct.content
    chunks = list(client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == PLAIN_REPLY
    assert all("guardrail" not in (c.model_extra or {}) for c in chunks)


async def test_async_stream_flagged(proxy: str) -> None:
    async with aclient(proxy) as c:
        stream = await c.chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FLAT_REPLY
    assert "attenuation" in chunks[-1].model_extra["guardrail"]["flags"]


async def test_async_stream_unflagged(proxy: str) -> None:
    async with aclient(proxy) as c:
        stream = await c.chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY), stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == PLAIN_REPLY
    assert all("guardrail" not in (c.model_extra or {}) for c in chunks)


def test_hold_all_blocks_and_sets_header(hold_proxy: str, guard: Guard) -> None:
    raw = client(hold_proxy).chat.completions.with_raw_response.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True)
    assert "attenuation" in raw.headers["x-guardrail-flags"].split(",")
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == load_policy().block_message  # nothing of the flat reply got out
    assert chunks[-1].model_extra["guardrail"]["action"] == "block"
    # an unflagged reply in hold mode still arrives whole and unchanged
    plain = list(client(hold_proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in plain if c.choices) == PLAIN_REPLY


def test_hold_all_json_block_replaces_content(hold_proxy: str) -> None:
    completion = client(hold_proxy).chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY))
    assert completion.choices[0].message.content == load_policy().block_message
    assert completion.choices[0].finish_reason == "content_filter"


# --- upstream failures --------------------------------------------------------------------------
def test_upstream_500_sync_and_stream(proxy: str) -> None:
    with pytest.raises(openai.InternalServerError) as exc:
        client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="error500"))
    assert "upstream exploded" in str(exc.value)
    with pytest.raises(openai.InternalServerError):
        client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="error500"), stream=True)


async def test_upstream_500_async(proxy: str) -> None:
    async with aclient(proxy) as c:
        with pytest.raises(openai.InternalServerError):
            await c.chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="error500"))


def test_upstream_timeout_is_504(proxy: str) -> None:
    with pytest.raises(openai.APIStatusError) as exc:
        client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="slow"))
    assert exc.value.status_code == 504
    with pytest.raises(openai.APIStatusError) as exc:
        client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="slow"), stream=True)
    assert exc.value.status_code == 504


def test_upstream_stall_mid_stream_ends_with_error_event(proxy: str) -> None:
    stream = client(proxy).chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY, model="stall"), stream=True)
    got = []
    with pytest.raises(openai.APIError, match="read timeout"):
        for c in stream:
            got.append(c)
    assert got  # what came before the stall was passed on


async def test_broken_sse_ends_with_error_event(proxy: str) -> None:
    async with aclient(proxy) as c:
        stream = await c.chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="broken"), stream=True)
        with pytest.raises(openai.APIError, match="malformed SSE"):
            async for _ in stream:
                pass


def test_cut_stream_ends_with_error_event(proxy: str) -> None:
    with pytest.raises(openai.APIError, match="ended before the reply was complete"):
        for _ in client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="cut"), stream=True):
            pass


def test_unreachable_upstream_is_502(guard: Guard) -> None:
    with serve(create_app("http://127.0.0.1:9/v1", guard, timeout=1.0, connect_timeout=0.5)) as url:
        resp = httpx.post(url + "/v1/chat/completions", json={"model": "x", "messages": []})
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "upstream_unreachable"


def test_bad_request_body_is_400(proxy: str) -> None:
    resp = httpx.post(proxy + "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"


def test_upstream_malformed_json_is_502(guard: Guard) -> None:
    async def chat(request: Request) -> Response:
        return Response(b"<html>oops</html>", media_type="application/json")

    bad = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with serve(bad) as up, serve(create_app(up + "/v1", guard, timeout=1.0)) as url:
        resp = httpx.post(url + "/v1/chat/completions",
                          json={"model": "x", "messages": [{"role": "user", "content": PLAIN_USER}]})
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "upstream_malformed"


# --- other routes, headers, logs -----------------------------------------------------------------
def test_models_passthrough_and_healthz(proxy: str, upstream: str) -> None:
    models = client(proxy).models.list()
    assert [m.id for m in models.data] == ["echo"]
    assert httpx.get(proxy + "/v1/models").content == httpx.get(upstream + "/models").content
    health = httpx.get(proxy + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_auth_forwarded_never_logged(proxy: str, upstream_app: Starlette, caplog: pytest.LogCaptureFixture,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    upstream_app.state.seen["authorization"].clear()
    with structlog.testing.capture_logs() as events:
        client(proxy).chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY))
        list(client(proxy).chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True))
        with pytest.raises(openai.APIError):
            list(client(proxy).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="broken"), stream=True))
        client(proxy).models.list()
    assert upstream_app.state.seen["authorization"] == [f"Bearer {SECRET}"] * 4
    out, err = capfd.readouterr()
    assert SECRET not in json.dumps(events, default=str)
    assert SECRET not in caplog.text and SECRET not in out and SECRET not in err


def test_redact_url() -> None:
    assert redact_url("https://user:pw@example.com:8443/v1") == "https://example.com:8443/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
