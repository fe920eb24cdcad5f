"""The publisher against a real mosquitto on loopback: availability, discovery, ordered
QoS 1 events from the durable outbox, a broker outage and a publisher restart."""

import json
import time

from edge.store import Store
from edge.unit.config import MQTTConfig
from edge.unit.events import Event, Presence
from edge.unit.mqtt import Publisher
from tests.integration.conftest import Listener


def _event(i: int, **kw) -> Event:
    return Event(f"ev-{i:04d}", "match", "Alice", 0.71, "2026-11-22T00:00:00.000Z", "door", i, (1.0, 2.0, 3.0, 4.0), **kw)


def _cfg(port: int) -> MQTTConfig:
    return MQTTConfig(host="127.0.0.1", port=port, keepalive_s=5)


def test_availability_discovery_and_ordered_events(broker, tmp_path):
    listen = Listener(broker.port, "#")
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st, sw_version="test")
        pub.start()
        try:
            assert listen.wait_for(lambda: pub.connected)
            for i in range(20):
                pub.publish_event(_event(i))
            pub.publish_state(Presence(True, ("Alice",), "Alice"))
            assert listen.wait_for(lambda: len(listen.events()) == 20)
            assert [e["event_id"] for e in listen.events()] == [f"ev-{i:04d}" for i in range(20)]
            assert listen.wait_for(lambda: pub.pending() == 0)
            topics = {t: (p, r) for t, p, r in listen.messages}
            assert topics["edgeface/door/availability"][0] == b"online"
            disc = [t for t in topics if t.startswith("homeassistant/") and topics[t][0]]  # not the removals (empty)
            assert {t.split("/")[1] for t in disc} == {"sensor", "binary_sensor", "event", "device_automation"}
            ev_cfg = json.loads(topics["homeassistant/event/edgeface_door/recognition/config"][0])
            assert ev_cfg["event_types"] == ["match", "unknown", "spoof"] and ev_cfg["availability_topic"] == "edgeface/door/availability"
            assert all("embedding" not in e and "image" not in e for e in listen.events())  # privacy: nothing extra
        finally:
            pub.stop()
    assert listen.wait_for(lambda: any(t.endswith("/availability") and p == b"offline" for t, p, _ in listen.messages))
    listen.close()


def test_broker_outage_loses_nothing_and_keeps_order(broker, tmp_path):
    listen = Listener(broker.port, "edgeface/door/event", persistent=True)
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st)
        pub.start()
        try:
            assert listen.wait_for(lambda: pub.connected)
            for i in range(5):
                pub.publish_event(_event(i))
            assert listen.wait_for(lambda: len(listen.events()) == 5)
            broker.stop()
            assert listen.wait_for(lambda: not pub.connected, timeout=15)
            for i in range(5, 15):
                pub.publish_event(_event(i))  # broker down: they wait on disk
            assert pub.pending() == 10
            time.sleep(0.5)
            broker.start()
            assert listen.wait_for(lambda: len({e["event_id"] for e in listen.events()}) == 15, timeout=45)
            assert listen.wait_for(lambda: pub.pending() == 0, timeout=15)
            ids = [e["event_id"] for e in listen.events()]
            first_seen = list(dict.fromkeys(ids))
            assert first_seen == [f"ev-{i:04d}" for i in range(15)]  # in order; any resend repeats an event_id
        finally:
            pub.stop()
    listen.close()


def test_events_survive_a_restart_of_the_publisher(broker, tmp_path):
    db = tmp_path / "s.db"
    broker.stop()
    with Store(db) as st:
        pub = Publisher(_cfg(broker.port), "door", st)
        pub.start()
        for i in range(6):
            pub.publish_event(_event(i))
        pub.stop()  # e.g. the daemon restarted while the broker was down
        assert len(st.outbox_pending()) == 6
    broker.start()
    listen = Listener(broker.port, "edgeface/door/event")
    assert listen.wait_for(lambda: listen.client.is_connected())
    with Store(db) as st:
        pub = Publisher(_cfg(broker.port), "door", st)
        pub.start()
        try:
            assert listen.wait_for(lambda: len(listen.events()) == 6, timeout=20)
            assert [e["event_id"] for e in listen.events()] == [f"ev-{i:04d}" for i in range(6)]
            assert listen.wait_for(lambda: pub.pending() == 0)
        finally:
            pub.stop()
    listen.close()


