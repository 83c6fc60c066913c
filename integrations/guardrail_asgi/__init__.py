"""ASGI middleware for apps that serve OpenAI-style chat completions themselves.

    from guardrail_asgi import GuardrailMiddleware
    app = GuardrailMiddleware(app, guard=Guard())          # or Starlette/FastAPI: app.add_middleware(...)

Requests to the chat-completions paths are checked like the proxy checks them: a flagged JSON
reply gets the header ``x-guardrail-flags`` and a top-level ``guardrail`` field; a flagged SSE
stream gets one more event before ``data: [DONE]``; unflagged replies pass byte for byte. Any
other request passes untouched. No web framework needed: plain ASGI.
"""

from guardrail_asgi.middleware import GuardrailMiddleware

__all__ = ["GuardrailMiddleware"]
