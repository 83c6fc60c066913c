"""Fault tests against a real Mosquitto: nothing is lost while the broker is down or the process dies.

The full 1,000-turn runs with timings are in benchmarks/mqtt_fault.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from mqtt_broker import Broker
from sinkdata import stub_detectors

from guardrail import Guard, Turn, Verdict, load_policy
from guardrail.sinks.events import event_for
from guardrail.sinks.mqtt import MqttSink

FAST: dict[str, Any] = {"backoff_min": 0.05, "backoff_max": 0.3, "connect_timeout": 2.0, "poll_interval": 0.1}
N = 1000


class Recorder:
    """A sink that notes the event id of every flagged turn (what the subscriber must receive)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if verdict.flagged:
            self.ids.append(event_for(turn, verdict).event_id)


def test_broker_down_for_part_of_the_run(make_broker, subscribe, tmp_path: Path) -> None:
    broker: Broker = make_broker()
    sub = subscribe(broker, client_id="fault-subscriber")  # persistent session: the broker queues for it
    sink = MqttSink(broker.url, outbox=tmp_path / "outbox.db", **FAST)
    recorder = Recorder()
    guard = Guard(load_policy(), detectors=stub_detectors(attenuation=0.9, distancing=0.7), sinks=[sink, recorder])
    pending_while_down = 0
    for i in range(N):
        if i == 300:
            broker.stop()
        if i == 700:
            pending_while_down = sink.stats()["pending"]
            broker.start()
        guard.check(user="my sister stopped talking to me", response="Family dynamics can be complex.", id=i)
    assert len(recorder.ids) == len(set(recorder.ids)) == N
    assert pending_while_down >= 350  # what was emitted while the broker was down waited in the outbox
    assert sink.flush(60), sink.stats()
    received = sub.wait_for(N, timeout=60)
    assert received == set(recorder.ids)  # all 1,000 distinct event ids, nothing lost
    stats = sink.stats()
    assert stats["pending"] == 0 and stats["dropped"] == 0 and stats["connects"] >= 2
    sink.close()


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from guardrail.sinks.events import event_for
    from guardrail.sinks.mqtt import MqttSink
    from guardrail.types import Turn, Verdict

    url, outbox, ids_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sink = MqttSink(url, outbox=outbox, backoff_min=0.05, backoff_max=0.3, connect_timeout=1.0)
    ids = []
    for i in range(n):
        turn = Turn(id=i, user="they fired me today", response="Career transitions are common.")
        verdict = Verdict(id=i, flagged=True, flags=["attenuation"], findings=[], latency_ms=1.0,
                          scores={"attenuation": 0.9, "granularity": 0.1, "conflict_avoidance": 0.1,
                                  "distancing": 0.2}, action="flag")
        sink.emit(turn, verdict)
        ids.append(event_for(turn, verdict).event_id)
    with open(ids_path, "w") as fh:
        fh.write("\\n".join(ids))
        fh.flush()
        os.fsync(fh.fileno())
    print(sink.stats()["pending"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no close: a crash
""")


def _crash_child(url: str, outbox: Path, ids_path: Path) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-c", CHILD, url, str(outbox), str(ids_path), str(N)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return int(proc.stdout.split()[-1]), ids_path.read_text().split()


def test_process_killed_with_the_broker_down(make_broker, subscribe, tmp_path: Path) -> None:
    broker: Broker = make_broker()
    sub = subscribe(broker, client_id="restart-subscriber")
    broker.stop()
    outbox = tmp_path / "outbox.db"
    pending, ids = _crash_child(broker.url, outbox, tmp_path / "ids.txt")
    assert pending == N and len(set(ids)) == N
    broker.start()
    sink = MqttSink(broker.url, outbox=outbox, **FAST)  # "the process restarts"
    assert sink.flush(60), sink.stats()
    assert sub.wait_for(N, timeout=60) == set(ids)
    sink.close()


def test_process_killed_mid_delivery(broker: Broker, subscribe, tmp_path: Path) -> None:
    sub = subscribe(broker, client_id="midway-subscriber")
    outbox = tmp_path / "outbox.db"
    pending, ids = _crash_child(broker.url, outbox, tmp_path / "ids.txt")
    assert len(set(ids)) == N and 0 <= pending <= N  # how many were still pending at the crash varies
    sink = MqttSink(broker.url, outbox=outbox, **FAST)
    assert sink.flush(60), sink.stats()
    assert sub.wait_for(N, timeout=60) == set(ids)  # delivered before the crash + after the restart
    sink.close()
