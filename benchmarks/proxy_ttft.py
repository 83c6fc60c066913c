"""Time to first token through the guarding proxy (observe mode) vs calling the upstream directly.

Everything runs on loopback in one run: a local OpenAI-compatible upstream (a subprocess) that
streams a reply at once, the proxy in front of it (another subprocess started through
``guardrail_proxy.server.run`` as ``guardrail serve`` does, ``mode="observe"``, the default Guard),
and this process as the client. Direct and proxied requests alternate (which goes first switches
every request), so both see the same machine state. TTFT = from sending the request to receiving
the first SSE event with non-empty content.

    python benchmarks/proxy_ttft.py                 # 300 + 300 requests; exits 1 if the budget is missed
    python benchmarks/proxy_ttft.py --requests 500 --json out.json
    python benchmarks/proxy_ttft.py --access-log    # with uvicorn's access log on, as `guardrail serve` has it

Reported: medians, p90 and p95 of each path, the added median (the budget) and p95, the median of
the pairwise differences, the HTTP parser and event loop uvicorn picked, and the 1-minute load
average before and after (measure on a quiet machine: other processes' CPU shows up as noise).

Budget (issue 4): the proxy adds at most 1 ms to the median TTFT, over at least 200 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRIEF_USER = "my dad died on tuesday, he was 58, i keep picking up my phone to text him and then i fall apart"
FLAT_REPLY = ("It sounds like you are navigating a challenging time. It is important to process your emotions. "
              "Consider reaching out to a professional.")
PLAIN_USER = "How do I reverse a list in Python?"
PLAIN_REPLY = ("Use slicing to get a reversed copy of the list. Or call the reverse method to reverse it in place. "
               "Both work on any list, and reversed() gives an iterator if you only need to loop.")
HERE = Path(__file__).resolve()


# --- the local upstream (plain ASGI, as cheap as possible) -------------------------------------
def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(content: str | None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    return _event({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                   "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def upstream_app(token_delay: float) -> Any:
    """An OpenAI-compatible upstream: streams the request's ``fake_reply`` word by word."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body or b"{}")
        reply = request.get("fake_reply", PLAIN_REPLY)
        if not request.get("stream"):
            payload = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
                                  "model": "bench", "choices": [{"index": 0, "finish_reason": "stop",
                                                                 "message": {"role": "assistant", "content": reply}}]})
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload.encode()})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        words = reply.split(" ")
        first = _chunk("", role=True) + _chunk(words[0])
        await send({"type": "http.response.body", "body": first, "more_body": True})
        for word in words[1:]:
            if token_delay:
                await asyncio.sleep(token_delay)
            await send({"type": "http.response.body", "body": _chunk(" " + word), "more_body": True})
        await send({"type": "http.response.body", "body": _chunk(None, "stop") + b"data: [DONE]\n\n",
                    "more_body": False})

    return app


