"""A real Mosquitto broker the tests can stop and restart, and a subscriber that records messages."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, *, up: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


class Broker:
    """``mosquitto -c <conf>`` on a free port, with persistence so subscriber sessions survive restarts."""

    def __init__(self, workdir: Path, *, port: int | None = None, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {workdir}/",
                 "autosave_interval 1", "max_queued_messages 100000", "max_inflight_messages 100",
                 "log_dest stderr"]
        if os.geteuid() == 0:
            lines.insert(0, "user root")  # else mosquitto drops to its own user, which cannot read tmp_path
        if users:
            pwfile = workdir / "passwd"
            pwfile.write_text("")
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines += ["allow_anonymous true"]
        if tls:
            ca, cert, key = tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        assert self.proc is None or self.proc.poll() is not None
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        log.close()
        wait_port(self.port, up=True)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        wait_port(self.port, up=False)

    def restart(self) -> None:
        self.stop()
        self.start()


class Subscriber:
    """A persistent-session QoS 1 subscriber: the broker keeps its messages while it is away."""

    def __init__(self, port: int, topic: str = "guardrail/#", *, client_id: str | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        self.port, self.topic = port, topic
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"sub-{os.getpid()}-{port}",
                                  clean_session=False)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.reconnect_delay_set(0.05, 0.2)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def start(self) -> Subscriber:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def event_ids(self) -> set[str]:
        with self._lock:
            return {payload["event_id"] for _, payload in self.messages}

    def wait_for(self, n: int, timeout: float = 20.0) -> set[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.event_ids()
            if len(ids) >= n:
                return ids
            time.sleep(0.02)
        return self.event_ids()
