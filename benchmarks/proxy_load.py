"""Load test of the guarding proxy: 100 concurrent streamed completions, loopback only, bounded.

A local upstream (subprocess) streams a ~35-token reply at ``--token-delay`` seconds per token;
the proxy (subprocess, observe mode, default Guard) sits in front of it. Each round sends
``--concurrency`` streams at once straight to the upstream, then the same number through the
proxy; a quarter of the replies are flagged, so the guard does real work at the end of each stream.
Reported: errors (non-200, broken or incomplete streams, timeouts), and the p50/p95 of time to
first token and of the whole stream on each path, with the proxy's added latency.

    python benchmarks/proxy_load.py                    # 3 rounds x 100 concurrent; exits 1 on any error
    python benchmarks/proxy_load.py --rounds 5 --json out.json

Bounded: at most rounds x concurrency x 2 requests, each with a 30 s limit, the whole run 5 min;
everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from proxy_ttft import RawClient, _pct, request_body, servers


async def one(base: str, flagged: bool) -> tuple[float, float, bool] | str:
    client = RawClient(base)
    try:
        ttft, total, body = await client.stream(request_body(flagged), timeout=30.0)
        return ttft, total, b'"guardrail":' in body
    except Exception as exc:  # counted, reported
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()


async def wave(base: str, n: int) -> list[tuple[float, float, bool] | str]:
    return await asyncio.gather(*(one(base, i % 4 == 0) for i in range(n)))


def summary(results: list[tuple[float, float, bool] | str]) -> dict[str, Any]:
    ok = [r for r in results if not isinstance(r, str)]
    ttft = [r[0] for r in ok] or [0.0]
    total = [r[1] for r in ok] or [0.0]
    return {"requests": len(results), "errors": len(results) - len(ok),
            "ttft_p50_ms": round(_pct(ttft, 50) * 1000, 2), "ttft_p95_ms": round(_pct(ttft, 95) * 1000, 2),
            "total_p50_ms": round(_pct(total, 50) * 1000, 2), "total_p95_ms": round(_pct(total, 95) * 1000, 2),
            "verdicts": sum(r[2] for r in ok)}


async def run(upstream: str, proxy: str, rounds: int, concurrency: int) -> dict[str, Any]:
    direct: list[tuple[float, float, bool] | str] = []
    proxied: list[tuple[float, float, bool] | str] = []
    async with asyncio.timeout(300):
        await wave(proxy, 10)  # warm-up
        for _ in range(rounds):
            direct += await wave(upstream, concurrency)
            proxied += await wave(proxy, concurrency)
    d, p = summary(direct), summary(proxied)
    errors = sorted({r for r in proxied + direct if isinstance(r, str)})
    return {
        "concurrency": concurrency, "rounds": rounds, "direct": d, "proxy": p,
        "added_ttft_p50_ms": round(p["ttft_p50_ms"] - d["ttft_p50_ms"], 2),
        "added_ttft_p95_ms": round(p["ttft_p95_ms"] - d["ttft_p95_ms"], 2),
        "added_total_p50_ms": round(p["total_p50_ms"] - d["total_p50_ms"], 2),
        "added_total_p95_ms": round(p["total_p95_ms"] - d["total_p95_ms"], 2),
        "error_kinds": errors[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--token-delay", type=float, default=0.01, help="seconds between upstream tokens")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 500 or not 1 <= args.rounds <= 20:
        parser.error("bounded: concurrency 1..500, rounds 1..20")
    started = time.perf_counter()
    with servers(token_delay=args.token_delay) as (upstream, proxy):
        result = asyncio.run(run(upstream, proxy, args.rounds, args.concurrency))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["proxy"]["errors"] == 0 and result["direct"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
