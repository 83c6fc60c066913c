from __future__ import annotations

import time
from pathlib import Path

import pytest
from sinkdata import make_turn, make_verdict

from guardrail.sinks import ReviewStore, ReviewStoreError, conversation
from guardrail.sinks.events import event_for
from guardrail.sinks.sqlite_store import age_to_since


@pytest.fixture
def store(tmp_path: Path):
    s = ReviewStore(tmp_path / "review.db", redact_names=["Maria"])
    yield s
    s.close()


def _emit(store: ReviewStore, *verdicts) -> list[str]:
    ids = []
    for i, verdict in enumerate(verdicts):
        turn = make_turn(verdict.id if verdict.id is not None else i)
        store.emit(turn, verdict)
        ids.append(event_for(turn, verdict).event_id)
    assert store.flush()
    return ids


def test_records_flagged_turns_with_verdict_and_redacted_text(store: ReviewStore) -> None:
    with conversation("c1"):
        [event_id] = _emit(store, make_verdict((), id="quiet"), make_verdict(("granularity",), id="loud"))[1:]
    [turn] = store.list_turns()
    assert turn.event_id == event_id
    assert (turn.conversation_id, turn.turn_id, turn.kind) == ("c1", "loud", "flagged")
    assert turn.flags == ["granularity"] and turn.mechanism == "granularity"
    assert turn.scores["granularity"] == 0.9 and turn.action == "flag"
    assert "[NAME]" in turn.reference and "[PHONE]" in turn.reference and "[EMAIL]" in turn.reference
    assert "[CARD]" in turn.response and "Maria" not in turn.response
    assert turn.findings[1]["explanation"] == "granularity: the reply says “[NAME] can help”"
    assert turn.status == "unlabelled" and turn.labels == {}


def test_failed_turns_are_kept_as_errors(store: ReviewStore) -> None:
    _emit(store, make_verdict((), error="detector error: KeyError"))
    [turn] = store.list_turns()
    assert turn.kind == "error" and turn.error == "detector error: KeyError" and turn.mechanism is None


def test_without_text(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "r.db", store_text=False)
    _emit(store, make_verdict())
    [turn] = store.list_turns()
    assert turn.reference is None and turn.response is None
    assert "explanation" not in turn.findings[0] and turn.findings[0]["details"] == {"intensity": 0.7}
    store.close()


def test_labels_per_mechanism(store: ReviewStore) -> None:
    a, b = _emit(store, make_verdict(("attenuation", "distancing"), id="a"), make_verdict(("granularity",), id="b"))
    turn = store.label(a[:8], "confirmed", reviewer="rev", note="flat reply")
    assert {m: lab.label for m, lab in turn.labels.items()} == {"attenuation": "confirmed", "distancing": "confirmed"}
    assert turn.labels["attenuation"].reviewer == "rev" and turn.labels["attenuation"].note == "flat reply"
    turn = store.label(a, "rejected", mechanisms=["distancing"])
    assert turn.status == "mixed"
    # a reviewer can confirm a mechanism the guard missed (its score is below the threshold)
    store.label(b, "confirmed", mechanisms=["conflict_avoidance"])
    assert store.labelled_scores() == {
        "attenuation": [(0.9, True)], "granularity": [], "conflict_avoidance": [(0.1, True)],
        "distancing": [(0.9, False)]}
    assert store.unlabel(a, mechanisms=["distancing"]).status == "confirmed"
    assert store.unlabel(a).status == "unlabelled"


def test_label_errors(store: ReviewStore) -> None:
    [event_id] = _emit(store, make_verdict())
    with pytest.raises(ReviewStoreError, match="at least 4"):
        store.get("abc")
    with pytest.raises(ReviewStoreError, match="no flagged turn"):
        store.get("ffffffff")
    with pytest.raises(ReviewStoreError, match="unknown mechanism"):
        store.label(event_id, "confirmed", mechanisms=["sarcasm"])
    with pytest.raises(ReviewStoreError, match="label must be"):
        store.label(event_id, "maybe")  # type: ignore[arg-type]
    [error_id] = _emit(store, make_verdict((), error="boom"))
    with pytest.raises(ReviewStoreError, match="no flags"):
        store.label(error_id, "rejected")


def test_ambiguous_prefix(store: ReviewStore) -> None:
    ids = _emit(store, *[make_verdict(id=i) for i in range(1500)])
    firsts = [i[:4] for i in ids]
    shared = next(p for p in firsts if firsts.count(p) > 1)  # 1500 ids: some share 4 hex digits (birthday: p > 0.9999)
    with pytest.raises(ReviewStoreError, match="ambiguous"):
        store.get(shared)
    assert store.get(ids[7][:10]).turn_id == "7"
    assert store.get(ids[8].upper()).turn_id == "8"


def test_filters(store: ReviewStore) -> None:
    ids = _emit(store, make_verdict(("attenuation",), id="a"), make_verdict(("granularity",), id="b"),
                make_verdict(("granularity", "distancing"), id="c"))
    store.label(ids[0], "confirmed")
    store.label(ids[1], "rejected")
    assert [t.turn_id for t in store.list_turns()] == ["c", "b", "a"]  # newest first
    assert [t.turn_id for t in store.list_turns(status="unlabelled")] == ["c"]
    assert [t.turn_id for t in store.list_turns(status="labelled", newest_first=False)] == ["a", "b"]
    assert [t.turn_id for t in store.list_turns(status="rejected")] == ["b"]
    assert [t.turn_id for t in store.list_turns(mechanism="granularity")] == ["c", "b"]
    assert [t.turn_id for t in store.list_turns(limit=1)] == ["c"]
    assert store.list_turns(since=time.time() + 60) == []
    assert store.count("confirmed") == 1 and store.stats() == {"turns": 3, "labelled": 2, "unlabelled": 1}


def test_iterates_everything_in_pages_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = ReviewStore(path)
    ids = _emit(store, *[make_verdict(id=i) for i in range(1234)])
    store.close()
    with pytest.raises(ReviewStoreError, match="closed"):
        store.emit(make_turn(), make_verdict())
    reopened = ReviewStore(path)
    assert [t.event_id for t in reopened.iter_all()] == ids
    reopened.close()


def test_age_parsing() -> None:
    assert abs(age_to_since("2h") - (time.time() - 7200)) < 5
    assert age_to_since(None) is None
    with pytest.raises(ReviewStoreError):
        age_to_since("yesterday")
