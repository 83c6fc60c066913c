"""The OpenAI chat-completions wire format, guarded: shared by ``guardrail_proxy`` and ``guardrail_asgi``.

Sans-IO pieces, no web framework needed:

- ``chat_turn(request)``: the user's message and short history from a ``/v1/chat/completions``
  request body;
- ``check_completion(guard, turn, body)``: the verdict for a non-streamed completion and the body
  to return (the upstream bytes untouched when the reply is not flagged);
- ``SSEParser`` and ``ChatStreamProcessor``: guard an SSE stream event by event. Unflagged streams
  come out byte for byte; a flagged one gets one more event before ``data: [DONE]`` that carries
  the verdict as a top-level ``guardrail`` field. Malformed upstream events become an error event
  (``data: {"error": {...}}``, which the ``openai`` client raises as ``APIError``).
"""

from guardrail_wire.wire import (
    FLAGS_HEADER,
    ChatStreamProcessor,
    ChatTurn,
    SSEEvent,
    SSEParser,
    chat_turn,
    check_completion,
    error_body,
    error_event,
    flags_value,
)

__all__ = ["FLAGS_HEADER", "ChatStreamProcessor", "ChatTurn", "SSEEvent", "SSEParser", "chat_turn",
           "check_completion", "error_body", "error_event", "flags_value"]
