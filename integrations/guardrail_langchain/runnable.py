"""``GuardrailRunnable``: guard any chat model or chain, in every call style."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel

from guardrail import Guard, Verdict
from guardrail.stream import STREAM_MODES, StreamChecker, StreamMode

#: keys of a chain's input dict that usually hold the user's message, tried in order
USER_KEYS = ("input", "question", "query", "user", "user_input", "message", "text", "content")
#: keys that hold a list of messages
MESSAGES_KEYS = ("messages", "chat_history", "history")
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}

Reference = tuple[str, list[dict[str, str]]]
UserKey = str | Callable[[Any], Any] | None


def _text(content: Any) -> str:
    """A message's text: its string content, or the text blocks of a list content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content
                       if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text"))
    return ""


def _from_messages(messages: Sequence[BaseMessage], history_turns: int = 6) -> Reference | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].type == "human":
            user = _text(messages[i].content)
            history = [{"role": _ROLES[m.type], "content": _text(m.content)}
                       for m in messages[max(0, i - history_turns):i] if m.type in _ROLES and _text(m.content)]
            return (user, history) if user.strip() else None
    return None


def _history(messages: list[Any], history_turns: int = 6) -> list[dict[str, str]]:
    try:
        converted = convert_to_messages(messages)
    except (ValueError, TypeError, NotImplementedError):
        return []
    return [{"role": _ROLES[m.type], "content": _text(m.content)}
            for m in converted[-history_turns:] if m.type in _ROLES and _text(m.content)]


def reference_of(value: Any, user_key: UserKey = None) -> Reference | None:
    """The user's message (and the messages before it) in a chain's input.

    Understands a string, a list of messages (or ``("human", "...")`` tuples), a ``PromptValue``,
    and a dict: ``user_key`` if given (a key, or a function of the input), else the first of
    ``USER_KEYS`` holding a string, else a list of messages under ``MESSAGES_KEYS``.
    """
    if callable(user_key):
        return reference_of(user_key(value))
    if isinstance(value, str):
        return (value, []) if value.strip() else None
    if isinstance(value, PromptValue):
        return _from_messages(value.to_messages())
    if isinstance(value, BaseMessage):
        return _from_messages([value])
    if isinstance(value, list | tuple) and value:
        try:
            return _from_messages(convert_to_messages(value))
        except (ValueError, TypeError, NotImplementedError):
            return None
    if isinstance(value, BaseModel) and not isinstance(value, BaseMessage):
        value = value.model_dump()
    if isinstance(value, dict):
        if user_key is not None:
            return reference_of(value.get(user_key))
        for key in USER_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                earlier: list[Any] = next((value[k] for k in MESSAGES_KEYS if isinstance(value.get(k), list)), [])
                return value[key], _history(earlier)
        for key in MESSAGES_KEYS:
            if isinstance(value.get(key), list):
                return reference_of(value[key])
    return None


def _as_message(output: Any) -> BaseMessage:
    if isinstance(output, BaseMessage):
        return output
    if isinstance(output, str):
        return AIMessage(content=output)
    raise TypeError(f"GuardrailRunnable guards chains that return a message or a string, not {type(output).__name__}")


def _as_chunk(output: Any) -> AIMessageChunk:
    if isinstance(output, AIMessageChunk):
        return output
    if isinstance(output, str):
        return AIMessageChunk(content=output)
    if isinstance(output, BaseMessage):
        return AIMessageChunk(content=output.content, id=output.id)
    raise TypeError(f"GuardrailRunnable guards chains that stream messages or strings, not {type(output).__name__}")


def _with_verdict(message: BaseMessage, verdict: Verdict) -> BaseMessage:
    update: dict[str, Any] = {"response_metadata": {**message.response_metadata,
                                                    "guardrail": verdict.model_dump(mode="json")}}
    if verdict.final_text is not None and verdict.final_text != _text(message.content):
        update["content"] = verdict.final_text  # block (or a rewrite) changes what the person sees
    return message.model_copy(update=update)


def _has_payload(chunk: AIMessageChunk) -> bool:
    return bool(chunk.tool_call_chunks or chunk.response_metadata or chunk.usage_metadata or chunk.additional_kwargs)


