"""The ASGI middleware around an app that serves chat completions itself (the fake upstream)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from guardrail_asgi import GuardrailMiddleware
from integration_fakes import FLAT_REPLY, GRIEF_USER, PLAIN_REPLY, PLAIN_USER, make_upstream, serve

from guardrail import Guard, load_policy


@pytest.fixture(scope="module")
def app_url(guard: Guard) -> Iterator[str]:
    with serve(GuardrailMiddleware(make_upstream(), guard)) as url:
        yield url


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=10)


def ask(user: str, reply: str, model: str = "echo") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": user}], "extra_body": {"fake_reply": reply}}


def test_json_flagged_gets_header_and_field(app_url: str, guard: Guard) -> None:
    raw = client(app_url).chat.completions.with_raw_response.create(**ask(GRIEF_USER, FLAT_REPLY))
    expected = guard.check(user=GRIEF_USER, response=FLAT_REPLY)
    assert raw.headers["x-guardrail-flags"] == ",".join(expected.flags)
    completion = raw.parse()
    assert completion.model_extra["guardrail"]["flags"] == expected.flags
    assert int(raw.headers["content-length"]) == len(raw.http_response.content)


def test_unflagged_json_and_stream_pass_byte_for_byte(app_url: str, upstream: str) -> None:
    for stream in (False, True):
        body = {"model": "echo", "stream": stream, "messages": [{"role": "user", "content": PLAIN_USER}],
                "fake_reply": PLAIN_REPLY}
        via = httpx.post(app_url + "/v1/chat/completions", json=body)
        direct = httpx.post(upstream + "/chat/completions", json=body)  # the same app, unwrapped
        assert via.status_code == 200 and via.content == direct.content
        assert "x-guardrail-flags" not in via.headers


async def test_stream_flagged_verdict_last(app_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=app_url + "/v1", api_key="sk-test", max_retries=0) as c:
        stream = await c.chat.completions.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == FLAT_REPLY
    assert "attenuation" in chunks[-1].model_extra["guardrail"]["flags"]


def test_other_routes_and_errors_untouched(app_url: str) -> None:
    assert httpx.get(app_url + "/v1/models").json()["data"][0]["id"] == "echo"
    with pytest.raises(openai.InternalServerError):
        client(app_url).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="error500"))
    broken = client(app_url).chat.completions.create(**ask(PLAIN_USER, PLAIN_REPLY, model="broken"), stream=True)
    with pytest.raises(openai.APIError, match="malformed SSE"):
        list(broken)


def test_hold_all_blocks_with_header() -> None:
    guard = Guard(load_policy(attenuation={"action": "block"}), sinks=[])
    with serve(GuardrailMiddleware(make_upstream(), guard, mode="hold", hold_sentences=None)) as url:
        raw = client(url).chat.completions.with_raw_response.create(**ask(GRIEF_USER, FLAT_REPLY), stream=True)
        chunks = list(raw.parse())
    assert "attenuation" in raw.headers["x-guardrail-flags"]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == guard.policy.block_message
