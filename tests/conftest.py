"""Shared fixtures: one guard with the default policy and no sinks (tests assert on verdicts)."""

from __future__ import annotations

import pytest

from guardrail import Guard, load_policy


@pytest.fixture(scope="session")
def guard() -> Guard:
    return Guard(load_policy(), sinks=[])
