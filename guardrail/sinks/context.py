"""Conversation id for sink events, carried in a context variable.

>>> from guardrail.sinks import conversation
>>> with conversation("conv-42"):
...     verdict = guard.check(user=..., response=...)   # doctest: +SKIP

``Guard.acheck`` runs in a worker thread that inherits the context, so this works with asyncio
too. A ``conversation_id`` bound with ``structlog.contextvars.bind_contextvars`` is used when no
guardrail conversation is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

_conversation: ContextVar[str | None] = ContextVar("guardrail_conversation_id", default=None)


@contextmanager
def conversation(conversation_id: str | int | None) -> Iterator[None]:
    """Tag every sink event emitted inside the block with ``conversation_id``."""
    token = _conversation.set(None if conversation_id is None else str(conversation_id))
    try:
        yield
    finally:
        _conversation.reset(token)


def current_conversation() -> str | None:
    value = _conversation.get()
    if value is not None:
        return value
    bound = structlog.contextvars.get_contextvars().get("conversation_id")
    return None if bound is None else str(bound)
