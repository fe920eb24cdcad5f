"""A real mosquitto broker on a free loopback port, started by the tests (Debian's mosquitto)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edge.apps.broker import LocalBroker, mosquitto_binary

MOSQUITTO = mosquitto_binary()


@pytest.fixture
def broker(tmp_path):
    """A broker that keeps persistent sessions across its own restarts, so a listener with
    ``persistent=True`` misses nothing while the broker is stopped and started by a test."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto; .ci/run does)")
    b = LocalBroker(tmp_path, persistent=True).start()
    yield b
    b.stop()


class Listener:
    """A second client recording every message under a topic filter."""

    def __init__(self, port: int, topic: str, *, ca_file=None, username=None, password=None, persistent=False):
        """``persistent``: a session the broker keeps (clean_session off), so QoS 1 messages
        published while this client is reconnecting are queued for it, not lost to the test."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{port}-{time.time()}", clean_session=not persistent)
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def events(self, topic_suffix: str = "/event") -> list[dict]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(topic_suffix)]

    def wait_for(self, pred, timeout: float = 15.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def templates(recognizer):
    """The demo gallery's enrolment embeddings, by name (firmware_configs/demo/gallery)."""
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent.parent / "firmware_configs" / "demo"
    out = {}
    for folder in (demo / "gallery").iterdir():
        out[folder.name.replace("_", " ")] = recognizer.enrollment_embeddings(sorted(folder.iterdir()))
    return out
