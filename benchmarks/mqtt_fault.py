"""MQTT fault run: flagged turns while the broker goes away, and a process that dies with a full outbox.

Each scenario sends N flagged turns (default 1,000) and checks that a subscriber receives exactly
the N distinct ``event_id``s the guard produced — nothing lost (duplicates are allowed: delivery is
at-least-once, consumers dedupe on ``event_id``):

1. ``outage``: a real Guard (shipped detectors, flagged turns of benchmarks/data/devset.jsonl) with
   the MQTT sink; the broker is stopped after 25 % of the turns and restarted after 75 %.
2. ``flapping``: the same, with the broker stopped and restarted three times during the run.
3. ``crash-down``: a child process queues N events while the broker is down and is killed with
   SIGKILL (no clean shutdown); a new process with the same outbox delivers them once the broker is up.
4. ``crash-midway``: the child is killed while it is still delivering, broker up.

The subscriber uses a persistent session (QoS 1, clean_session=False) on a Mosquitto with
persistence, so the broker keeps its messages across the broker restarts.

Run: ``python benchmarks/mqtt_fault.py [-n 1000] [--json]``. Needs /usr/sbin/mosquitto.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from guardrail import Guard, Turn, Verdict, load_policy
from guardrail.sinks.events import event_for
from guardrail.sinks.mqtt import MqttSink

DEVSET = Path(__file__).parent / "data" / "devset.jsonl"
FAST: dict[str, Any] = {"backoff_min": 0.1, "backoff_max": 1.0, "connect_timeout": 2.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, up: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {workdir}/", "autosave_interval 1", "max_queued_messages 1000000",
                 "max_inflight_messages 100"]
        if os.geteuid() == 0:
            lines.insert(0, "user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        _wait_port(self.port, up=False)


class Subscriber:
    def __init__(self, port: int, client_id: str) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_connect = lambda c, *a: c.subscribe("guardrail/#", qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.5)  # type: ignore[arg-type]  # paho uses the seconds as floats
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscriber did not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.ids.append(json.loads(msg.payload)["event_id"])

    def wait_for(self, expected: set[str], timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            with self._lock:
                if expected <= set(self.ids):
                    break
            time.sleep(0.01)
        return time.monotonic() - started

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4) if ordered else 0.0


def _result(name: str, expected: list[str], sub: Subscriber, **extra: Any) -> dict[str, Any]:
    received = list(sub.ids)
    distinct = set(received)
    return {"scenario": name, "sent": len(expected), "distinct_expected": len(set(expected)),
            "received_distinct": len(distinct & set(expected)), "lost": len(set(expected) - distinct),
            "duplicates": len(received) - len(distinct), "unexpected": len(distinct - set(expected)), **extra}


def flagged_turns() -> list[Turn]:
    guard = Guard(load_policy(), sinks=[])
    turns = [Turn.model_validate(json.loads(line)) for line in DEVSET.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return [t for t in turns if guard.check_turn(t).flagged]


def run_outage(work: Path, n: int, outages: list[tuple[float, float]], name: str, pace_ms: float) -> dict[str, Any]:
    broker = Broker(work)
    broker.start()
    sub = Subscriber(broker.port, f"fault-{name}")
    sink = MqttSink(broker.url, outbox=work / "outbox.db", **FAST)
    ids: list[str] = []
    up_ms: list[float] = []
    down_ms: list[float] = []

    class Timed:
        """The MQTT sink, timed as the guard calls it (reply path), and the event ids it was given."""

        def emit(self, turn: Turn, verdict: Verdict) -> None:
            t0 = time.perf_counter()
            sink.emit(turn, verdict)
            elapsed = (time.perf_counter() - t0) * 1000
            if verdict.flagged:
                ids.append(event_for(turn, verdict).event_id)
                (down_ms if broker.proc is None else up_ms).append(elapsed)

    guard = Guard(load_policy(), sinks=[Timed()])
    turns = flagged_turns()
    stops = {int(a * n): "stop" for a, _ in outages} | {int(b * n): "start" for _, b in outages}
    max_pending = 0
    down_s = 0.0
    stopped_at = 0.0
    started = time.monotonic()
    i = 0
    while len(ids) < n:
        action = stops.pop(len(ids), None)
        if action == "stop":
            broker.stop()
            stopped_at = time.monotonic()
        elif action == "start":
            max_pending = max(max_pending, sink.stats()["pending"])
            broker.start()
            down_s += time.monotonic() - stopped_at
        guard.check_turn(turns[i % len(turns)].model_copy(update={"id": f"t{i}"}))
        i += 1
        if pace_ms:
            time.sleep(pace_ms / 1000)
    run_s = time.monotonic() - started
    recovered_at = time.monotonic()
    drained = sink.flush(120)
    drain_s = time.monotonic() - recovered_at
    wait_s = sub.wait_for(set(ids), 120)
    stats = sink.stats()
    sink.close()
    sub.close()
    broker.stop()
    return _result(name, ids, sub, run_s=round(run_s, 2), broker_down_s=round(down_s, 2), drained=drained,
                   drain_after_run_s=round(drain_s, 2),
                   all_received_after_s=round(wait_s, 2), max_pending=max_pending, connects=stats["connects"],
                   dropped=stats["dropped"], emit_p50_ms_broker_up=_pct(up_ms, 0.5),
                   emit_p95_ms_broker_up=_pct(up_ms, 0.95), emit_p50_ms_broker_down=_pct(down_ms, 0.5),
                   emit_p95_ms_broker_down=_pct(down_ms, 0.95))


CHILD = textwrap.dedent("""
    import os, signal, sys
    from guardrail.sinks.events import event_for
    from guardrail.sinks.mqtt import MqttSink
    from guardrail.types import Turn, Verdict

    url, outbox, ids_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sink = MqttSink(url, outbox=outbox, backoff_min=0.1, backoff_max=1.0, connect_timeout=1.0)
    ids = []
    for i in range(n):
        turn = Turn(id=i, user="they fired me today after nine years", response="Career transitions are common.")
        verdict = Verdict(id=i, flagged=True, flags=["attenuation"], findings=[], latency_ms=1.0, action="flag",
                          scores={"attenuation": 0.9, "granularity": 0.2, "conflict_avoidance": 0.1,
                                  "distancing": 0.3})
        sink.emit(turn, verdict)
        ids.append(event_for(turn, verdict).event_id)
    with open(ids_path, "w") as fh:
        fh.write("\\n".join(ids))
        fh.flush()
        os.fsync(fh.fileno())
    print(sink.stats()["pending"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def run_crash(work: Path, n: int, broker_down: bool, name: str) -> dict[str, Any]:
    broker = Broker(work)
    broker.start()
    sub = Subscriber(broker.port, f"fault-{name}")
    if broker_down:
        broker.stop()
    outbox, ids_path = work / "outbox.db", work / "ids.txt"
    proc = subprocess.run([sys.executable, "-c", CHILD, broker.url, str(outbox), str(ids_path), str(n)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"child did not die as planned: {proc.returncode} {proc.stderr}")
    pending_at_crash = int(proc.stdout.split()[-1])
    ids = ids_path.read_text().split()
    if broker_down:
        broker.start()
    restarted = time.monotonic()
    sink = MqttSink(broker.url, outbox=outbox, **FAST)
    drained = sink.flush(120)
    drain_s = time.monotonic() - restarted
    wait_s = sub.wait_for(set(ids), 120)
    sink.close()
    sub.close()
    broker.stop()
    return _result(name, ids, sub, pending_at_crash=pending_at_crash, drained=drained,
                   drain_after_restart_s=round(drain_s, 2), all_received_after_s=round(wait_s, 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="flagged turns per scenario")
    parser.add_argument("--pace-ms", type=float, default=5.0,
                        help="pause between turns in the outage scenarios (default 5 ms: a ~6 s run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="guardrail-fault-") as tmp:
        for name, run in [
            ("outage", lambda w: run_outage(w, args.n, [(0.25, 0.75)], "outage", args.pace_ms)),
            ("flapping", lambda w: run_outage(w, args.n, [(0.1, 0.2), (0.4, 0.5), (0.7, 0.8)], "flapping",
                                              args.pace_ms)),
            ("crash-down", lambda w: run_crash(w, args.n, True, "crash-down")),
            ("crash-midway", lambda w: run_crash(w, args.n, False, "crash-midway")),
        ]:
            work = Path(tmp) / name
            work.mkdir()
            results.append(run(work))
            if not args.json:
                print(json.dumps(results[-1]))
    ok = all(r["lost"] == 0 and r["received_distinct"] == r["sent"] == r["distinct_expected"] for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "results": results}, indent=2))
    else:
        print("PASS: every event id received, none lost" if ok else "FAIL: events lost")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