class GuardrailRunnable(Runnable[Any, BaseMessage]):
    """Runs ``chain`` and checks its reply against the user's message taken from the chain input.

    The output is the chain's message (a string output becomes an ``AIMessage``) with the verdict
    in ``response_metadata["guardrail"]``; when the policy blocks, its content is the block message.
    Streaming uses ``guardrail.stream``: ``mode="observe"`` passes chunks at once, ``mode="hold"``
    holds up to ``hold_sentences`` sentences so a block can still act. The verdict comes in one
    last chunk (content "") whose ``response_metadata["guardrail"]`` carries it.
    """

    def __init__(self, chain: Runnable[Any, Any], guard: Guard | None = None, *, user_key: UserKey = None,
                 mode: StreamMode = "observe", hold_sentences: int | None = 2, name: str | None = None) -> None:
        if mode not in STREAM_MODES:
            raise ValueError(f"mode must be one of {STREAM_MODES}, not {mode!r}")
        self.chain = chain
        self.guard = guard or Guard()
        self.user_key = user_key
        self.mode: StreamMode = mode
        self.hold_sentences = hold_sentences
        self.name = name or "GuardrailRunnable"

    @property
    def InputType(self) -> Any:  # LangChain's name
        return self.chain.InputType

    @property
    def OutputType(self) -> Any:  # LangChain's name
        return BaseMessage

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.chain.get_input_schema(config)  # type: ignore[return-value]

    def _reference(self, value: Any) -> Reference:
        found = reference_of(value, self.user_key)
        if found is None:
            raise ValueError("GuardrailRunnable found no user message in the chain input; pass user_key= "
                             "(the input key holding it, or a function of the input)")
        return found

    # --- invoke -------------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> BaseMessage:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig,
                **kwargs: Any) -> BaseMessage:
        user, history = self._reference(value)
        output = _as_message(self.chain.invoke(value, patch_config(config, callbacks=run_manager.get_child()),
                                               **kwargs))
        verdict = self.guard.check(user=user, response=_text(output.content), history=history)
        return _with_verdict(output, verdict)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> BaseMessage:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    async def _ainvoke(self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig,
                       **kwargs: Any) -> BaseMessage:
        user, history = self._reference(value)
        preparing = asyncio.ensure_future(asyncio.to_thread(self.guard.prepare, user))
        try:
            output = _as_message(await self.chain.ainvoke(
                value, patch_config(config, callbacks=run_manager.get_child()), **kwargs))
        finally:
            await asyncio.wait([preparing])
        verdict = await self.guard.acheck(user=user, response=_text(output.content), history=history)
        return _with_verdict(output, verdict)

    # batch / abatch: Runnable's own, which run invoke / ainvoke per input (with max_concurrency)

    # --- stream -------------------------------------------------------------------------------
    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[BaseMessage]:
        yield from self.transform(iter([input]), config, **kwargs)

    def transform(self, input: Iterator[Any], config: RunnableConfig | None = None,
                  **kwargs: Any) -> Iterator[BaseMessage]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    def _transform(self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig,
                   **kwargs: Any) -> Iterator[AIMessageChunk]:
        value = _gather(inputs)
        user, history = self._reference(value)
        checker = StreamChecker(self.guard, user=user, history=history, mode=self.mode,
                                hold_sentences=self.hold_sentences)
        last_id: str | None = None
        chunks = self.chain.stream(value, patch_config(config, callbacks=run_manager.get_child()), **kwargs)
        try:
            for raw in chunks:
                chunk = _as_chunk(raw)
                last_id = chunk.id or last_id
                out = self._step(checker, chunk)
                if out is not None:
                    yield out
                if checker.blocked:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if checker.blocked and close is not None:
                close()
        rest, verdict = checker.finish()
        yield _last_chunk(rest, verdict, last_id)

    async def astream(self, input: Any, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[BaseMessage]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk

    async def atransform(self, input: AsyncIterator[Any], config: RunnableConfig | None = None,
                         **kwargs: Any) -> AsyncIterator[BaseMessage]:
        async for chunk in self._atransform_stream_with_config(input, self._atransform, config, **kwargs):
            yield chunk

    async def _atransform(self, inputs: AsyncIterator[Any], run_manager: AsyncCallbackManagerForChainRun,
                          config: RunnableConfig, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        value: Any = None
        async for part in inputs:
            value = _add(value, part)
        user, history = self._reference(value)
        checker = StreamChecker(self.guard, user=user, history=history, mode=self.mode,
                                hold_sentences=self.hold_sentences)
        preparing = asyncio.ensure_future(asyncio.to_thread(checker.prepare))
        last_id: str | None = None
        chunks = self.chain.astream(value, patch_config(config, callbacks=run_manager.get_child()), **kwargs)
        try:
            async for raw in chunks:
                if checker.interim and not preparing.done():
                    await preparing
                chunk = _as_chunk(raw)
                last_id = chunk.id or last_id
                out = self._step(checker, chunk)
                if out is not None:
                    yield out
                if checker.blocked:
                    break
        finally:
            aclose = getattr(chunks, "aclose", None)
            if checker.blocked and aclose is not None:
                await aclose()
            await asyncio.wait([preparing])
        rest, verdict = await asyncio.to_thread(checker.finish)
        yield _last_chunk(rest, verdict, last_id)

    def _step(self, checker: StreamChecker, chunk: AIMessageChunk) -> AIMessageChunk | None:
        text = _text(chunk.content)
        shown = checker.feed(text) if text else ""
        if self.mode == "observe":
            return chunk
        if shown or _has_payload(chunk):
            return chunk.model_copy(update={"content": shown})
        return None


def _add(value: Any, part: Any) -> Any:
    """Input chunks are summed, as LangChain's own ``transform`` does."""
    if value is None:
        return part
    try:
        return value + part
    except TypeError:
        return {**value, **part} if isinstance(value, dict) and isinstance(part, dict) else part


def _gather(inputs: Iterator[Any]) -> Any:
    value: Any = None
    for part in inputs:
        value = _add(value, part)
    return value


def _last_chunk(rest: str, verdict: Verdict, run_id: str | None) -> AIMessageChunk:
    return AIMessageChunk(content=rest, id=run_id, response_metadata={"guardrail": verdict.model_dump(mode="json")})
