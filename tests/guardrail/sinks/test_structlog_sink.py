from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from sinkdata import REPLY, make_turn, make_verdict, stub_detectors
from structlog.testing import capture_logs

from guardrail import Guard, load_policy
from guardrail.sinks import ReviewStore, StructlogSink, configure_logging, conversation, default_sinks
from guardrail.sinks.events import event_for


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "guardrail-json"]:
        root.removeHandler(handler)


def test_one_event_per_flagged_turn_without_text() -> None:
    sink = StructlogSink()
    verdict = make_verdict(("attenuation", "distancing"), {"attenuation": 0.6, "granularity": 0.1,
                                                          "conflict_avoidance": 0.2, "distancing": 0.8}, id="t7")
    with capture_logs() as logs, conversation("conv-42"):
        sink.emit(make_turn(), make_verdict((), id=1))  # not flagged: nothing
        sink.emit(make_turn("t7"), verdict)
    assert len(logs) == 1
    event = logs[0]
    assert event["event"] == "guardrail.flagged"
    assert event["log_level"] == "warning"
    assert event["conversation_id"] == "conv-42"
    assert event["turn_id"] == "t7"
    assert event["mechanism"] == "distancing"  # the highest-scoring flag
    assert event["flags"] == ["attenuation", "distancing"]
    assert event["scores"]["distancing"] == 0.8
    assert event["action"] == "flag"
    assert event["latency_ms"] == 1.5
    assert len(event["event_id"]) == 32
    assert not {"reference", "response", "findings"} & event.keys()
    assert "Maria" not in json.dumps(event)


def test_failed_turn_is_an_error_event() -> None:
    with capture_logs() as logs:
        StructlogSink().emit(make_turn(), make_verdict((), error="detector error: ValueError"))
    assert [(e["event"], e["log_level"], e["error"]) for e in logs] == [
        ("guardrail.error", "error", "detector error: ValueError")]


def test_text_only_on_request_and_redacted() -> None:
    sink = StructlogSink(log_text=True, redact_names=["Maria"], findings=True)
    with capture_logs() as logs:
        sink.emit(make_turn(), make_verdict())
    event = logs[0]
    assert event["reference"] == ("My dad died last week. [NAME] said to call her at [PHONE] or mail [EMAIL].")
    assert event["response"] == "Bereavement is a challenging situation. Card [CARD] on file; [NAME] can help."
    assert event["findings"][0]["evidence"][0]["text"] == "[NAME] can help"
    assert "Maria" not in json.dumps(event)


def test_standard_library_logger_gets_json_messages(caplog: pytest.LogCaptureFixture) -> None:
    sink = StructlogSink(logger=logging.getLogger("myapp.guardrail"))
    with caplog.at_level(logging.INFO, logger="myapp.guardrail"):
        sink.emit(make_turn(), make_verdict(("granularity",), id=3))
    [record] = caplog.records
    assert record.name == "myapp.guardrail"
    assert record.levelno == logging.WARNING
    data = json.loads(record.getMessage())
    assert data["event"] == "guardrail.flagged"
    assert data["flags"] == ["granularity"]
    assert data["turn_id"] == 3


def test_configure_logging_renders_structlog_and_stdlib_records_as_json_lines() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    StructlogSink().emit(make_turn(), make_verdict(("attenuation",), id="a"))
    logging.getLogger("paho").warning("connection %s", "lost")
    logging.getLogger("noisy").debug("not shown")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["guardrail.flagged", "connection lost"]
    assert lines[0]["level"] == "warning" and lines[0]["logger"] == "guardrail"
    assert lines[0]["flags"] == ["attenuation"] and "timestamp" in lines[0]
    assert lines[1]["logger"] == "paho"


def test_sinks_share_one_event_id(tmp_path) -> None:
    store = ReviewStore(tmp_path / "r.db")
    turn, verdict = make_turn(), make_verdict()
    with capture_logs() as logs:
        StructlogSink().emit(turn, verdict)
        store.emit(turn, verdict)
    assert store.flush()
    [stored] = store.list_turns()
    assert stored.event_id == logs[0]["event_id"] == event_for(turn, verdict).event_id
    assert event_for(make_turn(), make_verdict()).event_id != stored.event_id
    store.close()


def test_guard_emits_through_its_sinks() -> None:
    guard = Guard(load_policy(), detectors=stub_detectors(conflict_avoidance=0.95), sinks=[StructlogSink()])
    with capture_logs() as logs:
        guard.check(user="You were wrong about my code.", response="Let's move on!", id="x")
        Guard(load_policy(), detectors=stub_detectors(), sinks=[StructlogSink()]).check(user="hi", response=REPLY)
    assert [(e["event"], e["mechanism"], e["turn_id"]) for e in logs] == [
        ("guardrail.flagged", "conflict_avoidance", "x")]


def test_default_sinks_follow_the_policy(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [type(s).__name__ for s in default_sinks(load_policy())] == ["StructlogSink"]
    monkeypatch.setenv("GUARDRAIL_REVIEW_DB", str(tmp_path / "review.db"))
    monkeypatch.setenv("GUARDRAIL_REDACT_NAMES", "Maria, Jonas")
    monkeypatch.setenv("GUARDRAIL_LOG_TEXT", "true")
    sinks = Guard(detectors=stub_detectors(attenuation=0.9)).sinks
    assert [type(s).__name__ for s in sinks] == ["ReviewStore", "StructlogSink"]  # hand-offs last
    store, log = sinks
    assert log.log_text and log.redactor.names == ("Jonas", "Maria")
    assert default_sinks(load_policy())[0] is store  # one store per file in a process


def test_background_sink_writes_off_the_reply_path_with_the_callers_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    sink = StructlogSink(background=True, log_text=True, redact_names=["Maria"])
    structlog.contextvars.bind_contextvars(request_id="req-9")
    try:
        with conversation("conv-bg"):
            for i in range(20):
                sink.emit(make_turn(f"bg{i}"), make_verdict(id=f"bg{i}"))
    finally:
        structlog.contextvars.clear_contextvars()
    assert sink.flush(5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["turn_id"] for e in lines] == [f"bg{i}" for i in range(20)]
    assert all(e["request_id"] == "req-9" and e["conversation_id"] == "conv-bg" for e in lines)
    assert "Maria" not in stream.getvalue() and "[NAME]" in stream.getvalue()
    sink.close()
    sink.emit(make_turn("late"), make_verdict(id="late"))  # after close: written at once, not lost
    assert json.loads(stream.getvalue().splitlines()[-1])["turn_id"] == "late"


def test_default_structlog_sink_is_shared_and_in_the_background() -> None:
    first, second = default_sinks(load_policy())[0], default_sinks(load_policy())[0]
    assert first is second and isinstance(first, StructlogSink) and first._worker is not None


def test_a_broken_logger_in_the_background_loses_only_its_own_events(capsys: pytest.CaptureFixture[str]) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def warning(self, event: str, **fields: object) -> None:
            if fields["turn_id"] == "bad":
                raise OSError("disk full")
            self.seen.append(str(fields["turn_id"]))

    logger = Flaky()
    sink = StructlogSink(logger=logger, background=True)
    for turn_id in ("a", "bad", "b"):
        sink.emit(make_turn(turn_id), make_verdict(id=turn_id))
    assert sink.flush(5)
    assert logger.seen == ["a", "b"]
    assert "disk full" in capsys.readouterr().err
    sink.close()