def _tls_files(tmp_path):
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    import subprocess

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgeface test CA", "-keyout", "ca.key", "-out", "ca.crt")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt")
    return tmp_path / "ca.crt"


def test_tls_with_ca_file_and_password_file(tmp_path):
    """TLS verified against our CA, username + password from a file; a wrong password is refused
    and the event waits in the outbox."""
    import shutil
    import subprocess

    import pytest

    from edge.apps.broker import LocalBroker, mosquitto_binary
    from edge.unit.config import TLSConfig

    if mosquitto_binary() is None or shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl")
    ca = _tls_files(tmp_path)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "door", "s3cret"], check=True, capture_output=True)
    broker = LocalBroker(tmp_path, extra_conf=f"cafile {ca}\ncertfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n"
                                             f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}\n").start()
    secret = tmp_path / "mqtt-password"
    try:
        listen = Listener(broker.port, "edgeface/door/#", ca_file=ca, username="door", password="s3cret")
        assert listen.wait_for(lambda: listen.client.is_connected())
        for password, expect in (("wrong", False), ("s3cret", True)):
            secret.write_text(password + "\n")
            cfg = MQTTConfig(host="127.0.0.1", port=broker.port, tls=TLSConfig(ca_file=ca), username="door", password_file=secret)
            with Store(tmp_path / f"{password}.db") as st:
                pub = Publisher(cfg, "door", st)
                pub.start()
                try:
                    pub.publish_event(_event(1 if expect else 0))
                    assert listen.wait_for(lambda p=pub: p.connected, timeout=5 if not expect else 15) is expect
                    if expect:
                        assert listen.wait_for(lambda p=pub: p.pending() == 0)
                    else:
                        assert pub.pending() == 1  # refused: the event stays on disk
                finally:
                    pub.stop()
        assert [e["event_id"] for e in listen.events()] == ["ev-0001"]
        listen.close()
    finally:
        broker.stop()


def test_disk_full_events_still_go_out_and_the_failure_is_logged(broker, tmp_path, caplog):
    """Disk full, simulated with SQLite's own limit (PRAGMA max_page_count: writes then fail with
    SQLITE_FULL, 'database or disk is full'): events cannot be made durable, so they wait in
    memory and are still delivered; the error says what happened and what to do."""
    listen = Listener(broker.port, "edgeface/door/event")
    with Store(tmp_path / "s.db") as st:
        pages = st._db.execute("PRAGMA page_count").fetchone()[0]
        st._db.execute(f"PRAGMA max_page_count = {pages}")  # fault injection: no room to grow
        pub = Publisher(_cfg(broker.port), "door", st)
        pub.start()
        try:
            assert listen.wait_for(lambda: pub.connected)
            for i in range(5):
                pub.publish_event(_event(i, attributes={"pad": "x" * 20000}))
            assert listen.wait_for(lambda: len(listen.events()) == 5)
            assert [e["event_id"] for e in listen.events()] == [f"ev-{i:04d}" for i in range(5)]
            assert st.outbox_count() == 0 and pub.pending() == 0
        finally:
            pub.stop()
    listen.close()
    assert "not made durable" in caplog.text and "free disk space" in caplog.text


def test_discovery_shows_no_none_exposes_the_event_and_who_is_present(broker, tmp_path):
    listen = Listener(broker.port, "homeassistant/#")
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st, sw_version="test")
        pub.start()
        try:
            assert listen.wait_for(lambda: len({t for t, _, _ in listen.messages}) >= 4)
        finally:
            pub.stop()
    listen.close()
    cfgs = {t: json.loads(p) for t, p, _ in listen.messages if p}
    last = cfgs["homeassistant/sensor/edgeface_door/last_person/config"]["value_template"]
    assert "is not none" in last and "default(" not in last  # JSON null would show the text None
    ev = cfgs["homeassistant/event/edgeface_door/recognition/config"]
    assert ev["qos"] == 1
    for key in ("event_id", "track_id", "box", "timestamp", "attributes", "liveness"):
        assert key in ev["value_template"]
    assert "image" not in ev["value_template"] and "embedding" not in ev["value_template"]
    present = cfgs["homeassistant/sensor/edgeface_door/present/config"]
    assert present["state_topic"] == "edgeface/door/state" and "present" in present["json_attributes_template"]


