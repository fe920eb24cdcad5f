"""The daemon end to end: the bundled clip, the real int8 models, a real SQLite store and a real
mosquitto on loopback, subscribed to by a second client.

What the clip holds (see firmware_configs/demo/PROVENANCE.md): Lin-Manuel Miranda in a wide shot
(frames 0-20) and a close shot (82-209); Alex Lacamoire tiny at the piano, then in profile
(21-81); the audience at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from edge.errors import StoreError
from edge.store import Store
from edge.unit.config import apply_overrides, load_config
from edge.unit.daemon import Daemon, status_path
from edge.unit.discovery import person_key
from tests.integration.conftest import Listener

REPO = Path(__file__).resolve().parent.parent.parent
DEMO = REPO / "firmware_configs" / "demo"
CLIP = DEMO / "short_hamilton_clip.mp4"
LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"
EDGEFACE = [sys.executable, "-m", "edge.apps.cli"]


def make_store(path: Path, templates, people, fingerprint) -> Path:
    """The store of a unit that has run before (its discovery announced: no first-discovery hold)."""
    with Store(path) as st:
        for p in people:
            st.enroll(p, templates[p], fingerprint)
        st.set_announced(people)
    return path


def config(tmp_path, store, port=1, **overrides):
    return load_config(DEMO / "demo.yaml", {"camera.source": str(CLIP), "store.path": str(store), "mqtt.port": port,
                                            "mqtt.host": "127.0.0.1", **overrides})


def run_collecting(cfg, **kw):
    events = []
    daemon = Daemon(cfg, on_event=events.append, **kw)
    stats = daemon.run()
    return daemon, stats, events


def summary(events):
    return [(e["type"], e["person"]) for e in events]


def test_clip_gives_one_match_per_visit_and_the_contract_over_mqtt(tmp_path, broker, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    listener = Listener(broker.port, "#")
    assert listener.wait_for(lambda: listener.client.is_connected())
    daemon, stats, produced = run_collecting(config(tmp_path, store, broker.port))
    assert listener.wait_for(lambda: len(listener.events()) >= len(produced))
    assert listener.wait_for(lambda: any(t == "edgeface/demo/availability" and p == b"offline" for t, p, _ in listener.messages))
    listener.close()
    got = listener.events()
    # one match per visit, right names, in order; Lin's second shot is within the cooldown. The audience
    # member cut by the frame's right edge gives no decision: half of the crop is outside the frame and
    # the embedder finds no face in it (norm 5.4-6.6 < min_norm 7.0)
    assert summary(got) == [("match", LIN), ("match", ALEX)]
    assert [e["event_id"] for e in got] == [e["event_id"] for e in produced]
    for e in got:
        assert set(e) == {"event_id", "type", "person", "similarity", "timestamp", "device_id", "track_id", "box"}
        assert e["device_id"] == "demo" and e["timestamp"].endswith("Z") and len(e["box"]) == 4
    points = json.loads(status_path(store).read_text())["operating_points"]
    announce = next(p for p in points if p["purpose"] == "announce")
    assert announce["templates"] == 3 and announce["target"] == 0.01 and announce["backed"]
    assert got[0]["similarity"] > 0.5 and announce["threshold"] < got[1]["similarity"] < got[0]["similarity"]
    assert stats.frames == 275 and stats.events == {"match": 2, "unknown": 0, "spoof": 0}
    # availability, retained discovery, retained state
    avail = [(p, r) for t, p, r in listener.messages if t == "edgeface/demo/availability"]
    assert avail[0][0] == b"online" and avail[-1][0] == b"offline"
    disco = {t: json.loads(p) for t, p, r in listener.messages if t.startswith("homeassistant/") and t.endswith("/config") and p}
    entities = {t: d for t, d in disco.items() if "/device_automation/" not in t}
    assert {t.split("/")[1] for t in disco} == {"sensor", "binary_sensor", "event", "device_automation"}
    assert all(d["availability_topic"] == "edgeface/demo/availability" for d in entities.values())
    # per enrolled person: 'at the door', 'last seen' and a 'recognised' trigger, from the start (before any match)
    for name in (LIN, ALEX):
        key = person_key(name)
        assert disco[f"homeassistant/binary_sensor/edgeface_demo/{key}_present/config"]["name"] == f"{name} at the door"
        assert disco[f"homeassistant/device_automation/edgeface_demo/{key}_recognised/config"]["payload"] == f"match:{name}"
        present = [p for t, p, r in listener.messages if t == f"edgeface/demo/person/{key}/present"]
        assert present[0] == b"OFF" and b"ON" in present and present[-1] == b"OFF"  # off, on while in view, off at the end
        seen = [p for t, p, r in listener.messages if t == f"edgeface/demo/person/{key}/last_seen"]
        assert seen and seen[-1].decode() == next(e["timestamp"] for e in got if e["person"] == name)
    diag = [json.loads(p) for t, p, r in listener.messages if t == "edgeface/demo/diagnostics"]
    assert diag and diag[-1]["people_enrolled"] == 2 and diag[-1]["outbox_pending"] >= 0 and diag[-1]["fps"] > 0
    states = [json.loads(p) for t, p, r in listener.messages if t == "edgeface/demo/state"]
    assert any(LIN in s["present"] for s in states) and states[-1]["last_person"] == ALEX
    # the clip has a face in every frame; the run's first state (before 'online') and last (before 'offline') have none
    assert not states[0]["face_present"] and not states[-1]["face_present"] and all(s["face_present"] for s in states[1:-1])
    with Store(store) as st:
        assert st.outbox_pending() == []


def test_door_pose_gate_refuses_the_profile_only_pianist(tmp_path, templates, recognizer):
    """With a door unit's gates (yaw <= 0.6, faces >= 40 px) Alex, filmed only in profile, is never
    decided on: no match and no unknown for him."""
    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    cfg = config(tmp_path, store, **{"recognition.max_yaw_ratio": 0.6, "recognition.min_face_px": 40})
    _, _, events = run_collecting(cfg, drain_s=0)
    assert summary(events) == [("match", LIN)]


def test_an_unenrolled_face_gives_unknown_events_not_matches(tmp_path, templates, recognizer):
    """Only Alex enrolled: Lin's two shots are each one unknown event; never a match for Lin,
    although single frames of Lin reach Alex's threshold (K of N holds)."""
    store = make_store(tmp_path / "s.db", templates, [ALEX], recognizer.embedder.fingerprint)
    _, _, events = run_collecting(config(tmp_path, store), drain_s=0)
    assert ("match", ALEX) in summary(events) and all(e["person"] != LIN for e in events)
    unknown = [e for e in events if e["type"] == "unknown"]
    assert len(unknown) >= 2 and len({e["track_id"] for e in unknown}) == len(unknown)
    with Store(store) as st:  # no broker: every event waits in the outbox, in order
        assert [json.loads(o.payload)["event_id"] for o in st.outbox_pending()] == [e["event_id"] for e in events]


