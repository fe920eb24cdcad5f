"""The daemon against a real Home Assistant (Core 2024.3.3 in .venv-ha, tools/ha-venv.sh): HA reads the
discovery from the same mosquitto as the daemon, and what HA shows is checked through its REST and
websocket APIs: entities, states, attributes, the device, availability on a clean stop and by the
last will, a restart that must not show the last run's 'face present', and a log without MQTT
warnings. One Home Assistant for the module (a few seconds to start); the tests run in file order.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import edge
from edge.apps.broker import LocalBroker, mosquitto_binary
from edge.store import Store
from edge.unit.config import apply_overrides
from edge.unit.discovery import person_key
from tests.integration.conftest import Listener
from tests.integration.homeassistant import HomeAssistant, unavailable_reason

pytestmark = pytest.mark.homeassistant

REPO = Path(__file__).resolve().parent.parent.parent
DEMO = REPO / "firmware_configs" / "demo"
CLIP = DEMO / "short_hamilton_clip.mp4"
LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"
NAMES = {LIN, ALEX}


# =================================================================================================
# What Home Assistant must show for the demo unit (device_id "demo"). Extend HERE when discovery
# changes: one row per entity the unit announces (the test fails on an entity missing from the table
# or one HA shows that is not in it). A state or attribute expectation is a value (compared with ==)
# or a predicate (called with the value HA shows).
# =================================================================================================

DEVICE = {"name": "edgeface demo", "manufacturer": "edgeface", "model": "door unit", "sw_version": edge.__version__}
DEVICE_IDENTIFIER = ["mqtt", "edgeface_demo"]


def is_count(s: Any) -> bool:
    return isinstance(s, str) and s.isdigit()


def is_iso_time(s: Any) -> bool:
    return isinstance(s, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s) is not None


def is_names(v: Any) -> bool:
    return isinstance(v, list) and set(v) <= NAMES


def is_number(s: Any) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def is_on_off(s: Any) -> bool:
    return s in ("on", "off")


@dataclass
class Expected:
    name: str  # the entity's own name (HA's friendly_name is "<device name> <name>")
    unique_id: str
    running: Any  # the state while the daemon plays the clip, after Alex's match
    attributes: dict[str, Any] = field(default_factory=dict)  # key -> expectation, while running
    exact_attributes: bool = False  # True: no other attributes than these (and friendly_name, icon, device_class)
    device_class: str | None = None
    category: str | None = None  # entity_category in the registry (diagnostic)


EVENT_ATTRIBUTES = {  # the event entity: everything an event says but its image and embedding
    "event_types": ["match", "unknown", "spoof"],
    "event_type": "match",
    "person": ALEX,
    "similarity": lambda v: isinstance(v, float) and 0.3 < v <= 1.0,
    "event_id": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) is not None,
    "track_id": lambda v: isinstance(v, int),
    "box": lambda v: isinstance(v, list) and len(v) == 4 and all(isinstance(x, int | float) for x in v),
    "timestamp": lambda v: isinstance(v, str) and v.endswith("Z") and is_iso_time(v),
    "attributes": None,  # models.attributes is off in the demo config
    "liveness": None,  # no liveness check configured
}

ENTITIES: dict[str, Expected] = {
    "sensor.edgeface_demo_last_person": Expected("Last person", "edgeface_demo_last_person", ALEX),
    "sensor.edgeface_demo_people_present": Expected("People present", "edgeface_demo_present", is_count, {"present": is_names}),
    "binary_sensor.edgeface_demo_face_present": Expected("Face present", "edgeface_demo_face_present", "on", device_class="occupancy"),
    "event.edgeface_demo_recognition": Expected("Recognition", "edgeface_demo_recognition", is_iso_time, EVENT_ATTRIBUTES,
                                                exact_attributes=True),
    # diagnostics
    "sensor.edgeface_demo_frames_per_second": Expected("Frames per second", "edgeface_demo_fps", lambda s: is_number(s) and float(s) > 0,
                                                       category="diagnostic"),
    "sensor.edgeface_demo_frame_latency": Expected("Frame latency", "edgeface_demo_latency", lambda s: is_number(s) and float(s) > 0, device_class="duration",
                                                   category="diagnostic"),
    "sensor.edgeface_demo_events_waiting": Expected("Events waiting", "edgeface_demo_outbox", is_number, category="diagnostic"),
    "sensor.edgeface_demo_camera_reconnects": Expected("Camera reconnects", "edgeface_demo_reconnects", "0", category="diagnostic"),
    "sensor.edgeface_demo_people_enrolled": Expected("People enrolled", "edgeface_demo_people", "2", category="diagnostic"),
}
# per enrolled person, from enrolment on: "<name> at the door" and "<name> last seen"
for _name in sorted(NAMES):
    _slug, _key = re.sub(r"[^a-z0-9]+", "_", _name.lower()), person_key(_name)
    ENTITIES[f"binary_sensor.edgeface_demo_{_slug}_at_the_door"] = Expected(
        f"{_name} at the door", f"edgeface_demo_{_key}_present", is_on_off, device_class="occupancy")
    ENTITIES[f"sensor.edgeface_demo_{_slug}_last_seen"] = Expected(
        f"{_name} last seen", f"edgeface_demo_{_key}_last_seen", is_iso_time, device_class="timestamp")
TRIGGERS = {("recognised", LIN), ("recognised", ALEX), ("unknown_face", "any face")}  # device triggers (no spoof: no liveness)
LAST_PERSON, PEOPLE, FACE, EVENT = list(ENTITIES)[:4]  # the ids the scenario steps below refer to

# =================================================================================================


def _ok(expect: Any, got: Any) -> bool:
    return bool(expect(got)) if callable(expect) else got == expect


def mismatches(states: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between HA's states and the table's 'running' expectations ([] when all match)."""
    out = []
    for eid, exp in ENTITIES.items():
        s = states.get(eid)
        if s is None:
            out.append(f"{eid}: missing")
            continue
        if not _ok(exp.running, s["state"]):
            out.append(f"{eid}: state {s['state']!r}")
        attrs = s["attributes"]
        for key, want in exp.attributes.items():
            if key not in attrs or not _ok(want, attrs[key]):
                out.append(f"{eid}: attribute {key}={attrs.get(key, '<missing>')!r}")
        if exp.exact_attributes:
            extra = set(attrs) - set(exp.attributes) - {"friendly_name", "icon", "device_class"}
            if extra:
                out.append(f"{eid}: unexpected attributes {sorted(extra)}")
        if attrs.get("friendly_name") != f"{DEVICE['name']} {exp.name}":
            out.append(f"{eid}: friendly_name {attrs.get('friendly_name')!r}")
        if exp.device_class is not None and attrs.get("device_class") != exp.device_class:
            out.append(f"{eid}: device_class {attrs.get('device_class')!r}")
    return out


