"""Fixtures for the integration tests; the kit itself is ``integration_fakes`` beside this file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

sys.path.insert(0, str(Path(__file__).parent))

from integration_fakes import make_upstream, serve


@pytest.fixture(scope="session")
def upstream_app() -> Starlette:
    return make_upstream()


@pytest.fixture(scope="session")
def upstream(upstream_app: Starlette) -> Iterator[str]:
    """Base URL of the fake upstream, ``/v1`` included."""
    with serve(upstream_app) as url:
        yield url + "/v1"