def test_attributes_image_and_embedding_only_when_configured(tmp_path, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    cfg = config(tmp_path, store, **{"models.attributes": True, "mqtt.publish_images": True, "mqtt.publish_embeddings": True})
    _, _, events = run_collecting(cfg, drain_s=0)
    e = next(e for e in events if e["type"] == "match")
    assert set(e["attributes"]) == {"age", "gender", "gender_confidence", "emotion"} and 10 < e["attributes"]["age"] < 70
    assert len(e["embedding"]) == 128 and len(e["image_jpeg_b64"]) > 1000
    import base64

    import cv2
    import numpy as np

    face = cv2.imdecode(np.frombuffer(base64.b64decode(e["image_jpeg_b64"]), np.uint8), cv2.IMREAD_COLOR)
    assert face.shape == (112, 112, 3) and face[..., 2].mean() > face[..., 0].mean() + 10  # skin: more red than blue (not RGB as BGR)


def test_broker_outage_mid_run_loses_nothing_and_keeps_order(tmp_path, broker, templates, recognizer):
    """Real-time playback, no cooldown: three decisions spread over 9 s. The broker is stopped after
    the first two were delivered and started again after the third was made: all four arrive, in
    order, each once (by event_id)."""
    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    cfg = config(tmp_path, store, broker.port, **{"camera.realtime": True, "recognition.decision.cooldown_s": 0})
    listener = Listener(broker.port, "edgeface/demo/event", persistent=True)
    assert listener.wait_for(lambda: listener.client.is_connected())
    produced: list[dict] = []
    daemon = Daemon(cfg, on_event=produced.append, drain_s=15)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        assert listener.wait_for(lambda: len(listener.events()) >= 2, timeout=30)
        broker.stop()
        assert listener.wait_for(lambda: len(produced) >= 3, timeout=30)
        with Store(store) as st:
            queued = len(st.outbox_pending())
        assert queued >= 1  # the third event waits on disk while the broker is down
        broker.start()
    finally:
        thread.join(timeout=60)
    assert listener.wait_for(lambda: len({e["event_id"] for e in listener.events()}) >= len(produced), timeout=30)
    listener.close()
    got = listener.events()
    first_seen = list(dict.fromkeys(e["event_id"] for e in got))
    assert first_seen == [e["event_id"] for e in produced]
    assert summary(produced) == [("match", LIN), ("match", ALEX), ("match", LIN)]
    with Store(store) as st:
        assert st.outbox_pending() == []


def _write_config(tmp_path, store, port, **changes) -> Path:
    data = apply_overrides(yaml.safe_load((DEMO / "demo.yaml").read_text()),
                           {"camera.source": str(CLIP), "store.path": str(store), "mqtt.host": "127.0.0.1", "mqtt.port": port, **changes})
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_kill_9_then_restart_delivers_every_outbox_entry(tmp_path, broker, templates, recognizer):
    """The daemon is killed (SIGKILL) while events wait for a broker that is down; the store stays
    consistent, and the next start delivers the waiting events first, with their event_ids."""
    from edge.apps.broker import free_port

    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    dead_port = free_port()
    cfg = _write_config(tmp_path, store, dead_port, **{"camera.realtime": True, "recognition.decision.cooldown_s": 0})
    proc = subprocess.Popen([*EDGEFACE, "run", "--config", str(cfg)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.time() + 60
        waiting = []
        while time.time() < end and len(waiting) < 2:
            with Store(store) as st:
                waiting = st.outbox_pending()
            time.sleep(0.1)
        assert len(waiting) >= 2, proc.stderr.read().decode() if proc.poll() is not None else "no events"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with Store(store) as st:
        assert st.integrity_ok()
        after_kill = st.outbox_pending()
    assert [o.event_id for o in after_kill][: len(waiting)] == [o.event_id for o in waiting]
    listener = Listener(broker.port, "edgeface/demo/event")
    assert listener.wait_for(lambda: listener.client.is_connected())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "no_face.png").write_bytes((REPO / "tests" / "data" / "insightface__no_face.png").read_bytes())
    rc = subprocess.run([*EDGEFACE, "run", "--config", str(cfg), "--source", str(empty), "--mqtt-port", str(broker.port)],
                        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rc.returncode == 0, rc.stderr
    assert listener.wait_for(lambda: len(listener.events()) >= len(after_kill))
    listener.close()
    assert list(dict.fromkeys(e["event_id"] for e in listener.events())) == [o.event_id for o in after_kill]
    with Store(store) as st:
        assert st.outbox_pending() == []


def test_sigterm_publishes_offline_and_stops_promptly(tmp_path, broker, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    cfg = _write_config(tmp_path, store, broker.port, **{"camera.realtime": True})
    listener = Listener(broker.port, "edgeface/demo/availability")
    proc = subprocess.Popen([*EDGEFACE, "run", "--config", str(cfg)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert listener.wait_for(lambda: any(p == b"online" for _, p, _ in listener.messages), timeout=60)
        def written() -> bool:  # the status file is rewritten once a second
            try:
                return json.loads(status_path(store).read_text())["frames"] > 0
            except (OSError, ValueError, KeyError):
                return False

        assert listener.wait_for(written, timeout=30)
        live = subprocess.run([*EDGEFACE, "status", "--config", str(cfg), "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
        st = json.loads(live.stdout)
        assert live.returncode == 0 and st["state"] == "running" and st["frames"] > 0 and st["mqtt_connected"] is True
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, proc.stderr.read().decode()
    assert listener.wait_for(lambda: listener.messages[-1][1] == b"offline")
    listener.close()
    assert took < 10  # generous on a shared machine; the benchmark measures the real figure
    status = json.loads(status_path(store).read_text())
    assert status["state"] == "stopped" and 0 < status["frames"] < 275


def test_enrolment_while_running_is_picked_up_without_restart(tmp_path, templates, recognizer):
    """Only Alex enrolled at start; Lin is enrolled from another process's connection while the
    daemon plays the clip in real time: Lin's second shot (from frame 82) is matched."""
    store = make_store(tmp_path / "s.db", templates, [ALEX], recognizer.embedder.fingerprint)
    cfg = config(tmp_path, store, **{"camera.realtime": True})
    events: list[dict] = []
    daemon = Daemon(cfg, on_event=events.append, drain_s=0)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        end = time.time() + 30
        while time.time() < end and not events:  # Lin's wide shot ends as unknown (~0.5 s in)
            time.sleep(0.02)
        assert events and events[0]["type"] == "unknown"
        with Store(store) as st:
            st.enroll(LIN, templates[LIN], recognizer.embedder.fingerprint)
    finally:
        thread.join(timeout=60)
    matches = [e for e in events if e["type"] == "match" and e["person"] == LIN]
    assert len(matches) == 1 and matches[0]["track_id"] != events[0]["track_id"]


def test_store_of_another_model_is_refused_at_start(tmp_path, templates):
    store = make_store(tmp_path / "s.db", templates, [LIN], "f" * 64)
    with pytest.raises(StoreError, match="Re-enrol"):
        Daemon(config(tmp_path, store), drain_s=0).run()


def test_misspelt_key_fails_the_start_with_its_path(tmp_path):
    cfg = _write_config(tmp_path, tmp_path / "s.db", 1)
    cfg.write_text(cfg.read_text().replace("min_face_px", "min_face_pixels"))
    rc = subprocess.run([*EDGEFACE, "run", "--config", str(cfg)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert rc.returncode == 1
    assert "recognition.min_face_pixels: unknown key" in rc.stderr
    assert not (tmp_path / "s.db").exists()


def test_status_command_reports_the_run(tmp_path, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    run_collecting(config(tmp_path, store), drain_s=0)
    out = subprocess.run([*EDGEFACE, "status", "--store", str(store), "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
    st = json.loads(out.stdout)
    assert out.returncode == 0 and st["state"] == "stopped" and st["frames"] == 275
    assert st["events"]["match"] == 1 and st["outbox_pending"] == st["events"]["match"] + st["events"]["unknown"]
    assert st["latency_ms"]["detect"]["median"] > 0 and st["throughput_fps"] > 0
    human = subprocess.run([*EDGEFACE, "status", "--store", str(store)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "demo: stopped" in human.stdout and "latency ms" in human.stdout
    gone = subprocess.run([*EDGEFACE, "status", "--store", str(tmp_path / "other.db")], cwd=REPO, capture_output=True, text=True)
    assert gone.returncode == 1 and "has not run" in gone.stderr


def test_home_assistant_birth_message_republishes_discovery(tmp_path, broker, templates, recognizer):
    import paho.mqtt.publish as publish

    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    cfg = config(tmp_path, store, broker.port, **{"camera.realtime": True})
    daemon = Daemon(cfg, drain_s=0)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,))
    thread.start()
    try:
        listener = Listener(broker.port, "homeassistant/+/+/+/config")
        assert listener.wait_for(lambda: len(listener.messages) >= 4, timeout=30)
        before = len(listener.messages)
        publish.single("homeassistant/status", "online", hostname="127.0.0.1", port=broker.port)
        assert listener.wait_for(lambda: len(listener.messages) >= before + 4)
        assert all(not r for _, _, r in listener.messages[before:])  # live re-sends, not the retained copies
        listener.close()
    finally:
        stop.set()
        thread.join(timeout=30)


def test_gallery_export_import_between_units(tmp_path, templates, recognizer):
    a = make_store(tmp_path / "a.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    out = tmp_path / "gallery.npz"
    rc = subprocess.run([*EDGEFACE, "persons", "--store", str(a), "export", str(out)], cwd=REPO, capture_output=True, text=True)
    assert rc.returncode == 0 and "2 person(s), 3 template(s)" in rc.stdout
    b = tmp_path / "b.db"
    rc = subprocess.run([*EDGEFACE, "persons", "--store", str(b), "import", str(out)], cwd=REPO, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    with Store(a) as sa, Store(b) as sb:
        ga, gb = sa.gallery(recognizer.embedder.fingerprint), sb.gallery(recognizer.embedder.fingerprint)
    assert sorted(ga.identities) == sorted(gb.identities) and abs(ga.embeddings.sum() - gb.embeddings.sum()) < 1e-4
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    rc = subprocess.run([*EDGEFACE, "persons", "--store", str(b), "import", str(bad)], cwd=REPO, capture_output=True, text=True)
    assert rc.returncode == 1 and "not an edgeface gallery file" in rc.stderr


def test_demo_command_runs_the_bundled_default(tmp_path):
    env = {**os.environ}
    rc = subprocess.run([*EDGEFACE, "demo", "--workdir", str(tmp_path / "demo")], cwd=tmp_path, capture_output=True, text=True,
                        timeout=300, env=env)
    assert rc.returncode == 0, rc.stderr
    assert "match   Lin-Manuel Miranda" in rc.stdout and "match   Alex Lacamoire" in rc.stdout
    assert "events {'match': 2, 'unknown': 0, 'spoof': 0}" in rc.stdout
    offline = subprocess.run([*EDGEFACE, "demo", "--no-broker"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert offline.returncode == 0, offline.stderr
    assert "no MQTT broker" in offline.stdout and "[outbox] match   Lin-Manuel Miranda" in offline.stdout
    assert "waiting in outbox 2" in offline.stdout


def test_systemd_notify_protocol_ready_watchdog_stopping(tmp_path, templates, recognizer):
    """The unit file uses Type=notify with a watchdog: the daemon must speak sd_notify on
    NOTIFY_SOCKET (a real unix datagram socket here, as systemd provides)."""
    import configparser
    import socket

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "firmware_configs" / "systemd" / "edgeface.service")
    svc = unit["Service"]
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0 and svc["Restart"] == "on-failure"
    assert "edgeface run --config" in svc["ExecStart"] and "video" in svc["SupplementaryGroups"]

    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    cfg = _write_config(tmp_path, store, 1, **{"camera.realtime": True})
    sock_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(sock_path)
        sock.settimeout(30)
        proc = subprocess.Popen([*EDGEFACE, "run", "--config", str(cfg)], cwd=REPO, env={**os.environ, "NOTIFY_SOCKET": sock_path},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            got = []
            while "WATCHDOG=1" not in got:
                got.append(sock.recv(256).decode())
            proc.send_signal(signal.SIGTERM)
            while "STOPPING=1" not in got:
                got.append(sock.recv(256).decode())
        finally:
            proc.wait(timeout=30)
    assert got[0] == "READY=1" and proc.returncode == 0


def test_daemon_benchmark_command_reports_its_measures(tmp_path):
    """Not timed: checks that the benchmark runs and reports what README quotes."""
    out = subprocess.run([*EDGEFACE, "bench", "--daemon", "--runs", "1", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    for r in res["results"]:
        assert r["frames"] == 275 and r["sustained_fps"] > 0 and 0 < r["start_to_first_frame_s"] < 60 and r["peak_rss_mb"] > 20
    assert res["sigterm_to_exit_s"] > 0


def test_state_is_fresh_before_online_cleared_before_offline_and_last_person_survives_a_restart(tmp_path, broker, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    listener = Listener(broker.port, "edgeface/demo/#")
    assert listener.wait_for(lambda: listener.client.is_connected())
    run_collecting(config(tmp_path, store, broker.port), drain_s=2)
    offline = lambda n: lambda: sum(1 for t, p, _ in listener.messages if t.endswith("/availability") and p == b"offline") >= n  # noqa: E731
    assert listener.wait_for(offline(1))
    first = [(t.rsplit("/", 1)[-1], p) for t, p, _ in listener.messages if t.endswith(("/state", "/availability"))]
    kinds = [k for k, _ in first]
    # this run's state comes before 'online' (the last run's retained 'face present' is never current) ...
    assert kinds.index("state") < kinds.index("availability") and first[kinds.index("availability")][1] == b"online"
    # ... and a cleared one before 'offline'
    assert first[-1] == ("availability", b"offline")
    assert json.loads(first[-2][1])["face_present"] is False and json.loads(first[-2][1])["present"] == []
    # the next start (a source without faces) still names the last person announced
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.png").write_bytes((REPO / "tests" / "data" / "insightface__no_face.png").read_bytes())
    n = len(listener.messages)
    run_collecting(config(tmp_path, store, broker.port, **{"camera.source": str(empty)}), drain_s=0)
    assert listener.wait_for(offline(2))
    states = [json.loads(p) for t, p, _ in listener.messages[n:] if t.endswith("/state")]
    listener.close()
    assert states and states[0]["last_person"] == ALEX and states[0]["face_present"] is False
    with Store(store) as st:
        st.remove(ALEX)
        assert st.last_person() is None  # removing a person removes their name here too
    assert status_path(store).stat().st_mode & 0o077 == 0  # the status names who was present: owner only


def test_a_second_daemon_on_the_same_store_is_refused_and_the_first_runs_on(tmp_path, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN, ALEX], recognizer.embedder.fingerprint)
    first = Daemon(config(tmp_path, store, **{"camera.realtime": True}), drain_s=0)
    thread = threading.Thread(target=first.run)
    thread.start()
    try:
        end = time.time() + 30
        while time.time() < end and first.stats.frames == 0:
            time.sleep(0.02)
        with pytest.raises(StoreError, match=r"in use by another edgeface daemon \(pid \d+\)"):
            Daemon(config(tmp_path, store), drain_s=0).run()
    finally:
        thread.join(timeout=60)
    assert first.stats.frames + first._source.dropped == 275  # undisturbed: played to the end (a loaded machine may skip a frame)
    run_collecting(config(tmp_path, store), drain_s=0)  # the lock is released when the first stops


def test_face_image_entity_gets_the_crop_on_its_own_topic_only_when_asked(tmp_path, broker, templates, recognizer):
    store = make_store(tmp_path / "s.db", templates, [LIN], recognizer.embedder.fingerprint)
    listener = Listener(broker.port, "#")
    assert listener.wait_for(lambda: listener.client.is_connected())
    _, _, events = run_collecting(config(tmp_path, store, broker.port, **{"homeassistant.face_image": True}), drain_s=2)
    assert listener.wait_for(lambda: len(listener.events()) == len(events) > 0)
    images = [p for t, p, r in listener.messages if t == "edgeface/demo/image"]
    assert images and all(p[:2] == b"\xff\xd8" and not r for p, r in
                          [(p, r) for t, p, r in listener.messages if t == "edgeface/demo/image"])  # JPEG, not retained
    assert len(images) == len(events)  # one crop per match or unknown
    assert all("image_jpeg_b64" not in e for e in listener.events())  # never inside the event
    assert any(t == "homeassistant/image/edgeface_demo/last_face/config" for t, _, _ in listener.messages)
    n = len(listener.messages)
    run_collecting(config(tmp_path, store, broker.port), drain_s=2)  # default: off
    assert listener.wait_for(lambda: any(t.endswith("/availability") and p == b"offline" for t, p, _ in listener.messages[n:]))
    assert not any(t == "edgeface/demo/image" for t, _, _ in listener.messages[n:])
    # the entity is removed (an empty retained config), not left dead in Home Assistant
    assert [p for t, p, _ in listener.messages[n:] if t == "homeassistant/image/edgeface_demo/last_face/config"][-1:] == [b""]
    listener.close()