# --- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@contextlib.contextmanager
def servers(token_delay: float = 0.0, mode: str = "observe", access_log: bool = False) -> Iterator[tuple[str, str]]:
    """Start the upstream and the proxy on loopback; yield (upstream base URL, proxy base URL)."""
    up_port, proxy_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(HERE), "--serve-upstream", str(up_port), "--token-delay",
                          str(token_delay)], env=env),
        subprocess.Popen([sys.executable, str(HERE), "--serve-proxy", str(proxy_port), "--upstream", upstream,
                          "--mode", mode, *(["--access-log"] if access_log else [])], env=env),
    ]
    try:
        wait_listening(up_port)
        wait_listening(proxy_port)
        yield upstream, f"http://127.0.0.1:{proxy_port}/v1"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def serve_upstream(port: int, token_delay: float) -> None:
    import uvicorn

    uvicorn.run(upstream_app(token_delay), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_proxy(port: int, upstream: str, mode: str, access_log: bool = False) -> None:
    """The proxy as ``guardrail serve`` runs it (``guardrail_proxy.server.run``: uvicorn with its
    default HTTP parser and event loop), the default Guard, errors-only logging unless ``access_log``."""
    import structlog
    from guardrail_proxy.server import run

    from guardrail import Guard

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only: no log I/O
    run(upstream, "127.0.0.1", port, Guard(), mode=mode, log_level="info" if access_log else "warning",
        access_log=access_log)


# --- measuring ---------------------------------------------------------------------------------
def request_body(flagged: bool) -> bytes:
    user, reply = (GRIEF_USER, FLAT_REPLY) if flagged else (PLAIN_USER, PLAIN_REPLY)
    return json.dumps({"model": "bench", "stream": True, "fake_reply": reply,
                       "messages": [{"role": "user", "content": user}]}).encode()


def _first_content(data: bytes) -> bool:
    return any(b'"content":"' in ev and b'"content":""' not in ev for ev in data.split(b"\n\n"))


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams, so the client's own cost (the same
    for both paths) stays small next to what is measured."""

    def __init__(self, base: str) -> None:
        rest = base.split("//", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.split(":")
        self.host, self.port, self.path = host, int(port), f"/{path}/chat/completions"
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def stream(self, body: bytes, timeout: float = 30.0) -> tuple[float, float, bytes]:
        """(TTFT seconds, total seconds, body) of one streamed completion."""
        async with asyncio.timeout(timeout):
            if self._conn is None:
                self._conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._conn
            head = (f"POST {self.path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
                    f"authorization: Bearer sk-bench\r\ncontent-length: {len(body)}\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(head + body)
            status = await reader.readuntil(b"\r\n\r\n")
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(status.split(b"\r\n", 1)[0].decode())
            ttft = 0.0
            parts = []
            while True:  # chunked body
                size = int((await reader.readline()).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                if not ttft and _first_content(data):
                    ttft = time.perf_counter() - start
                parts.append(data[:-2])
            total = time.perf_counter() - start
        out = b"".join(parts)
        if not ttft or not out.rstrip().endswith(b"data: [DONE]"):
            raise RuntimeError("incomplete stream")
        return ttft, total, out


async def measure(upstream: str, proxy: str, n: int, warmup: int) -> dict[str, Any]:
    direct: list[float] = []
    proxied: list[float] = []
    clients = {upstream: RawClient(upstream), proxy: RawClient(proxy)}
    verdicts = 0
    try:
        for i in range(warmup + n):
            flagged = i % 4 == 0  # a quarter of the replies are flagged: the guard works at each stream's end
            body = request_body(flagged)
            order = [(upstream, direct), (proxy, proxied)] if i % 2 else [(proxy, proxied), (upstream, direct)]
            for base, out in order:
                ttft, _, data = await clients[base].stream(body)
                verdicts += base == proxy and b'"guardrail":' in data
                if i >= warmup:
                    out.append(ttft)
    finally:
        for c in clients.values():
            await c.close()
    med_d, med_p = statistics.median(direct), statistics.median(proxied)
    return {
        "requests_each": n,
        "direct_median_ms": round(med_d * 1000, 3),
        "proxy_median_ms": round(med_p * 1000, 3),
        "added_median_ms": round((med_p - med_d) * 1000, 3),
        "direct_p90_ms": round(_pct(direct, 90) * 1000, 3),
        "proxy_p90_ms": round(_pct(proxied, 90) * 1000, 3),
        "direct_p95_ms": round(_pct(direct, 95) * 1000, 3),
        "proxy_p95_ms": round(_pct(proxied, 95) * 1000, 3),
        "added_p95_ms": round((_pct(proxied, 95) - _pct(direct, 95)) * 1000, 3),
        # the added TTFT pair by pair (each proxied request against the direct one next to it)
        "added_paired_median_ms": round(statistics.median([p - d for p, d in zip(proxied, direct, strict=True)]) * 1000,
                                        3),
        "flagged_streams_with_verdict": verdicts,
        "flagged_streams": sum(1 for i in range(warmup + n) if i % 4 == 0),
    }


def server_stack() -> dict[str, str]:
    """What uvicorn picks here with ``http="auto"`` and ``loop="auto"`` (the proxy's and the upstream's)."""
    import importlib.util

    return {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per path (>= 200)")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--budget-ms", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="observe", help=argparse.SUPPRESS)
    parser.add_argument("--access-log", action="store_true",
                        help="run the proxy with uvicorn's access log on (as `guardrail serve` does)")
    parser.add_argument("--token-delay", type=float, default=0.005,
                        help="seconds between the upstream's tokens (0.005: 200 tokens/s, a fast local model)")
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.token_delay)
        return 0
    if args.serve_proxy:
        serve_proxy(args.serve_proxy, args.upstream, args.mode, args.access_log)
        return 0
    if args.requests < 200:
        parser.error("--requests must be at least 200")
    load_before = os.getloadavg()[0]
    with servers(token_delay=args.token_delay, access_log=args.access_log) as (upstream, proxy):
        result = asyncio.run(measure(upstream, proxy, args.requests, args.warmup))
    result["proxy_access_log"] = args.access_log
    result["server_stack"] = server_stack()
    result["load_average_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    result["budget_ms"] = args.budget_ms
    result["within_budget"] = result["added_median_ms"] <= args.budget_ms
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
