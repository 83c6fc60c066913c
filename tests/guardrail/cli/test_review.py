"""``guardrail review list|show|export|label`` and ``guardrail calibrate`` on a real review store."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail import Guard, load_policy
from guardrail.cli import app
from guardrail.detectors import Pair
from guardrail.sinks import ReviewStore, conversation
from guardrail.types import DIMENSIONS, MECHANISMS, Finding, Mechanism

runner = CliRunner()


class Fixed:
    def __init__(self, mechanism: Mechanism, scores: list[float]) -> None:
        self.mechanism, self.scores, self.i = mechanism, scores, 0

    def assess(self, pair: Pair) -> Finding:
        score = self.scores[self.i % len(self.scores)]
        self.i += 1
        return Finding(mechanism=self.mechanism, score=score, dimension=DIMENSIONS[self.mechanism],
                       explanation=f"{self.mechanism} at {score}")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A review store with 30 flagged turns written by a real Guard (attenuation scores vary)."""
    for name in ("GUARDRAIL_REVIEW_DB", "GUARDRAIL_POLICY", "GUARDRAIL_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "review.db"
    store = ReviewStore(path, redact_names=["Maria"])
    att = [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0] * 3
    detectors = [Fixed("attenuation", att)] + [Fixed(m, [0.1]) for m in MECHANISMS if m != "attenuation"]
    guard = Guard(load_policy(), detectors=detectors, sinks=[store])
    with conversation("conv-1"):
        for i in range(30):
            guard.check(user=f"Maria, my dog died. Call 555-123-4567 ({i})", response="Pets are replaceable.",
                        id=f"turn-{i}")
    assert store.flush()
    store.close()
    return path


def _ids(db: Path, *args: str) -> list[dict]:
    result = runner.invoke(app, ["review", "list", "--db", str(db), "--json", "-n", "100", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_show_and_label(db: Path) -> None:
    result = runner.invoke(app, ["review", "list", "--db", str(db), "-n", "5"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "5 of 30 flagged turns" in result.output and "conv-1 / turn-29" in result.output
    turns = _ids(db)
    assert len(turns) == 30 and turns[0]["turn_id"] == "turn-29"
    first = turns[-1]["event_id"]
    shown = runner.invoke(app, ["review", "show", first[:10], "--db", str(db)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert first in shown.output and "[NAME], my dog died. Call [PHONE]" in shown.output
    assert "attenuation at 0.55" in shown.output
    labelled = runner.invoke(app, ["review", "label", first, "reject", "--note", "fine", "--by", "ana",
                                   "--db", str(db)])
    assert labelled.exit_code == 0 and "attenuation: rejected" in labelled.output
    data = json.loads(runner.invoke(app, ["review", "show", first, "--json", "--db", str(db)]).stdout)
    assert data["labels"]["attenuation"]["label"] == "rejected" and data["labels"]["attenuation"]["reviewer"] == "ana"
    assert [t["event_id"] for t in _ids(db, "--status", "rejected")] == [first]
    assert len(_ids(db, "--status", "unlabelled")) == 29
    runner.invoke(app, ["review", "label", first, "clear", "--db", str(db)])
    assert _ids(db, "--status", "labelled") == []


def test_errors_are_clear(db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["review", "list"])
    assert result.exit_code == 2 and "GUARDRAIL_REVIEW_DB" in result.output
    result = runner.invoke(app, ["review", "list", "--db", str(tmp_path / "nope.db")])
    assert result.exit_code == 2 and "no review store" in result.output
    result = runner.invoke(app, ["review", "show", "ffffffffff", "--db", str(db)])
    assert result.exit_code == 2 and "no flagged turn" in result.output
    result = runner.invoke(app, ["review", "label", "abcd", "confirm", "-m", "sarcasm", "--db", str(db)])
    assert result.exit_code == 2 and "unknown mechanism" in result.output
    result = runner.invoke(app, ["review", "list", "--db", str(db), "--since", "soon"])
    assert result.exit_code == 2


def test_store_from_the_environment(db: Path) -> None:
    result = runner.invoke(app, ["review", "list", "--json"], env={"GUARDRAIL_REVIEW_DB": str(db)})
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 30


def test_export(db: Path, tmp_path: Path) -> None:
    first = _ids(db)[-1]["event_id"]
    runner.invoke(app, ["review", "label", first, "confirm", "--db", str(db)])
    out = tmp_path / "export.jsonl"
    result = runner.invoke(app, ["review", "export", "-o", str(out), "--db", str(db)])
    assert result.exit_code == 0 and "exported 30 turns" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["turn_id"] for r in rows] == [f"turn-{i}" for i in range(30)]  # oldest first
    assert rows[0]["labels"]["attenuation"]["label"] == "confirmed" and "Maria" not in out.read_text()
    result = runner.invoke(app, ["review", "export", "--format", "csv", "--status", "confirmed", "--db", str(db)])
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["event_id"] == first and row["label_attenuation"] == "confirmed"
    assert float(row["score_attenuation"]) == 0.55 and row["flags"] == "attenuation"


def test_calibrate_writes_thresholds_for_the_target_precision(db: Path, tmp_path: Path) -> None:
    # reviewers reject the mild flags (score < 0.7) and confirm the rest
    for turn in _ids(db):
        decision = "confirm" if turn["scores"]["attenuation"] >= 0.7 else "reject"
        assert runner.invoke(app, ["review", "label", turn["event_id"], decision, "--db", str(db)]).exit_code == 0
    policy = tmp_path / "guardrail.toml"
    policy.write_text('# ours\n[attenuation]\nthreshold = 0.5\naction = "flag"\n')
    dry = runner.invoke(app, ["calibrate", "--db", str(db), "--policy", str(policy), "--precision", "0.95",
                              "--dry-run"], env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.output
    assert "0.500 → 0.700" in dry.output and "not written" in dry.output
    assert "threshold = 0.5\n" in policy.read_text()
    result = runner.invoke(app, ["calibrate", "--db", str(db), "--policy", str(policy), "--precision", "0.95",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] and report["mechanisms"]["attenuation"]["threshold"] == 0.7
    assert report["mechanisms"]["attenuation"]["precision"] == 1.0
    assert not report["mechanisms"]["granularity"]["changed"]
    data = tomllib.loads(policy.read_text())
    assert data["attenuation"] == {"threshold": 0.7, "action": "flag"} and policy.read_text().startswith("# ours")
    assert load_policy(policy).attenuation.threshold == 0.7
    # the default policy file is ./guardrail.toml (created when missing)
    (tmp_path / "guardrail.toml").unlink()
    result = runner.invoke(app, ["calibrate", "--db", str(db), "--precision", "0.95"])
    assert result.exit_code == 0 and load_policy(tmp_path / "guardrail.toml").attenuation.threshold == 0.7
