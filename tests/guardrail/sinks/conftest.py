"""Fixtures for the sink tests: verdicts without detectors, a real Mosquitto, a subscriber."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import Broker, Subscriber

from guardrail.sinks import factory


@pytest.fixture(autouse=True)
def _fresh_shared_sinks() -> Iterator[None]:
    """Sinks that default_sinks() shares per process are closed after each test."""
    yield
    for sink in list(factory._shared.values()):
        sink.close()
    factory._shared.clear()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    started: list[Broker] = []

    def make(**kwargs: Any) -> Broker:
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        broker = Broker(workdir, **kwargs).start()
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    return make_broker()


@pytest.fixture
def subscribe() -> Iterator[Callable[..., Subscriber]]:
    subs: list[Subscriber] = []

    def make(broker: Broker, topic: str = "guardrail/#", **kwargs: Any) -> Subscriber:
        sub = Subscriber(broker.port, topic, **kwargs).start()
        subs.append(sub)
        return sub

    yield make
    for sub in subs:
        sub.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost."""
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subprocess.run(["openssl", "req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.crt",
                    "-subj", "/CN=guardrail-test-ca", "-days", "2"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", *ec, "-keyout", d / "server.key", "-out", d / "server.csr",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(["openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
                    "-CAcreateserial", "-out", d / "server.crt", "-days", "2", "-extfile", d / "ext.cnf"],
                   check=True, capture_output=True)
    return d / "ca.crt", d / "server.crt", d / "server.key"
