"""Home Assistant discovery payloads (edge.unit.discovery): which components a unit announces, in
both discovery forms, and how a removed person's components are taken away."""

import json

from edge.unit.discovery import DeviceInfo, Features, Topics, components, messages, person_components, person_key

T = Topics("edgeface/door")
DEV = DeviceInfo("door", "1.0", hw_version="Raspberry Pi 5 Model B Rev 1.0", suggested_area="Front door",
                 configuration_url="http://door.local:8080/")


def _ids(comps):
    return {(c.platform, c.object_id) for c in comps}


def test_person_keys_are_topic_safe_and_never_shared():
    keys = {person_key(n) for n in ("Zoë", "Zoe", "zoe", "Ann-Marie O'Neil", "李小龍", "a/b+#")}
    assert len(keys) == 6
    for k in keys:
        assert k.replace("_", "").isalnum() and k.isascii() and "/" not in k and "+" not in k and "#" not in k


def test_a_plain_unit_announces_its_entities_each_person_and_the_unknown_trigger():
    comps = components(T, DEV, Features(), ["Alice", "Bob"])
    ids = _ids(comps)
    assert {("sensor", "last_person"), ("sensor", "present"), ("binary_sensor", "face_present"), ("event", "recognition"),
            ("device_automation", "unknown")} <= ids
    for name in ("Alice", "Bob"):
        k = person_key(name)
        assert {("binary_sensor", f"{k}_present"), ("sensor", f"{k}_last_seen"), ("device_automation", f"{k}_recognised")} <= ids
    # nothing the unit cannot fill: no door, no spoof trigger without liveness, no image unless asked
    assert not any(o in ("door", "spoof", "last_face") for _, o in ids)
    diag = [c for c in comps if c.config.get("entity_category") == "diagnostic"]
    assert {c.object_id for c in diag} == {"fps", "latency", "outbox", "reconnects", "people"}
    assert all(c.config["state_topic"] == T.diagnostics for c in diag)


def test_features_add_the_door_switch_spoof_trigger_and_face_image():
    ids = _ids(components(T, DEV, Features(door=True, ha_switch=True, liveness=True, face_image=True), []))
    assert {("switch", "door"), ("device_automation", "spoof"), ("image", "last_face")} <= ids
    assert ("binary_sensor", "door") in _ids(components(T, DEV, Features(door=True), []))


def test_person_entities_read_their_own_topics_and_the_trigger_matches_the_event():
    present, seen, trigger = person_components(T, DEV.key, "Alice")
    assert present.config["name"] == "Alice at the door" and present.config["state_topic"] == "edgeface/door/person/" + person_key("Alice") + "/present"
    assert present.config["device_class"] == "occupancy"
    assert seen.config["name"] == "Alice last seen" and seen.config["device_class"] == "timestamp"
    c = trigger.config
    assert c["automation_type"] == "trigger" and c["topic"] == T.event and c["type"] == "recognised" and c["subtype"] == "Alice"
    # the template renders "<type>:<person>" of the event JSON; the trigger fires on "match:Alice" only
    assert c["value_template"] == "{{ value_json.type }}:{{ value_json.person }}" and c["payload"] == "match:Alice"


def test_component_form_one_retained_config_each_with_device_and_availability():
    comps = components(T, DEV, Features(), ["Alice"])
    msgs = messages("components", "homeassistant", T, DEV, comps)
    assert len(msgs) == len(comps)
    for topic, payload in msgs:
        assert payload is not None
        d = json.loads(payload)
        platform, node, obj = topic.split("/")[1:4]
        assert topic.startswith("homeassistant/") and topic.endswith("/config") and node == "edgeface_door"
        assert d["device"]["identifiers"] == ["edgeface_door"] and d["origin"]["name"] == "edgeface"
        assert d["device"]["hw_version"].startswith("Raspberry Pi") and d["device"]["suggested_area"] == "Front door"
        assert d["device"]["configuration_url"] == "http://door.local:8080/"
        assert ("availability_topic" in d) == (platform != "device_automation")


def test_component_form_removes_a_person_with_empty_retained_configs():
    removed = person_components(T, DEV.key, "Bob")
    msgs = dict(messages("components", "homeassistant", T, DEV, components(T, DEV, Features(), ["Alice"]), removed))
    k = person_key("Bob")
    for topic in (f"homeassistant/binary_sensor/edgeface_door/{k}_present/config", f"homeassistant/sensor/edgeface_door/{k}_last_seen/config",
                  f"homeassistant/device_automation/edgeface_door/{k}_recognised/config"):
        assert msgs[topic] is None


def test_device_form_is_one_config_with_every_component_and_removes_by_platform_only():
    comps = components(T, DEV, Features(door=True), ["Alice"])
    removed = person_components(T, DEV.key, "Bob")
    msgs = messages("device", "homeassistant", T, DEV, comps, removed)
    assert len(msgs) == 1 and msgs[0][0] == "homeassistant/device/edgeface_door/config"
    d = json.loads(msgs[0][1])
    assert d["dev"]["identifiers"] == ["edgeface_door"] and d["o"]["name"] == "edgeface" and d["availability_topic"] == T.availability
    assert set(d["cmps"]) == {c.object_id for c in comps} | {c.object_id for c in removed}
    for c in comps:
        assert d["cmps"][c.object_id]["p"] == c.platform and d["cmps"][c.object_id]["unique_id" if c.platform != "device_automation" else "type"]
    for c in removed:
        assert d["cmps"][c.object_id] == {"p": c.platform}


def test_optional_components_a_unit_lacks_now_are_listed_for_removal():
    from edge.unit.discovery import absent

    gone = {(c.platform, c.object_id) for c in absent(T, DEV, Features(door=True))}
    assert gone == {("switch", "door"), ("device_automation", "spoof"), ("image", "last_face")}
    gone = {(c.platform, c.object_id) for c in absent(T, DEV, Features(door=True, ha_switch=True, liveness=True, face_image=True))}
    assert gone == {("binary_sensor", "door")}
