"""The MQTT sink against a real Mosquitto (started per test on a free port)."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import Broker, free_port
from sinkdata import make_turn, make_verdict, stub_detectors
from structlog.testing import capture_logs

from guardrail import Guard, PolicyError, load_policy
from guardrail.sinks import conversation
from guardrail.sinks.events import event_for
from guardrail.sinks.mqtt import MqttConfigError, MqttSink, default_outbox_path, parse_mqtt_url

FAST: dict[str, Any] = {"backoff_min": 0.05, "backoff_max": 0.3, "connect_timeout": 2.0, "poll_interval": 0.1}


def sink_for(broker_or_url: Broker | str, tmp_path: Path, **kwargs: Any) -> MqttSink:
    url = broker_or_url if isinstance(broker_or_url, str) else broker_or_url.url
    return MqttSink(url, outbox=kwargs.pop("outbox", tmp_path / "outbox.db"), **{**FAST, **kwargs})


# --- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "host", "port", "tls", "user", "password"), [
    ("mqtt://broker.local", "broker.local", 1883, False, None, None),
    ("mqtts://broker.local", "broker.local", 8883, True, None, None),
    ("tcp://10.0.0.5:1884/", "10.0.0.5", 1884, False, None, None),
    ("mqtt://guard:s%40cret@[::1]:1999", "::1", 1999, False, "guard", "s@cret"),
])
def test_parse_url(url: str, host: str, port: int, tls: bool, user: str | None, password: str | None) -> None:
    target = parse_mqtt_url(url)
    assert (target.host, target.port, target.tls, target.username, target.password) == (host, port, tls, user,
                                                                                         password)
    assert "cret" not in target.display


@pytest.mark.parametrize(("url", "message"), [
    ("", "empty MQTT URL"),
    ("localhost:1883", "scheme must be"),
    ("http://broker:1883", "scheme must be"),
    ("mqtt://", "no host"),
    ("mqtt://broker:notaport", "invalid MQTT URL"),
    ("mqtt://broker:99999", "invalid MQTT URL"),
    ("mqtt://broker:1883/guardrail", "no path or query"),
    ("mqtt://user:hunter2@broker:0", "port 0"),
])
def test_bad_url_is_a_clear_error(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(MqttConfigError, match=message) as info:
        MqttSink(url, outbox=tmp_path / "o.db")
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value, PolicyError)


def test_other_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(MqttConfigError, match="cannot resolve"):
        MqttSink("mqtt://no-such-host.invalid:1883", outbox=tmp_path / "o.db")
    with pytest.raises(MqttConfigError, match="use mqtts://"):
        MqttSink("mqtt://127.0.0.1:1883", ca_file="ca.pem", outbox=tmp_path / "o.db", start=False)
    with pytest.raises(MqttConfigError, match="prefix"):
        MqttSink("mqtt://127.0.0.1:1883", prefix="a/#", outbox=tmp_path / "o.db", start=False)
    with pytest.raises(MqttConfigError, match="needs a user name"):
        MqttSink("mqtt://127.0.0.1:1883", password="x", outbox=tmp_path / "o.db", start=False)
    with pytest.raises(MqttConfigError, match="TLS set-up failed"):
        MqttSink("mqtts://127.0.0.1:8883", ca_file=tmp_path / "missing.pem", outbox=tmp_path / "o.db")


def test_default_outbox_path_is_per_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    a, b = (default_outbox_path(parse_mqtt_url(u)) for u in ("mqtt://h:1883", "mqtt://h:1884"))
    assert a.parent == tmp_path / "guardrail" and a != b


# --- delivery ------------------------------------------------------------------------------------
def test_delivers_flagged_turns_with_their_payload(broker: Broker, subscribe, tmp_path: Path) -> None:
    sub = subscribe(broker)
    sink = sink_for(broker, tmp_path)
    verdict = make_verdict(("attenuation", "granularity"), {"attenuation": 0.7, "granularity": 0.95,
                                                           "conflict_avoidance": 0.1, "distancing": 0.2}, id="t1")
    with conversation("conv-9"):
        sink.emit(make_turn(), make_verdict((), id="calm"))  # unflagged: not published
        sink.emit(make_turn("t1"), verdict)
    assert sink.flush(10)
    assert sub.wait_for(1) == {event_for(make_turn("t1"), verdict).event_id}  # one event id per verdict
    time.sleep(0.2)  # nothing else arrives
    [(topic, payload)] = sub.messages
    assert topic == "guardrail/flagged/granularity"  # the highest-scoring flag
    assert payload["flags"] == ["attenuation", "granularity"]
    assert payload["scores"]["granularity"] == 0.95 and payload["mechanism"] == "granularity"
    assert (payload["conversation_id"], payload["turn_id"], payload["kind"]) == ("conv-9", "t1", "flagged")
    assert payload["schema"] == 1 and payload["ts"].endswith("Z") and payload["action"] == "flag"
    assert not {"reference", "response", "findings"} & payload.keys()
    stats = sink.stats()
    assert (stats["pending"], stats["delivered"], stats["connected"]) == (0, 1, True)
    sink.close()


def test_prefix_text_redaction_and_error_topic(broker: Broker, subscribe, tmp_path: Path) -> None:
    sub = subscribe(broker, "acme/guard/#")
    sink = sink_for(broker, tmp_path, prefix="acme/guard", log_text=True, redact_names=["Maria"])
    sink.emit(make_turn(), make_verdict(("distancing",)))
    sink.emit(make_turn(), make_verdict((), error="detector error: ValueError"))
    assert sink.flush(10)
    assert len(sub.wait_for(2)) == 2
    by_topic = dict(sub.messages)
    flagged, error = by_topic["acme/guard/flagged/distancing"], by_topic["acme/guard/error"]
    assert "[NAME]" in flagged["reference"] and "[PHONE]" in flagged["reference"]
    assert "[CARD]" in flagged["response"] and "Maria" not in str(flagged)
    assert flagged["findings"][3]["evidence"][0]["text"] == "[NAME] can help"
    assert error["kind"] == "error" and error["error"] == "detector error: ValueError" and error["flags"] == []
    sink.close()


def test_guard_turns_the_sink_on_from_the_environment(broker: Broker, subscribe, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sub = subscribe(broker, "team/#")
    monkeypatch.setenv("GUARDRAIL_MQTT_URL", broker.url)
    monkeypatch.setenv("GUARDRAIL_MQTT_OUTBOX", str(tmp_path / "env-outbox.db"))
    monkeypatch.setenv("GUARDRAIL_MQTT_PREFIX", "team")
    guard = Guard(detectors=stub_detectors(attenuation=0.9))
    [mqtt] = [s for s in guard.sinks if isinstance(s, MqttSink)]
    assert mqtt.outbox.path == tmp_path / "env-outbox.db"
    assert Guard(detectors=stub_detectors()).sinks[0] is mqtt  # one publisher per broker in a process
    verdict = guard.check(user="my dog died", response="Noted.", id=5)
    assert verdict.flags == ["attenuation"]
    assert mqtt.flush(10) and len(sub.wait_for(1)) == 1
    [(topic, payload)] = sub.messages
    assert topic == "team/flagged/attenuation" and payload["turn_id"] == 5
    monkeypatch.setenv("GUARDRAIL_MQTT_URL", "mqtt//oops")
    with pytest.raises(MqttConfigError, match="scheme must be"):
        Guard(load_policy(), detectors=stub_detectors())


def test_team_prefix_message_arrives(broker: Broker, subscribe, tmp_path: Path) -> None:
    sub = subscribe(broker, "team/flagged/#")
    sink = sink_for(broker, tmp_path, prefix="team")
    Guard(load_policy(), detectors=stub_detectors(conflict_avoidance=0.8), sinks=[sink]).check(
        user="You're wrong about that.", response="Let's not argue!")
    assert sink.flush(10) and len(sub.wait_for(1)) == 1
    assert sub.messages[0][0] == "team/flagged/conflict_avoidance"
    sink.close()


# --- start-up errors -----------------------------------------------------------------------------
def test_credentials(make_broker, subscribe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = make_broker(users={"guard": "right-password"})
    with pytest.raises(MqttConfigError, match="refused the credentials") as info:
        sink_for(f"mqtt://guard:wrong@127.0.0.1:{broker.port}", tmp_path, outbox=tmp_path / "a.db")
    assert "wrong" not in str(info.value)
    with pytest.raises(MqttConfigError, match="refused the credentials"):
        sink_for(broker, tmp_path, outbox=tmp_path / "b.db")  # anonymous
    sub = subscribe(broker, username="guard", password="right-password")
    sink = sink_for(broker, tmp_path, username="guard", password="right-password", outbox=tmp_path / "c.db")
    sink.emit(make_turn(), make_verdict())
    assert sink.flush(10) and len(sub.wait_for(1)) == 1
    sink.close()
    # the same through the environment (the password as a secret setting)
    monkeypatch.setenv("GUARDRAIL_MQTT_URL", broker.url)
    monkeypatch.setenv("GUARDRAIL_MQTT_OUTBOX", str(tmp_path / "env.db"))
    monkeypatch.setenv("GUARDRAIL_MQTT_USERNAME", "guard")
    monkeypatch.setenv("GUARDRAIL_MQTT_PASSWORD", "wrong-again")
    with pytest.raises(MqttConfigError, match="refused the credentials"):
        Guard(detectors=stub_detectors())
    monkeypatch.setenv("GUARDRAIL_MQTT_PASSWORD", "right-password")
    guard = Guard(detectors=stub_detectors(distancing=0.9))
    guard.check(user="hi", response="One may consider the matter.")
    assert guard.sinks[0].flush(10) and len(sub.wait_for(2)) == 2


def test_tls(make_broker, tmp_path: Path, tls_files) -> None:
    ca, cert, key = tls_files
    broker = make_broker(tls=(ca, cert, key))
    url = f"mqtts://127.0.0.1:{broker.port}"
    with pytest.raises(MqttConfigError, match="TLS handshake failed"):
        sink_for(url, tmp_path, outbox=tmp_path / "untrusted.db")  # system CAs do not know ours
    with pytest.raises(MqttConfigError):
        sink_for(f"mqtt://127.0.0.1:{broker.port}", tmp_path, outbox=tmp_path / "plain.db",
                 require_connection=True, connect_timeout=1.0)  # plain MQTT to a TLS port
    sink = sink_for(url, tmp_path, ca_file=ca, outbox=tmp_path / "tls.db")
    sink.emit(make_turn(), make_verdict())
    assert sink.flush(10) and sink.stats()["delivered"] == 1
    sink.close()
    insecure = sink_for(url, tmp_path, tls_insecure=True, outbox=tmp_path / "insecure.db")
    insecure.emit(make_turn(), make_verdict())
    assert insecure.flush(10)
    insecure.close()


def test_unreachable_broker_at_start_is_a_warning_not_an_error(tmp_path: Path) -> None:
    port = free_port()
    with capture_logs() as logs:
        sink = sink_for(f"mqtt://127.0.0.1:{port}", tmp_path)
    assert any(e["event"] == "guardrail.mqtt_unreachable" for e in logs)
    sink.emit(make_turn(), make_verdict())
    assert sink.stats()["pending"] == 1
    sink.close(timeout=0.5)
    with pytest.raises(MqttConfigError, match="cannot connect"):
        sink_for(f"mqtt://127.0.0.1:{port}", tmp_path, outbox=tmp_path / "strict.db", require_connection=True)


class Blackhole:
    """Accepts TCP connections and never answers: the worst kind of broker outage."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


