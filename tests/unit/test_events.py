"""The unit's outgoing values: an Event from a decision, and its wire format (the MQTT contract)."""

import numpy as np
import pytest

from edge.domain import BBox
from edge.unit.decide import Decision
from edge.unit.events import Event, Presence
from edge.unit.mqtt import event_payload, state_payload
from edge.unit.pipeline import Decided

CROP = np.full((112, 112, 3), 128, np.uint8)


def _decided(kind="match"):
    return Decided(Decision(kind, 7, "Alice", 0.712345, BBox(1.04, 2.0, 30.0, 40.06), 1.5), CROP, np.ones(128, np.float32) / np.sqrt(128), None)


def test_an_event_carries_the_decision_and_the_contract_never_the_face_unless_asked():
    e = Event.of(_decided(), "door")
    assert (e.type, e.person, e.similarity, e.track_id, e.box, e.device_id) == ("match", "Alice", 0.7123, 7, (1.0, 2.0, 30.0, 40.1), "door")
    assert len(e.event_id) == 32 and e.timestamp.endswith("Z")
    wire = event_payload(e)
    assert set(wire) == {"event_id", "type", "person", "similarity", "timestamp", "device_id", "track_id", "box"}
    full = event_payload(e, include_image=True, include_embedding=True)
    assert full["image_jpeg_b64"] and len(full["embedding"]) == 128


def test_a_door_decision_is_not_an_event():
    with pytest.raises(ValueError, match="audited"):
        Event.of(_decided("door"), "door")


def test_state_payload():
    s = state_payload(Presence(True, ("Alice",), "Alice"))
    assert (s["face_present"], s["present"], s["last_person"]) == (True, ["Alice"], "Alice") and s["timestamp"]
    assert Presence() == Presence(False, (), None)
