"""Policy loading: defaults, TOML file, environment on top, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail import Guard, PolicyError, load_policy


def test_defaults_flag_every_mechanism() -> None:
    policy = load_policy()
    for mechanism in ("attenuation", "granularity", "conflict_avoidance", "distancing"):
        rule = policy.for_mechanism(mechanism)  # type: ignore[arg-type]
        assert rule.enabled and rule.action == "flag" and 0 < rule.threshold < 1
    assert policy.fail_mode == "open" and policy.log_text is False


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "guardrail.toml"
    path.write_text('fail_mode = "closed"\n[attenuation]\nthreshold = 0.3\naction = "block"\n'
                    "[distancing]\nenabled = false\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.fail_mode == "closed"
    assert policy.attenuation.threshold == 0.3 and policy.attenuation.action == "block"
    assert policy.distancing.enabled is False

    monkeypatch.setenv("GUARDRAIL_ATTENUATION__THRESHOLD", "0.8")
    monkeypatch.setenv("GUARDRAIL_POLICY", str(path))
    from_env = load_policy()
    assert from_env.attenuation.threshold == 0.8  # environment wins
    assert from_env.attenuation.action == "block"  # the rest of the file's table is kept


@pytest.mark.parametrize(("content", "message"), [
    ("[attenuation\nthreshold = 0.3", "not valid TOML"),
    ("[attenuation]\nthreshold = 1.5\n", "threshold"),
    ("[attenuation]\naction = \"shout\"\n", "action"),
    ("unknown_key = 1\n", "unknown_key"),
])
def test_invalid_files_fail_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")


def test_policy_drives_the_guard(tmp_path: Path) -> None:
    user = "my dad died on tuesday, he was 58. i keep picking up my phone to text him and then i fall apart"
    reply = "It sounds like you are navigating a challenging time. Consider reaching out to a professional."
    path = tmp_path / "p.toml"
    path.write_text('[attenuation]\naction = "block"\n', encoding="utf-8")
    blocked = Guard(load_policy(path), sinks=[]).check(user=user, response=reply)
    assert blocked.action == "block" and blocked.final_text != reply
    path.write_text("[attenuation]\nenabled = false\n", encoding="utf-8")
    off = Guard(load_policy(path), sinks=[]).check(user=user, response=reply)
    assert "attenuation" not in off.scores and "attenuation" not in off.flags