def test_reply_path_never_waits_for_the_broker(tmp_path: Path) -> None:
    hole = Blackhole()
    try:
        sink = sink_for(f"mqtt://127.0.0.1:{hole.port}", tmp_path, connect_timeout=0.5)
        guard = Guard(load_policy(), detectors=stub_detectors(attenuation=0.9), sinks=[sink])
        times = []
        for i in range(200):
            turn, verdict = make_turn(i), make_verdict(id=i)
            started = time.perf_counter()
            for s in guard.sinks:
                s.emit(turn, verdict)
            times.append(time.perf_counter() - started)
        assert sink.stats()["pending"] == 200 and not sink.connected
        assert statistics.median(times) < 0.005 and max(times) < 0.5  # generous bounds for a busy CI box
        sink.close(timeout=0)
    finally:
        hole.close()


def test_standby_publisher_takes_over(broker: Broker, subscribe, tmp_path: Path) -> None:
    """Two sinks (as two worker processes would) share one outbox: one publishes, the other stands by."""
    sub = subscribe(broker)
    first = sink_for(broker, tmp_path)
    second = sink_for(broker, tmp_path)
    assert first.stats()["publisher"] and not second.stats()["publisher"]
    second.emit(make_turn(), make_verdict(id="from-second"))
    assert first.flush(10) and len(sub.wait_for(1)) == 1  # the publisher drains what the other queued
    first.close()
    second.emit(make_turn(), make_verdict(id="after-takeover"))
    assert second.flush(10) and len(sub.wait_for(2)) == 2
    assert second.stats()["publisher"]
    second.close()


def test_short_lived_process_delivers_at_exit(broker: Broker, subscribe, tmp_path: Path) -> None:
    """A script that checks one turn and exits: the sink delivers at exit (atexit), no close() needed."""
    sub = subscribe(broker, "quick/#")
    script = (
        "from guardrail import Guard\n"
        "g = Guard()\n"
        "v = g.check(user='My dad died last week and I cannot stop crying.', response='Noted.')\n"
        "print(v.flags, [type(s).__name__ for s in g.sinks])\n"
    )
    env = {"GUARDRAIL_MQTT_URL": broker.url, "GUARDRAIL_MQTT_PREFIX": "quick",
           "GUARDRAIL_MQTT_OUTBOX": str(tmp_path / "quick.db"), "GUARDRAIL_ATTENUATION__THRESHOLD": "0.0"}
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(sub.wait_for(1, timeout=10)) == 1, (proc.stdout, proc.stderr)
