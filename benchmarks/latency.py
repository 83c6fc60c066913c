"""Per-turn latency of the linguistic detectors (and, once shipped, the ONNX encoder).

    python benchmarks/latency.py [--runs 2000]

Measures, in one process: the reply-side analysis + all four detectors for a ~150-word reply
(the reference is prepared beforehand, as ``Guard.wrap`` does while the LLM generates), and the
full cold check (both sides analysed) for comparison. Reports median and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from guardrail import Guard, load_policy
from guardrail.text.profile import profile_text

USER = ("my dad died on tuesday. heart attack, he was 58. i keep picking up my phone to text him and then i "
        "remember and just fall apart. my sister wants me to help plan the funeral and i can't even think")
REPLY_150 = (
    "I'm so sorry about your dad. Fifty-eight is far too young, and losing him that suddenly, with no warning "
    "at all, is a shock that takes a long time to land. Reaching for your phone to text him and then "
    "remembering is one of the cruelest parts of early grief; your hands still know the habit before the rest "
    "of you can catch up. Falling apart in those moments makes complete sense. It is also okay that you can't "
    "think straight about the funeral right now. You don't have to plan all of it. Could you tell your sister "
    "which one or two things you feel able to take on, like choosing a song or a photo, and leave the rest to "
    "her for now? And how are you doing with the basics, sleep and food, since Tuesday? I'm here if you want "
    "to tell me about him."
)


def measure(fn, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for _ in range(50):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 4),
            "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 4), "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    guard = Guard(load_policy(), sinks=[])
    guard.prepare(USER)

    def reply_side() -> None:
        profile_text.cache_clear()
        guard.prepare(USER)  # re-prepared outside the timed part below
    # time only the reply side: clear the cache of the reply by making it unique per run
    counter = iter(range(10**9))

    def warm_reference_check() -> None:
        guard.check(user=USER, response=REPLY_150 + f" ({next(counter)})")

    def cold_check() -> None:
        n = next(counter)
        guard.check(user=USER + f" ({n})", response=REPLY_150 + f" ({n})")

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "reply_words": len(REPLY_150.split()),
        "linguistic_reply_side": measure(warm_reference_check, args.runs),
        "linguistic_cold_both_sides": measure(cold_check, args.runs),
    }
    del reply_side
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
