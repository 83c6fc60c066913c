"""The guardrail command: check, scan, demo (through typer's runner, as a person would call them)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guardrail.cli import app

runner = CliRunner()
GRIEF = "my dad died on tuesday, he was 58. i keep picking up my phone to text him and then i fall apart"
FLAT = "It sounds like you are navigating a challenging time. Consider reaching out to a professional."


def test_check_json_is_one_scan_line() -> None:
    result = runner.invoke(app, ["check", "--user", GRIEF, "--response", FLAT, "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["flagged"] is True and "attenuation" in line["flags"]


def test_check_human_output_names_the_mechanism() -> None:
    result = runner.invoke(app, ["check", "--user", GRIEF, "--response", FLAT])
    assert result.exit_code == 0
    assert "FLAGGED" in result.stdout and "attenuation" in result.stdout


def test_check_without_reference_is_a_usage_error() -> None:
    result = runner.invoke(app, ["check", "--response", FLAT])
    assert result.exit_code == 2


def test_scan_writes_one_line_per_input_and_a_summary(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        (json.dumps({"id": "a", "user": GRIEF, "response": FLAT}) + "\n"
         + "garbage line\n"
         + json.dumps({"id": "b", "user": "What is 2+2?", "response": "4."}) + "\n").encode()
        + b"\xff\xfe{\"id\": \"c\"}\n"
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scan", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", None, "b", None]
    assert lines[0]["flagged"] and not lines[2]["flagged"]
    assert "line 2" in lines[1]["error"] and "line 4" in lines[3]["error"]
    assert "skipped" in result.stderr and "attenuation" in result.stderr


def test_scan_fail_on_flag_and_missing_file(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "user": GRIEF, "response": FLAT}) + "\n")
    assert runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "o.jsonl"), "--fail-on-flag"]).exit_code == 1
    assert runner.invoke(app, ["scan", str(tmp_path / "missing.jsonl")]).exit_code == 2


def test_demo_runs_every_example() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for turn_id in ("neutral-code", "grief-attuned", "joy-attuned"):
        assert turn_id in result.stdout
    assert result.stdout.count("⚑") >= 5  # the failing examples are flagged
