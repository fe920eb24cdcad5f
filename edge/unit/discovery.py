"""Home Assistant MQTT discovery: every config payload the unit announces, as plain values.

Two forms of the same components (``homeassistant.discovery``):

- ``components`` (default; every Home Assistant since 2023.8): one retained config per entity on
  ``<prefix>/<platform>/<device>/<object>/config``; an entity is removed with an empty retained
  payload on its topic.
- ``device`` (Home Assistant 2024.12 and newer): one retained config on
  ``<prefix>/device/<device>/config`` whose ``cmps`` holds every component; a component is removed
  by sending it once with its platform only.

What the unit announces, all on one device with the unit's availability topic:

- ``Last person`` (sensor), ``People present`` (sensor, the names as an attribute), ``Face present``
  (binary sensor), ``Recognition`` (event: match / unknown / spoof with every field of the event
  but an image or embedding);
- per enrolled person (created at enrolment, removed with the person): ``<name> at the door``
  (binary sensor, occupancy) and ``<name> last seen`` (timestamp sensor), and a device trigger
  ``recognised <name>``;
- device triggers ``unknown face`` and, with liveness, ``spoof``;
- with a door: ``Door enabled`` (a switch that Home Assistant may turn off, or a binary sensor);
- diagnostics (entity category diagnostic): frames per second, latency, events waiting in the
  outbox, camera reconnects, people enrolled;
- with ``homeassistant.face_image``: ``Last face`` (image entity; the face crop of the last match
  or unknown face, on its own topic, never inside the event JSON).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["components", "device"]


@dataclass(frozen=True)
class Topics:
    """The unit's own topics under ``<topic_prefix>/<device_id>``."""

    base: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def diagnostics(self) -> str:
        return f"{self.base}/diagnostics"

    @property
    def image(self) -> str:
        return f"{self.base}/image"

    @property
    def door_state(self) -> str:
        return f"{self.base}/door/state"

    @property
    def door_set(self) -> str:
        return f"{self.base}/door/set"

    @property
    def door_ha(self) -> str:
        return f"{self.base}/door/ha_set"

    def person_present(self, name: str) -> str:
        """``ON``/``OFF`` (retained): the person is in view now."""
        return f"{self.base}/person/{person_key(name)}/present"

    def person_seen(self, name: str) -> str:
        """ISO 8601 time of the person's last match (retained)."""
        return f"{self.base}/person/{person_key(name)}/last_seen"