def test_a_burst_of_home_assistant_births_is_answered_once_or_twice(broker, tmp_path):
    listen = Listener(broker.port, "homeassistant/#")
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st, sw_version="test")
        pub.start()
        try:
            topic = "homeassistant/sensor/edgeface_door/last_person/config"
            assert listen.wait_for(lambda: any(t == topic for t, _, _ in listen.messages))
            for _ in range(200):
                listen.client.publish("homeassistant/status", "online", qos=1)
            time.sleep(Publisher.REDISCOVERY_S + 2.0)
            n = sum(1 for t, _, _ in listen.messages if t == topic)
        finally:
            pub.stop()
    listen.close()
    assert 2 <= n <= 3  # the first announcement, then at most one now and one when the window ends


def test_person_entities_follow_enrolment_and_removal_across_restarts(broker, tmp_path):
    """Entities appear when a person is enrolled (not at a first match) and go when they are
    removed, also when the removal happened while the unit was stopped."""
    from edge.unit.discovery import person_key

    listen = Listener(broker.port, "#")
    alice, bob = person_key("Alice"), person_key("Bob")
    cfg_topic = lambda k: f"homeassistant/binary_sensor/edgeface_door/{k}_present/config"  # noqa: E731
    retained = lambda t: [p for tt, p, _ in listen.messages if tt == t]  # noqa: E731
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st, people=["Alice"])
        pub.start()
        try:
            assert listen.wait_for(lambda: retained(cfg_topic(alice)))
            assert not retained(cfg_topic(bob))
            pub.set_people(["Alice", "Bob"])  # Bob enrolled while running
            assert listen.wait_for(lambda: retained(cfg_topic(bob)))
            pub.publish_person("Bob", present=True, seen_at="2026-12-01T10:00:00.000Z")
            assert listen.wait_for(lambda: retained(f"edgeface/door/person/{bob}/last_seen") == [b"2026-12-01T10:00:00.000Z"])
            assert listen.wait_for(lambda: st.announced() == ["Alice", "Bob"])
        finally:
            pub.stop()
        # Bob removed while the unit is stopped: the next start removes his entities and clears his state
        pub = Publisher(_cfg(broker.port), "door", st, people=["Alice"])
        pub.start()
        try:
            assert listen.wait_for(lambda: retained(cfg_topic(bob))[-1:] == [b""])
            assert listen.wait_for(lambda: retained(f"edgeface/door/person/{bob}/last_seen")[-1:] == [b""])
            assert listen.wait_for(lambda: st.announced() == ["Alice"])
            assert retained(cfg_topic(alice))[-1] != b""
        finally:
            pub.stop()
    listen.close()
    # a new subscriber sees no retained entity of Bob's at all
    late = Listener(broker.port, "#")
    assert late.wait_for(lambda: any(t == cfg_topic(alice) for t, _, _ in late.messages))
    assert not any(bob in t for t, _, _ in late.messages)
    late.close()


def test_device_discovery_is_one_retained_config(broker, tmp_path):
    from edge.unit.config import HomeAssistantConfig

    listen = Listener(broker.port, "homeassistant/#")
    with Store(tmp_path / "s.db") as st:
        pub = Publisher(_cfg(broker.port), "door", st, people=["Alice"], ha=HomeAssistantConfig(discovery="device", suggested_area="Hall"))
        pub.start()
        try:
            assert listen.wait_for(lambda: any(t == "homeassistant/device/edgeface_door/config" for t, _, _ in listen.messages))
        finally:
            pub.stop()
    listen.close()
    configs = [(t, json.loads(p)) for t, p, _ in listen.messages if t.endswith("/config") and p]
    assert [t for t, _ in configs] == ["homeassistant/device/edgeface_door/config"]
    d = configs[0][1]
    assert d["dev"]["suggested_area"] == "Hall" and {c["p"] for c in d["cmps"].values()} >= {"sensor", "binary_sensor", "event", "device_automation"}


