from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from guardrail import load_policy
from guardrail.review import PolicyFileError, calibrate, calibrate_mechanism, write_thresholds


def _samples(pairs: list[tuple[float, int, int]]) -> list[tuple[float, bool]]:
    """(score, confirmed count, rejected count) → samples."""
    out: list[tuple[float, bool]] = []
    for score, yes, no in pairs:
        out += [(score, True)] * yes + [(score, False)] * no
    return out


def test_raises_threshold_to_reach_precision() -> None:
    # false alarms cluster at low scores
    samples = _samples([(0.52, 1, 6), (0.58, 2, 5), (0.7, 9, 1), (0.85, 10, 0)])
    r = calibrate_mechanism("attenuation", samples, 0.5, target_precision=0.9)
    assert r.changed and r.threshold == 0.7
    assert r.precision == pytest.approx(19 / 20) and r.precision_current == pytest.approx(22 / 34)
    assert r.recall == pytest.approx(19 / 22)
    assert (r.labels, r.confirmed, r.rejected) == (34, 22, 12)


def test_lowers_threshold_on_confirmed_misses() -> None:
    samples = _samples([(0.35, 6, 0), (0.6, 15, 1)])
    r = calibrate_mechanism("granularity", samples, 0.5, target_precision=0.9)
    assert r.changed and r.threshold == 0.35 and "lowered" in r.reason


def test_never_raised_without_evidence_below() -> None:
    samples = _samples([(0.6, 20, 1)])
    r = calibrate_mechanism("distancing", samples, 0.5, target_precision=0.9)
    assert not r.changed and r.threshold == 0.5


def test_keeps_threshold_when_target_unreachable_or_too_few_labels() -> None:
    noisy = _samples([(0.6, 5, 5), (0.9, 5, 5)])
    r = calibrate_mechanism("attenuation", noisy, 0.5, target_precision=0.9)
    assert not r.changed and "no threshold reaches" in r.reason
    r = calibrate_mechanism("attenuation", noisy[:5], 0.5, min_labels=20)
    assert not r.changed and "only 5 labels" in r.reason
    r = calibrate_mechanism("attenuation", _samples([(0.6, 2, 30)]), 0.5, min_confirmed=5)
    assert not r.changed and "confirmed" in r.reason


def test_all_mechanisms_and_bad_target() -> None:
    current = {"attenuation": 0.5, "granularity": 0.5, "conflict_avoidance": 0.5, "distancing": 0.5}
    results = calibrate({"attenuation": _samples([(0.52, 1, 6), (0.7, 20, 1)])}, current, min_labels=5)
    assert set(results) == set(current)
    assert results["attenuation"].threshold == 0.7 and not results["granularity"].changed
    with pytest.raises(ValueError):
        calibrate({}, current, target_precision=0)


POLICY = """# team policy
fail_mode = "open"   # keep replies flowing

[attenuation]
# grief matters most
threshold = 0.55  # tuned by hand
action = "flag"

[distancing]
enabled = false
"""


def test_write_thresholds_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "guardrail.toml"
    path.write_text(POLICY)
    write_thresholds(path, {"attenuation": 0.7123456, "distancing": 0.6, "granularity": 0.4})
    text = path.read_text()
    assert "# team policy" in text and "# grief matters most" in text and 'fail_mode = "open"' in text
    data = tomllib.loads(text)
    assert data["attenuation"] == {"threshold": 0.7123, "action": "flag"}
    assert data["distancing"] == {"threshold": 0.6, "enabled": False}
    assert data["granularity"] == {"threshold": 0.4}
    policy = load_policy(path)
    assert policy.attenuation.threshold == 0.7123 and policy.granularity.threshold == 0.4
    assert not policy.distancing.enabled


def test_write_thresholds_creates_a_file_and_handles_dotted_keys(tmp_path: Path) -> None:
    new = tmp_path / "sub" / "policy.toml"
    write_thresholds(new, {"conflict_avoidance": 0.65})
    assert load_policy(new).conflict_avoidance.threshold == 0.65
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('attenuation.threshold = 0.5\nattenuation.action = "block"\n')
    write_thresholds(dotted, {"attenuation": 0.8})
    data = tomllib.loads(dotted.read_text())
    assert data["attenuation"] == {"threshold": 0.8, "action": "block"}


def test_write_thresholds_refuses_broken_toml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[attenuation\nthreshold = ")
    with pytest.raises(PolicyFileError, match="not valid TOML"):
        write_thresholds(bad, {"attenuation": 0.6})
    assert bad.read_text() == "[attenuation\nthreshold = "
