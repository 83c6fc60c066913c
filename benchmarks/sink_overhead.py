"""Sink overhead on the reply path: how long ``Guard.check_turn`` spends in ``sink.emit`` per turn.

Verdicts come from the guard on benchmarks/data/devset.jsonl (real detector output); each timed
emit gets a fresh verdict object, so nothing is cached between turns. Scenarios:

- structlog: JSON via the standard library (``configure_logging``) to /dev/null, written by the
  background log writer (as ``Guard()`` does) and, for comparison, in the calling thread;
- review store: SQLite WAL insert;
- mqtt outbox: SQLite WAL insert into the outbox, with a live broker draining it in the background
  (and once with the broker down: the reply path must not care);
- all: the three together, as ``Guard()`` builds them from GUARDRAIL_REVIEW_DB / GUARDRAIL_MQTT_URL;
- all + text: the same with ``log_text`` on (redaction of both texts);
- [burst]: turns back to back (the publisher and the review writer then compete with the
  reply path for the GIL and the SQLite write lock).

Between turns the benchmark pauses ``--pace-ms`` (default 2 ms). Each row gives wall-clock
percentiles and the median CPU time of the calling thread (wall minus CPU is time spent waiting:
for a lock, the GIL, or other processes on a busy machine).

Run: ``python benchmarks/sink_overhead.py [-n 5000] [--json]``. Needs /usr/sbin/mosquitto.
Target (issue 5): p50 <= 0.2 ms for the default configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guardrail import Guard, Turn, Verdict, load_policy
from guardrail.sinks import MqttSink, ReviewStore, Sink, StructlogSink, configure_logging, default_sinks
from guardrail.sinks.redact import Redactor

DEVSET = Path(__file__).parent / "data" / "devset.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def flagged_pairs() -> list[tuple[Turn, Verdict]]:
    guard = Guard(load_policy(), sinks=[])
    pairs = []
    for line in DEVSET.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        turn = Turn.model_validate(json.loads(line))
        verdict = guard.check_turn(turn)
        if verdict.flagged:
            pairs.append((turn, verdict))
    if not pairs:
        raise SystemExit("no flagged turns in the devset")
    return pairs


def time_sinks(sinks: Sequence[Sink], pairs: list[tuple[Turn, Verdict]], n: int, warmup: int = 300,
               pace_ms: float = 0.0) -> tuple[list[float], list[float]]:
    """Milliseconds per turn spent in the sinks, exactly as Guard.check_turn calls them: wall clock
    and this thread's CPU time (wall minus CPU is waiting: locks, the GIL, other processes).

    ``pace_ms`` of pause before each turn stands for the time between flagged turns (0: burst).
    """
    work = [(pairs[i % len(pairs)][0], pairs[i % len(pairs)][1].model_copy()) for i in range(n + warmup)]
    times: list[float] = []
    cpu: list[float] = []
    perf, thread_time = time.perf_counter_ns, time.thread_time_ns
    for i, (turn, verdict) in enumerate(work):
        if pace_ms:
            time.sleep(pace_ms / 1000)
        started, started_cpu = perf(), thread_time()
        for sink in sinks:
            try:
                sink.emit(turn, verdict)
            except Exception as exc:  # as the guard does
                print("sink error:", exc, file=sys.stderr)
        elapsed, elapsed_cpu = perf() - started, thread_time() - started_cpu
        if i >= warmup:
            times.append(elapsed / 1e6)
            cpu.append(elapsed_cpu / 1e6)
    return times, cpu


def summary(name: str, measured: tuple[list[float], list[float]]) -> dict[str, Any]:
    times, cpu = measured
    ordered = sorted(times)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"scenario": name, "n": len(times), "p50_ms": round(statistics.median(ordered), 4),
            "p95_ms": round(q(0.95), 4), "p99_ms": round(q(0.99), 4), "max_ms": round(ordered[-1], 3),
            "cpu_p50_ms": round(statistics.median(cpu), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="timed turns per scenario")
    parser.add_argument("--pace-ms", type=float, default=2.0,
                        help="pause before each turn (default 2 ms; [burst] scenarios use none)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    devnull = open(os.devnull, "w")  # noqa: SIM115
    configure_logging("INFO", stream=devnull)
    pairs = flagged_pairs()
    names = ["Maria", "Jonas", "Dr. Okafor"]
    results = []
    with tempfile.TemporaryDirectory(prefix="guardrail-bench-") as tmp:
        work = Path(tmp)
        broker, port = _start_broker(work)
        try:
            url = f"mqtt://127.0.0.1:{port}"
            redactor = Redactor(names)
            pace = args.pace_ms

            def run(name: str, sinks: Sequence[Sink], burst: bool = False) -> None:
                label = f"{name} [burst]" if burst else name
                results.append(summary(label, time_sinks(sinks, pairs, args.n, pace_ms=0.0 if burst else pace)))

            run("structlog, in the calling thread", [StructlogSink(redactor=redactor)])
            log = StructlogSink(redactor=redactor, background=True)
            run("structlog (background writer)", [log])
            store = ReviewStore(work / "review.db", redactor=redactor)
            run("review store (SQLite)", [store])
            mqtt = MqttSink(url, outbox=work / "outbox.db", redactor=redactor)
            run("mqtt outbox, broker up", [mqtt])
            # exactly what Guard() builds from GUARDRAIL_REVIEW_DB / GUARDRAIL_MQTT_URL, in its order
            everything = default_sinks(load_policy(review_db=str(work / "review-all.db"), mqtt_url=url,
                                                   mqtt_outbox=str(work / "outbox-all.db"), redact_names=names))
            run("all three (default sinks)", everything)
            run("all three (default sinks)", everything, burst=True)
            with_text = default_sinks(load_policy(review_db=str(work / "review-text.db"), mqtt_url=url,
                                                  mqtt_outbox=str(work / "outbox-text.db"), redact_names=names,
                                                  log_text=True))
            run("all three + log_text (redaction)", with_text)
            delivered = all(sink.flush(60) for sink in [mqtt, store, log, *everything, *with_text])  # type: ignore[attr-defined]
            for sink in [*everything, *with_text]:
                sink.close()  # type: ignore[attr-defined]
            broker.terminate()
            broker.wait(10)
            run("mqtt outbox, broker DOWN", [mqtt])
            pending = mqtt.stats()["pending"]
            mqtt.close(timeout=0)
            store.close()
        finally:
            if broker.poll() is None:
                broker.kill()
                broker.wait()
    if args.json:
        print(json.dumps({"results": results, "flagged_turns": len(pairs), "pace_ms": args.pace_ms,
                          "delivered_all": delivered,
                          "pending_while_down": pending}, indent=2))
    else:
        print(f"sink overhead per flagged turn ({len(pairs)} distinct flagged devset turns, {args.n} timed each; "
              f"{args.pace_ms} ms between turns, none in [burst]); wall clock, and CPU p50")
        print(f"{'scenario':36} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu p50':>8}")
        for r in results:
            print(f"{r['scenario']:36} {r['p50_ms']:8.4f} {r['p95_ms']:8.4f} {r['p99_ms']:8.4f} {r['max_ms']:8.3f} "
                  f"{r['cpu_p50_ms']:8.4f}")
        print(f"broker-up runs delivered everything: {delivered}; queued while the broker was down: {pending}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