def write_entity_table(states: dict[str, dict[str, Any]], path: Path) -> None:
    """What HA showed while the clip played, as a Markdown table (a CI artefact in build/)."""
    rows = ["| entity_id | name | state | attributes |", "|---|---|---|---|"]
    for eid in ENTITIES:
        s = states[eid]
        attrs = {k: v for k, v in s["attributes"].items() if k not in ("friendly_name", "icon")}
        rows.append(f"| `{eid}` | {s['attributes'].get('friendly_name')} | `{s['state']}` | `{json.dumps(attrs)[:200]}` |")
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def all_unavailable(ha: HomeAssistant) -> bool:
    states = ha.states()
    return all(states.get(eid, {}).get("state") == "unavailable" for eid in ENTITIES)


def seen(ha: HomeAssistant, entity_id: str, since: int) -> list[str]:
    """The states HA went through since ``since``, repeats collapsed."""
    out: list[str] = []
    for s in ha.history(entity_id, since):
        if not out or out[-1] != s["state"]:
            out.append(s["state"])
    return out


# --- the environment: one mosquitto, one Home Assistant, one unit (store + config) ----------------


@pytest.fixture(scope="module")
def ha_broker(tmp_path_factory):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto; .ci/run does)")
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    b = LocalBroker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def ha(ha_broker, tmp_path_factory):
    with HomeAssistant(tmp_path_factory.mktemp("ha"), ha_broker.port) as h:
        yield h


