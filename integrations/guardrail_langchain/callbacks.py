"""``GuardrailCallbackHandler``: watch an existing chain, change nothing."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from guardrail import Guard, Verdict
from guardrail_langchain.runnable import Reference, _from_messages, _text

_log = structlog.get_logger("guardrail.langchain")


class GuardrailCallbackHandler(BaseCallbackHandler):
    """Checks every LLM reply in a chain against the prompt's last user message.

    Flagged turns are logged (``guardrail.langchain.flagged`` at warning level: run id, flags,
    scores, action; no text) and kept in ``flagged`` (the last ``keep``); the guard's own sinks
    receive every verdict too, with the LangChain run id as turn id. Outputs are never changed, and
    an error in the guard never reaches the chain.

        chain.invoke(inputs, config={"callbacks": [GuardrailCallbackHandler(guard)]})
    """

    raise_error = False

    def __init__(self, guard: Guard | None = None, *, keep: int = 1000,
                 on_flagged: Callable[[Verdict], None] | None = None) -> None:
        self.guard = guard or Guard()
        self.flagged: deque[Verdict] = deque(maxlen=keep)
        self.on_flagged = on_flagged
        self._references: dict[UUID, Reference] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID,
                            **kwargs: Any) -> None:
        found = _from_messages(messages[0]) if messages else None
        if found is not None:
            with self._lock:
                self._references[run_id] = found

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        if prompts and prompts[0].strip():
            with self._lock:
                self._references[run_id] = (prompts[0], [])

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._references.pop(run_id, None)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            reference = self._references.pop(run_id, None)
        if reference is None or not response.generations or not response.generations[0]:
            return
        generation = response.generations[0][0]
        reply = _text(generation.message.content) if isinstance(generation, ChatGeneration) else generation.text
        if not reply:
            return
        try:
            verdict = self.guard.check(user=reference[0], response=reply, history=reference[1], id=str(run_id))
        except Exception as exc:  # watching must never break the chain
            _log.error("guardrail.langchain.check_error", run_id=str(run_id), error=repr(exc))
            return
        if not verdict.flagged:
            return
        self.flagged.append(verdict)
        _log.warning("guardrail.langchain.flagged", run_id=str(run_id), flags=verdict.flags, scores=verdict.scores,
                     action=verdict.action)
        if self.on_flagged is not None:
            try:
                self.on_flagged(verdict)
            except Exception as exc:
                _log.error("guardrail.langchain.on_flagged_error", run_id=str(run_id), error=repr(exc))
