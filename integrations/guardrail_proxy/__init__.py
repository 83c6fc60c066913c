"""An OpenAI-compatible HTTP proxy that checks every chat completion (extra ``[proxy]``).

    guardrail serve --upstream http://127.0.0.1:8000/v1      # then point any OpenAI client at
    OpenAI(base_url="http://127.0.0.1:8080/v1")              # the proxy instead of the upstream

``guardrail_proxy.server`` holds ``create_app`` (a Starlette app) and ``run`` (uvicorn).
"""

__all__ = ["create_app", "run"]


def __getattr__(name: str) -> object:  # keep `import guardrail_proxy` free of the web stack
    if name in __all__:
        from guardrail_proxy import server

        return getattr(server, name)
    raise AttributeError(name)