@dataclass
class Unit:
    dir: Path
    store: Path
    port: int

    def config(self, **changes: Any) -> Path:
        data = apply_overrides(yaml.safe_load((DEMO / "demo.yaml").read_text()),
                               {"camera.source": str(CLIP), "camera.realtime": True, "store.path": str(self.store),
                                "mqtt.host": "127.0.0.1", "mqtt.port": self.port, **changes})
        path = self.dir / "device.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def start(self, **changes: Any) -> subprocess.Popen[bytes]:
        """``edgeface run`` in its own process (so it can be killed), on the clip in real time by default."""
        log = open(self.dir / "daemon.log", "ab")  # noqa: SIM115 (the process owns it)
        proc = subprocess.Popen([sys.executable, "-m", "edge.apps.cli", "run", "--config", str(self.config(**changes))], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        return proc

    def log(self) -> str:
        p = self.dir / "daemon.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


@pytest.fixture(scope="module")
def unit(ha, ha_broker, templates, recognizer, tmp_path_factory):
    d = tmp_path_factory.mktemp("unit")
    with Store(d / "s.db") as st:
        for p in (LIN, ALEX):
            st.enroll(p, templates[p], recognizer.embedder.fingerprint)
    return Unit(d, d / "s.db", ha_broker.port)


def blank_video(path: Path, seconds: float = 3.0) -> Path:
    """A video without a face (a background photo), 30 frames/s."""
    import cv2

    img = cv2.resize(cv2.imread(str(REPO / "tests" / "data" / "insightface__no_face.png")), (640, 360))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
    for _ in range(int(seconds * 30)):
        w.write(img)
    w.release()
    return path


# --- the scenario --------------------------------------------------------------------------------


def retain(port: int, messages: dict[str, str]) -> None:
    """Publish retained messages (QoS 1) and wait until the broker has them."""
    client = Listener(port, "edgeface/none")
    client.wait_for(lambda: client.client.is_connected())
    for topic, payload in messages.items():
        client.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(timeout=10)
    client.close()


STALE = {  # what a previous run killed while a face was in view leaves at the broker (its will said offline)
    "edgeface/demo/state": json.dumps({"face_present": True, "present": [LIN], "last_person": None, "timestamp": "2026-01-01T00:00:00+00:00"}),
    "edgeface/demo/availability": "offline",
}


def test_first_start_discovers_the_unit_with_no_none_and_no_face(ha, unit, ha_broker, tmp_path):
    """The unit's first start with this Home Assistant (nothing discovered yet; a stale retained state
    at the broker), on a video without a face: the entities appear, Last person is empty (never the
    text None, nobody was announced yet), Face present off; all unavailable after the clean stop."""
    retain(ha_broker.port, STALE)
    mark = ha.mark()
    proc = unit.start(**{"camera.source": str(blank_video(tmp_path / "blank.avi"))})
    try:
        ha.wait_for(lambda: ha.state(FACE) == "off" and ha.state(LAST_PERSON) == "", 60, "the discovered unit, available")
        assert proc.wait(timeout=60) == 0, unit.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    ha.wait_for(lambda: all_unavailable(ha), 15, "every entity unavailable after the clean stop ('offline')")
    # 'unknown' can show for a moment at first discovery (HA gets 'online' before the value), never 'None' or 'on'
    assert set(seen(ha, LAST_PERSON, mark)) <= {"unavailable", "unknown", ""}, seen(ha, LAST_PERSON, mark)
    assert set(seen(ha, FACE, mark)) <= {"unavailable", "unknown", "off"}, seen(ha, FACE, mark)


def test_the_clip_as_home_assistant_shows_it(ha, unit, ha_broker):
    """The unit discovered (the test above), a stale 'face present' retained from a killed run; the
    clip in real time: the table's 'running' states and attributes while it plays, this run's state
    first, both matches as events with the broker's event ids, all unavailable after the clean stop."""
    retain(ha_broker.port, STALE)
    # the device triggers, each subscribed as an automation would use it (no template needed)
    dev = next(d["id"] for d in ha.ws("config/device_registry/list") if DEVICE_IDENTIFIER in d["identifiers"])
    triggers = [t for t in ha.ws({"type": "device_automation/trigger/list", "device_id": dev}) if t["domain"] == "mqtt"]
    assert {(t.get("type"), t.get("subtype")) for t in triggers} == TRIGGERS, triggers
    for t in triggers:
        ha.ws({"type": "subscribe_trigger", "trigger": {k: v for k, v in t.items() if k != "metadata"}})
    mark = ha.mark()
    events = Listener(ha_broker.port, "edgeface/demo/event")
    events.wait_for(lambda: events.client.is_connected())
    proc = unit.start()
    try:
        # while the clip plays, after Alex's match (~2 s in), HA shows the table's 'running' column
        seen_running: list[list[str]] = [[]]  # the mismatches at the last poll that found the unit available

        def table_matches() -> bool:
            ended = proc.poll() is not None
            states = ha.states()
            diff = mismatches(states)
            if states.get(FACE, {}).get("state") not in (None, "unavailable"):
                seen_running[0] = diff
            if diff and ended:  # the clip is over: the running states will not come any more
                raise AssertionError(f"HA never showed the table's running states; last seen while available: {seen_running[0]}"
                                     f"\ndaemon (exit {proc.returncode}): {unit.log()}")
            return not diff

        ha.wait_for(table_matches, 60, "HA to show the table's running states",
                    show=lambda: f"last seen while available: {seen_running[0]}; now: {ha._edgeface_states()}\ndaemon: {unit.log()}")
        running = ha.states()
        assert running[PEOPLE]["state"] == str(len(running[PEOPLE]["attributes"]["present"]))
        write_entity_table(running, REPO / "build" / "homeassistant-entities.md")
        assert proc.wait(timeout=60) == 0, unit.log()  # the clip ends: a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()
    ha.wait_for(lambda: all_unavailable(ha), 15, "every entity unavailable after the clean stop ('offline')")
    events.wait_for(lambda: len(events.events()) >= 2)
    events.close()

    # what HA went through, from the recorded state_changed events
    last = seen(ha, LAST_PERSON, mark)
    assert last == ["", LIN, ALEX, "unavailable"], last  # nobody announced before: empty, never the text None
    face = seen(ha, FACE, mark)
    assert face[0] == "off" and "on" in face and face[-2:] == ["off", "unavailable"], face  # this run's state, not the stale one
    fired = [s["attributes"] for s in ha.history(EVENT, mark) if s["state"] != "unavailable"]
    fired = list({a["event_id"]: a for a in fired if a.get("event_id")}.values())
    broker_events = events.events()
    assert [(a["person"], a["event_id"]) for a in fired] == [(e["person"], e["event_id"]) for e in broker_events]
    assert [a["person"] for a in fired] == [LIN, ALEX]
    keys = ("type", "similarity", "track_id", "box", "timestamp")
    for a, e in zip(fired, broker_events, strict=True):
        assert {k: a["event_type" if k == "type" else k] for k in keys} == {k: e[k] for k in keys}
        assert not any("image" in k or "embedding" in k for k in a) and len(json.dumps(a)) < 1000  # never an image
    # each 'recognised <name>' trigger fired once, for its own person; 'unknown face' never (no unknown in the clip)
    with ha.websocket._cond:
        fired_triggers = [e["variables"]["trigger"] for e in ha.websocket.events[mark:] if "variables" in e]
    assert sorted((json.loads(t["payload"])["type"], json.loads(t["payload"])["person"]) for t in fired_triggers) == \
        sorted(("match", n) for n in (LIN, ALEX)), fired_triggers


def test_device_and_entity_registry(ha, unit):
    devices = [d for d in ha.ws("config/device_registry/list") if DEVICE_IDENTIFIER in d["identifiers"]]
    assert len(devices) == 1, devices
    dev = devices[0]
    assert {k: dev[k] for k in DEVICE} == DEVICE
    entities = {e["entity_id"]: e for e in ha.ws("config/entity_registry/list") if e["device_id"] == dev["id"]}
    assert set(entities) == set(ENTITIES)  # every announced entity is in the table, and nothing else
    for eid, exp in ENTITIES.items():
        e = entities[eid]
        assert e["platform"] == "mqtt" and e["unique_id"] == exp.unique_id and e["has_entity_name"] and e["original_name"] == exp.name, e
        assert e["disabled_by"] is None and e["entity_category"] == exp.category, e


def test_last_will_then_a_restart_shows_no_face_before_one_is_seen(ha, unit, ha_broker, tmp_path):
    """Killed (SIGKILL) while a face is in view: the broker's last will makes everything unavailable and
    the stale 'face present' stays retained. The restart, on a video without a face, must never show
    Face present on, and still names the last person announced (kept in the store)."""
    proc = unit.start()
    try:
        ha.wait_for(lambda: ha.state(FACE) == "on" and ha.state(LAST_PERSON) in NAMES, 60, "a face in view and a person announced")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the broker publishes the last will ('offline'): HA makes everything unavailable
    ha.wait_for(lambda: all_unavailable(ha), 15, "every entity unavailable after SIGKILL (the last will)")
    retained = Listener(ha_broker.port, "edgeface/demo/state")
    retained.wait_for(lambda: retained.messages)
    retained.close()
    assert json.loads(retained.messages[0][1])["face_present"] is True  # the killed run's stale state is still retained
    with Store(unit.store) as st:
        announced = st.last_person()
        waiting = {json.loads(e.payload)["event_id"] for e in st.outbox_pending()}  # made but not delivered before the kill
    assert announced in NAMES

    mark = ha.mark()
    proc = unit.start(**{"camera.source": str(blank_video(tmp_path / "blank.avi"))})
    try:
        ha.wait_for(lambda: ha.state(FACE) == "off", 60, f"{FACE} off (available) after the restart")
        assert ha.state(LAST_PERSON) == announced  # kept across the restart, in the store
        assert proc.wait(timeout=60) == 0, unit.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    ha.wait_for(lambda: all_unavailable(ha), 15, "every entity unavailable after the clean stop")
    face = seen(ha, FACE, mark)
    assert "on" not in face and face == ["off", "unavailable"], face
    assert [s for s in seen(ha, LAST_PERSON, mark) if s != "unavailable"] == [announced]
    # no face, no new event: HA shows the last event it had, or one the killed run made but had not delivered (the outbox)
    before = {s["attributes"].get("event_id") for s in ha.history(EVENT, until=mark)}
    after = {s["attributes"].get("event_id") for s in ha.history(EVENT, mark) if s["state"] != "unavailable"}
    assert after <= before | waiting, (after, before, waiting)


def test_home_assistant_logged_nothing_about_mqtt_or_the_unit(ha, unit):
    bad = [e for e in ha.log_entries() if re.search(r"mqtt|edgeface", e, re.IGNORECASE)]
    assert not bad, "\n".join(bad)