def test_the_shipped_mosquitto_acl_lets_unit_and_home_assistant_do_their_part_only(tmp_path):
    """firmware_configs/mosquitto/edgeface.acl as shipped, with a password file: the unit publishes
    its discovery and events and hears Home Assistant's birth; Home Assistant reads them and may
    write door/ha_set but not the signed door/set; the unit reads nothing outside its topics."""
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    from edge.apps.broker import LocalBroker, mosquitto_binary

    if mosquitto_binary() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto and mosquitto_passwd")
    acl = Path(__file__).resolve().parents[2] / "firmware_configs" / "mosquitto" / "edgeface.acl"
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "edgeface", "unit-pw"], check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "homeassistant", "ha-pw"], check=True, capture_output=True)
    broker = LocalBroker(tmp_path, extra_conf=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n").start()
    (tmp_path / "pw").write_text("unit-pw\n")
    try:
        ha = Listener(broker.port, "#", username="homeassistant", password="ha-pw")
        unit_view = Listener(broker.port, "#", username="edgeface", password="unit-pw")
        assert ha.wait_for(lambda: ha.client.is_connected() and unit_view.client.is_connected())
        cfg = MQTTConfig(host="127.0.0.1", port=broker.port, username="edgeface", password_file=tmp_path / "pw", keepalive_s=5)
        with Store(tmp_path / "s.db") as st:
            pub = Publisher(cfg, "door", st)
            pub.start()
            try:
                pub.publish_event(_event(1))
                assert ha.wait_for(lambda: [e["event_id"] for e in ha.events()] == ["ev-0001"])
                assert ha.wait_for(lambda: any(t.startswith("homeassistant/event/edgeface_door/") for t, _, _ in ha.messages))
                n = sum(1 for t, _, _ in ha.messages if t.endswith("/last_person/config"))
                ha.client.publish("homeassistant/status", "online", qos=1)  # the unit hears Home Assistant's birth
                assert ha.wait_for(lambda: sum(1 for t, _, _ in ha.messages if t.endswith("/last_person/config")) > n)
                ha.client.publish("edgeface/door/door/set", "forged", qos=1)
                ha.client.publish("zigbee2mqtt/lock/set", "UNLOCK", qos=1)
                ha.client.publish("edgeface/door/door/ha_set", "OFF", qos=1)  # last: once it arrives, the others would have
                assert unit_view.wait_for(lambda: any(t == "edgeface/door/door/ha_set" for t, _, _ in unit_view.messages))
                seen = {t for t, _, _ in unit_view.messages}
                assert "edgeface/door/door/set" not in seen and "zigbee2mqtt/lock/set" not in seen
            finally:
                pub.stop()
        ha.close()
        unit_view.close()
    finally:
        broker.stop()


def test_events_wait_a_moment_after_a_units_first_discovery_only(broker, tmp_path):
    """Home Assistant subscribes to a new entity's topics about a second after its config arrives: on
    the first announcement a store's unit ever made, events are held back for FIRST_DISCOVERY_HOLD_S
    (on disk meanwhile); on the next start they go out at once."""
    listen = Listener(broker.port, "edgeface/door/#")
    stamps: dict[str, float] = {}
    original = listen._on_message

    def stamp(client, userdata, msg):
        stamps.setdefault(msg.topic if not msg.topic.endswith("/event") else json.loads(msg.payload)["event_id"], time.monotonic())
        original(client, userdata, msg)

    listen.client.on_message = stamp
    assert listen.wait_for(lambda: listen.client.is_connected())
    for run in (1, 2):
        stamps.clear()
        with Store(tmp_path / "s.db") as st:
            pub = Publisher(_cfg(broker.port), "door", st)
            pub.publish_event(_event(run))
            pub.start()
            try:
                assert listen.wait_for(lambda r=run: f"ev-{r:04d}" in stamps)
            finally:
                pub.stop()
        waited = stamps[f"ev-{run:04d}"] - stamps["edgeface/door/availability"]
        if run == 1:
            assert waited >= Publisher.FIRST_DISCOVERY_HOLD_S - 0.2, waited
        else:
            assert waited < Publisher.FIRST_DISCOVERY_HOLD_S - 0.2, waited  # announced before: no hold
    listen.close()
