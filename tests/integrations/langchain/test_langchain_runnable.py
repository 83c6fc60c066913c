"""GuardrailRunnable in all six call styles, inside LCEL with a prompt template, and the callback handler."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from guardrail_langchain import GuardrailCallbackHandler, GuardrailRunnable, reference_of
from integration_fakes import FLAT_REPLY, GRIEF_USER, PLAIN_REPLY, PLAIN_USER
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from guardrail import Guard, load_policy


def model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def verdict_of(message: BaseMessage) -> dict[str, Any]:
    verdict: dict[str, Any] = message.response_metadata["guardrail"]
    return verdict


def summed(chunks: list[BaseMessage]) -> AIMessageChunk:
    parts = [c for c in chunks if isinstance(c, AIMessageChunk)]
    assert len(parts) == len(chunks)
    total = parts[0]
    for c in parts[1:]:
        total = total + c
    return total


def test_invoke_flagged_and_unflagged(guard: Guard) -> None:
    guarded = GuardrailRunnable(model(FLAT_REPLY, PLAIN_REPLY), guard=guard)
    flagged = guarded.invoke(GRIEF_USER)
    assert isinstance(flagged, AIMessage) and flagged.content == FLAT_REPLY
    assert verdict_of(flagged)["flags"] == guard.check(user=GRIEF_USER, response=FLAT_REPLY).flags
    assert "attenuation" in verdict_of(flagged)["flags"]
    plain = guarded.invoke([HumanMessage(PLAIN_USER)])
    assert verdict_of(plain)["flagged"] is False and plain.content == PLAIN_REPLY


async def test_ainvoke(guard: Guard) -> None:
    out = await GuardrailRunnable(model(FLAT_REPLY), guard=guard).ainvoke(GRIEF_USER)
    assert "attenuation" in verdict_of(out)["flags"]


def test_batch(guard: Guard) -> None:
    outs = GuardrailRunnable(model(FLAT_REPLY, PLAIN_REPLY), guard=guard).batch(
        [GRIEF_USER, PLAIN_USER], config={"max_concurrency": 1})
    assert [verdict_of(o)["flagged"] for o in outs] == [True, False]


async def test_abatch(guard: Guard) -> None:
    outs = await GuardrailRunnable(model(FLAT_REPLY, PLAIN_REPLY), guard=guard).abatch(
        [GRIEF_USER, PLAIN_USER], config={"max_concurrency": 1})
    assert [verdict_of(o)["flagged"] for o in outs] == [True, False]


def test_stream_passes_chunks_then_the_verdict(guard: Guard) -> None:
    raw = list(model(FLAT_REPLY).stream(GRIEF_USER))
    chunks = list(GuardrailRunnable(model(FLAT_REPLY), guard=guard).stream(GRIEF_USER))
    assert [c.content for c in chunks[:-1]] == [c.content for c in raw]  # observe: unchanged, as they came
    assert chunks[-1].content == "" and "attenuation" in verdict_of(chunks[-1])["flags"]
    total = summed(chunks)
    assert total.content == FLAT_REPLY and "attenuation" in verdict_of(total)["flags"]


async def test_astream(guard: Guard) -> None:
    chunks = [c async for c in GuardrailRunnable(model(PLAIN_REPLY), guard=guard).astream(PLAIN_USER)]
    assert len(chunks) > 3
    total = summed(chunks)
    assert total.content == PLAIN_REPLY and verdict_of(total)["flagged"] is False


def test_lcel_pipeline_with_prompt_template(guard: Guard) -> None:
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are a kind friend."), MessagesPlaceholder("history"), ("human", "{message}")])
    guarded = GuardrailRunnable(prompt | model(FLAT_REPLY, FLAT_REPLY, FLAT_REPLY), guard=guard)
    inputs = {"message": GRIEF_USER, "history": [("human", "hi"), ("ai", "Hi! How are you?")]}
    assert "attenuation" in verdict_of(guarded.invoke(inputs))["flags"]
    assert "attenuation" in verdict_of(summed(list(guarded.stream(inputs))))["flags"]
    # and guarded as one step of a longer pipeline, streamed through a parser
    text = "".join((prompt | model(FLAT_REPLY) | StrOutputParser()).stream(inputs))
    assert text == FLAT_REPLY
    piped = prompt | GuardrailRunnable(model(FLAT_REPLY), guard=guard)  # input: the prompt's PromptValue
    assert "attenuation" in verdict_of(summed(list(piped.stream(inputs))))["flags"]


async def test_hold_mode_blocks_in_stream_and_invoke() -> None:
    guard = Guard(load_policy(attenuation={"action": "block"}), sinks=[])
    guarded = GuardrailRunnable(model(FLAT_REPLY, FLAT_REPLY), guard=guard, mode="hold", hold_sentences=None)
    total = summed([c async for c in guarded.astream(GRIEF_USER)])
    assert total.content == guard.policy.block_message
    assert verdict_of(total)["action"] == "block"
    assert guarded.invoke(GRIEF_USER).content == guard.policy.block_message


def test_reference_of_inputs() -> None:
    assert reference_of("hi there") == ("hi there", [])
    assert reference_of({"question": "why?", "chat_history": [("human", "a"), ("ai", "b")]}) == (
        "why?", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert reference_of({"topic": "x", "msg": "hello"}, user_key="msg") == ("hello", [])
    assert reference_of({"topic": "x"}) is None
    with pytest.raises(ValueError, match="user_key"):
        GuardrailRunnable(model(PLAIN_REPLY), guard=Guard(sinks=[])).invoke({"topic": "x"})


def test_callback_handler_logs_flagged_turn_without_changing_output(guard: Guard) -> None:
    handler = GuardrailCallbackHandler(guard)
    prompt = ChatPromptTemplate.from_messages([("system", "be kind"), ("human", "{message}")])
    chain = prompt | model(FLAT_REPLY, PLAIN_REPLY) | StrOutputParser()
    with structlog.testing.capture_logs() as logs:
        flagged = chain.invoke({"message": GRIEF_USER}, config={"callbacks": [handler]})
        plain = chain.invoke({"message": PLAIN_USER}, config={"callbacks": [handler]})
    assert (flagged, plain) == (FLAT_REPLY, PLAIN_REPLY)  # outputs untouched
    events = [e for e in logs if e["event"] == "guardrail.langchain.flagged"]
    assert len(events) == 1 and "attenuation" in events[0]["flags"]
    assert GRIEF_USER not in str(events) and FLAT_REPLY not in str(events)  # no text in the log
    assert len(handler.flagged) == 1 and handler.flagged[0].id == events[0]["run_id"]


async def test_callback_handler_in_async_streaming_chain(guard: Guard) -> None:
    handler = GuardrailCallbackHandler(guard)
    chunks = [c async for c in model(FLAT_REPLY).astream(GRIEF_USER, config={"callbacks": [handler]})]
    assert "".join(str(c.content) for c in chunks) == FLAT_REPLY
    assert len(handler.flagged) == 1 and "attenuation" in handler.flagged[0].flags