def person_key(name: str) -> str:
    """A topic- and id-safe key for a person's name: readable ASCII plus a hash of the exact
    name, so two names never share entities (``Zoë`` and ``Zoe`` differ)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32] or "person"
    return f"{slug}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    sw_version: str
    hw_version: str | None = None
    suggested_area: str | None = None
    configuration_url: str | None = None

    @property
    def key(self) -> str:
        return f"edgeface_{self.device_id}"

    def payload(self) -> dict[str, Any]:
        d: dict[str, Any] = {"identifiers": [self.key], "name": f"edgeface {self.device_id}", "manufacturer": "edgeface",
                             "model": "door unit", "sw_version": self.sw_version}
        for k in ("hw_version", "suggested_area", "configuration_url"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        return d


@dataclass(frozen=True)
class Features:
    """What this unit has, so only entities it can fill are announced."""

    door: bool = False
    ha_switch: bool = False  # the door's switch may be turned off from Home Assistant
    liveness: bool = False
    face_image: bool = False
    diagnostics: bool = True


@dataclass(frozen=True)
class Component:
    platform: str  # sensor, binary_sensor, event, switch, image, device_automation
    object_id: str  # unique within the device
    config: dict[str, Any]


EVENT_TEMPLATE = ('{{ {"event_type": value_json.type, "person": value_json.person, '
                  '"similarity": value_json.similarity, "event_id": value_json.event_id, '
                  '"track_id": value_json.track_id, "box": value_json.box, "timestamp": value_json.timestamp, '
                  '"attributes": value_json.get("attributes"), "liveness": value_json.get("liveness")} | tojson }}')


def components(topics: Topics, dev: DeviceInfo, features: Features, people: Iterable[str]) -> list[Component]:
    """Every component for this unit and these enrolled ``people`` (configs without device,
    origin or availability: :func:`messages` adds those)."""
    k = dev.key
    out = [
        Component("sensor", "last_person", {
            "name": "Last person", "unique_id": f"{k}_last_person", "state_topic": topics.state,
            # JSON null is not caught by default(''): it would show the text None
            "value_template": "{{ value_json.last_person if value_json.last_person is not none else '' }}",
            "icon": "mdi:account-check"}),
        Component("sensor", "present", {
            "name": "People present", "unique_id": f"{k}_present", "state_topic": topics.state,
            "value_template": "{{ value_json.present | count }}", "json_attributes_topic": topics.state,
            "json_attributes_template": "{{ {'present': value_json.present} | tojson }}", "icon": "mdi:account-group"}),
        Component("binary_sensor", "face_present", {
            "name": "Face present", "unique_id": f"{k}_face_present", "state_topic": topics.state,
            "value_template": "{{ 'ON' if value_json.face_present else 'OFF' }}", "device_class": "occupancy"}),
        Component("event", "recognition", {
            "name": "Recognition", "unique_id": f"{k}_recognition", "state_topic": topics.event,
            "event_types": ["match", "unknown", "spoof"], "qos": 1,
            "value_template": EVENT_TEMPLATE}),  # everything but an image or embedding (never in HA's state machine)
        _trigger(topics, k, "unknown", "unknown_face", "any face", "{{ value_json.type }}", "unknown"),
    ]
    if features.liveness:
        out.append(_trigger(topics, k, "spoof", "spoof", "presentation attack", "{{ value_json.type }}", "spoof"))
    if features.door and features.ha_switch:
        out.append(Component("switch", "door", {
            "name": "Door enabled", "unique_id": f"{k}_door", "state_topic": topics.door_state, "command_topic": topics.door_ha,
            "state_on": "enabled", "state_off": "disabled", "payload_on": "ON", "payload_off": "OFF", "icon": "mdi:door", "qos": 1}))
    elif features.door:
        out.append(Component("binary_sensor", "door", {
            "name": "Door enabled", "unique_id": f"{k}_door", "state_topic": topics.door_state,
            "payload_on": "enabled", "payload_off": "disabled", "icon": "mdi:door"}))
    if features.face_image:
        out.append(Component("image", "last_face", {
            "name": "Last face", "unique_id": f"{k}_last_face", "image_topic": topics.image, "content_type": "image/jpeg"}))
    if features.diagnostics:
        out += _diagnostics(topics, k)
    for name in sorted(set(people)):
        out += person_components(topics, k, name)
    return out


def absent(topics: Topics, dev: DeviceInfo, features: Features) -> list[Component]:
    """The optional components this unit does not have now (a feature turned off since an earlier
    run): removed at each announcement, so Home Assistant keeps no dead entity."""
    every = Features(door=True, ha_switch=True, liveness=True, face_image=True, diagnostics=True)
    have = {(c.platform, c.object_id) for c in components(topics, dev, features, [])}
    door_off = Features(door=True, liveness=True, face_image=True, diagnostics=True)  # the door's other form
    candidates = components(topics, dev, every, []) + components(topics, dev, door_off, [])
    seen: set[tuple[str, str]] = set()
    out = []
    for c in candidates:
        key = (c.platform, c.object_id)
        if key not in have and key not in seen:
            seen.add(key)
            out.append(c)
    return out


def person_components(topics: Topics, device_key: str, name: str) -> list[Component]:
    """The entities and trigger of one enrolled person."""
    p = person_key(name)
    return [
        Component("binary_sensor", f"{p}_present", {
            "name": f"{name} at the door", "unique_id": f"{device_key}_{p}_present", "state_topic": topics.person_present(name),
            "device_class": "occupancy"}),
        Component("sensor", f"{p}_last_seen", {
            "name": f"{name} last seen", "unique_id": f"{device_key}_{p}_last_seen", "state_topic": topics.person_seen(name),
            "device_class": "timestamp", "icon": "mdi:account-clock"}),
        _trigger(topics, device_key, f"{p}_recognised", "recognised", name, "{{ value_json.type }}:{{ value_json.person }}", f"match:{name}"),
    ]


def _trigger(topics: Topics, device_key: str, object_id: str, type_: str, subtype: str, template: str, payload: str) -> Component:
    return Component("device_automation", object_id, {
        "automation_type": "trigger", "topic": topics.event, "type": type_, "subtype": subtype,
        "value_template": template, "payload": payload, "qos": 1})


def _diagnostics(topics: Topics, device_key: str) -> list[Component]:
    def sensor(obj: str, name: str, field: str, unit: str | None, **extra: Any) -> Component:
        c: dict[str, Any] = {"name": name, "unique_id": f"{device_key}_{obj}", "state_topic": topics.diagnostics,
                             "value_template": f"{{{{ value_json.{field} }}}}", "entity_category": "diagnostic", **extra}
        if unit:
            c["unit_of_measurement"] = unit
        return Component("sensor", obj, c)

    return [
        sensor("fps", "Frames per second", "fps", "fps", state_class="measurement", icon="mdi:speedometer"),
        sensor("latency", "Frame latency", "latency_ms", "ms", state_class="measurement", device_class="duration"),
        sensor("outbox", "Events waiting", "outbox_pending", "events", state_class="measurement", icon="mdi:tray-full"),
        sensor("reconnects", "Camera reconnects", "camera_reconnects", None, state_class="total_increasing", icon="mdi:cctv"),
        sensor("people", "People enrolled", "people_enrolled", None, state_class="measurement", icon="mdi:account-multiple"),
    ]


def messages(mode: Mode, prefix: str, topics: Topics, dev: DeviceInfo, comps: Sequence[Component],
             removed: Sequence[Component] = ()) -> list[tuple[str, str | None]]:
    """Retained discovery messages (topic, JSON payload; ``None`` = an empty payload that removes
    an entity) announcing ``comps`` and removing ``removed``."""
    import json

    origin = {"name": "edgeface", "sw_version": dev.sw_version}
    if mode == "device":
        cmps: dict[str, Any] = {c.object_id: {"p": c.platform} for c in removed}
        for c in comps:
            cmps[c.object_id] = {"p": c.platform, **c.config}
        # the abbreviated keys, as Home Assistant's device discovery documents them
        payload = {"dev": dev.payload(), "o": origin, "availability_topic": topics.availability, "cmps": cmps}
        return [(f"{prefix}/device/{dev.key}/config", json.dumps(payload))]
    out: list[tuple[str, str | None]] = [(_topic(prefix, dev, c), None) for c in removed]
    for c in comps:
        payload = {**c.config, "device": dev.payload(), "origin": origin}
        if c.platform != "device_automation":
            payload["availability_topic"] = topics.availability
        out.append((_topic(prefix, dev, c), json.dumps(payload)))
    return out


def _topic(prefix: str, dev: DeviceInfo, c: Component) -> str:
    return f"{prefix}/{c.platform}/{dev.key}/{c.object_id}/config"
