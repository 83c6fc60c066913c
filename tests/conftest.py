"""Shared fixtures.

``guard`` runs the linguistic detectors alone (their unit tests pin their behaviour);
``model_guard`` runs the shipped int8 ONNX model fused with them, as ``Guard()`` does by default.
"""

from __future__ import annotations

import pytest

from guardrail import Guard, load_policy


@pytest.fixture(scope="session")
def guard() -> Guard:
    return Guard(load_policy(model="off"), sinks=[])


@pytest.fixture(scope="session")
def model_guard() -> Guard:
    return Guard(load_policy(model="on"), sinks=[])
