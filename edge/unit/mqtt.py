"""MQTT publisher (paho-mqtt 2.x): availability, Home Assistant discovery, state, and events
delivered from the store's durable outbox.

Topics (``<prefix>/<device_id>/...``): ``availability`` (``online``/``offline``, retained, the
last will), ``event`` (one JSON per decision, QoS 1, not retained), ``state`` (retained JSON),
and with a door: ``door/state`` (``enabled``/``disabled``, retained), ``door/set`` (signed
commands, edge.unit.commands; subscribed only when the unit has a command secret) and, when
configured, ``door/ha_set`` (Home Assistant's switch: ``OFF`` disables the door unsigned).
An event is written to the outbox first and removed only when the broker acknowledges it
(PUBACK); while the broker is down events wait on disk and go out in order after reconnecting,
after a restart too. A resent event carries the same ``event_id``.

Home Assistant's birth message (``<discovery_prefix>/status`` = ``online``, subscribed in
``on_connect``) makes the unit publish its discovery configs and availability again.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.domain import Pixels
from edge.errors import StoreError
from edge.image import encode_jpeg
from edge.logs import worth_logging
from edge.store import AuditEntry, Store
from edge.unit import discovery
from edge.unit.config import HomeAssistantConfig, MQTTConfig
from edge.unit.discovery import Component, DeviceInfo, Features, Topics
from edge.unit.events import Event, Presence

log = logging.getLogger(__name__)


def event_payload(event: Event, *, include_image: bool = False, include_embedding: bool = False) -> dict[str, Any]:
    """The JSON of one event (the ``event`` topic's contract). The face image and the embedding
    are included only when the config asks for them (privacy)."""
    out: dict[str, Any] = {
        "event_id": event.event_id, "type": event.type, "person": event.person, "similarity": event.similarity,
        "timestamp": event.timestamp, "device_id": event.device_id, "track_id": event.track_id, "box": list(event.box),
    }
    if event.liveness is not None:
        out["liveness"] = event.liveness.to_dict()
    if event.attributes is not None:
        out["attributes"] = event.attributes
    jpeg = face_jpeg(event.crop) if include_image and event.crop is not None else None
    if jpeg is not None:
        out["image_jpeg_b64"] = base64.b64encode(jpeg).decode("ascii")
    if include_embedding and event.embedding is not None:
        out["embedding"] = [round(float(x), 6) for x in event.embedding]
    return out


def face_jpeg(crop: Pixels) -> bytes | None:
    """A face crop as the JPEG that goes out (in an event with ``publish_images``, or to the image entity)."""
    return encode_jpeg(crop, 85)


def state_payload(state: Presence) -> dict[str, Any]:
    """The retained ``state`` topic's JSON."""
    return {"face_present": state.face_present, "present": list(state.present), "last_person": state.last_person,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}


def configure_client(client: mqtt.Client, cfg: MQTTConfig) -> None:
    """The broker credentials and TLS of ``cfg`` on a paho client (the daemon's, or a one-off
    client such as ``edgeface door --mqtt``)."""
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password_value())
    if cfg.tls:
        t = cfg.tls
        client.tls_set(ca_certs=str(t.ca_file), certfile=str(t.certfile) if t.certfile else None,
                       keyfile=str(t.keyfile) if t.keyfile else None, cert_reqs=ssl.CERT_REQUIRED)
        client.tls_insecure_set(t.insecure)


class Publisher:
    """Owns one paho client (its network thread) and one flusher thread that moves outbox
    entries to the broker. Callbacks only hand work over; all store access is serialised."""

    def __init__(self, cfg: MQTTConfig, device_id: str, store: Store, *, max_events: int = 10_000, sw_version: str = "0",
                 door: bool = False, on_command: Callable[[str, bytes], None] | None = None, ha_switch: bool = False,
                 ha: HomeAssistantConfig | None = None, liveness: bool = False, people: Sequence[str] = (), hw_version: str | None = None):
        """``door``: the unit drives a door (its state topic and entities); ``on_command(kind,
        payload)`` receives messages on ``door/set`` (kind ``signed``) and, with ``ha_switch``,
        ``door/ha_set`` (kind ``ha``); without it no command topic is subscribed. ``ha``: Home
        Assistant discovery (edge.unit.discovery); ``people``: who is enrolled now (their entities)."""
        self.cfg = cfg
        self.ha = ha or HomeAssistantConfig()
        self.door = door
        self.on_command = on_command
        self.ha_switch = ha_switch and on_command is not None
        self.device_id = device_id
        self.store = store
        self.max_events = max_events
        self.sw_version = sw_version
        self.topics = Topics(f"{cfg.topic_prefix}/{device_id}")
        self.availability_topic = self.topics.availability
        self.event_topic = self.topics.event
        self.state_topic = self.topics.state
        self.door_state_topic = self.topics.door_state
        self.door_set_topic = self.topics.door_set
        self.door_ha_topic = self.topics.door_ha
        self.device_info = DeviceInfo(device_id, sw_version, hw_version, self.ha.suggested_area, self.ha.configuration_url)
        self.features = Features(door=door, ha_switch=self.ha_switch, liveness=liveness, face_image=self.ha.face_image)
        self._absent = discovery.absent(self.topics, self.device_info, self.features)  # removed at every announcement
        self._people: tuple[str, ...] = tuple(sorted(set(people)))
        # people whose entities Home Assistant may still have (announced by an earlier run): removed at the next announcement
        announced = store.announced()
        self._retired: set[str] = set(announced or ()) - set(self._people)
        # Home Assistant subscribes to a new entity's topics about a second after its config arrives:
        # on the unit's first announcement ever, events wait a moment so the first visit is not missed
        self._first_discovery = announced is None
        self._deliver_after = 0.0
        self._people_changed = False
        self._person_state: dict[str, str] = {}  # retained per-person topics (present, last seen) to repeat on reconnect
        self._diagnostics: str | None = None
        self._announced_due = False  # discovery went out: record who was announced
        self._pending_seen = 0  # events waiting, as last counted in the flusher (for paho-thread log lines)
        self._door_state: str | None = None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"edgeface-{device_id}")
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._lock = threading.Lock()  # store access (never held while calling into paho)
        # Owned by the flusher thread only. paho calls on_publish while holding its own locks,
        # so the callback just queues the message id.
        self._acked_mids: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._by_mid: dict[int, int] = {}  # paho message id -> outbox seq
        self._handed: set[int] = set()  # outbox seqs handed to paho in this process
        self._thread: threading.Thread | None = None
        self._last_state: str | None = None
        self._answered_at = float("-inf")  # monotonic time discovery last answered Home Assistant's birth message
        self._rediscover_due: float | None = None  # Home Assistant asked again: announce then (rate-limited)
        self._failures = 0
        self.ever_connected = False
        self._store_failures = 0
        self._memory: collections.deque[str] = collections.deque(maxlen=1000)  # payloads the store could not take

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Publisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        c = self._client
        c.will_set(self.availability_topic, "offline", qos=1, retain=True)
        configure_client(c, self.cfg)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_connect_fail = self._on_connect_fail
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()
        self._thread = threading.Thread(target=self._flush_loop, name="edgeface-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.5) -> None:
        """Publish ``offline`` (retained), then disconnect; returns within about ``timeout_s``."""
        self._stop.set()
        self._notify()
        if self._thread:
            self._thread.join(timeout=timeout_s)  # the flusher ends within its 0.5 s wait; then only this thread touches its state
        if self._connected.is_set():
            info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        if self._thread is None or not self._thread.is_alive():
            self._apply_acks()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- what the daemon calls ----------------------------------------------------------------------

    def publish_event(self, event: Event, audit: AuditEntry | None = None) -> dict[str, Any]:
        """Make an event durable (outbox, with its door ``audit`` entry in the same transaction),
        then let the flusher deliver it. If the store cannot be written (disk full, read-only),
        the event waits in memory instead (bounded) and is still delivered while the process
        lives; the failure is logged (the audit entry is lost with it, and logged too). Returns the
        event as it goes out (the JSON contract, with an image or embedding only as configured)."""
        wire = event_payload(event, include_image=self.cfg.publish_images, include_embedding=self.cfg.publish_embeddings)
        payload = json.dumps(wire, separators=(",", ":"))
        try:
            with self._lock:
                dropped = self.store.outbox_put(event.event_id, self.event_topic, payload, self.max_events, audit)
        except StoreError as e:
            self._store_failures += 1
            if worth_logging(self._store_failures):
                log.error("event %s not made durable (%s); it waits in memory (%d there) and is published when possible",
                          event.event_id, e, len(self._memory) + 1)
            if len(self._memory) == self._memory.maxlen:
                log.warning("in-memory event queue full: dropped the oldest event")
            self._memory.append(payload)
            self._notify()
            return wire
        if dropped:
            log.warning("event outbox full (%d events): dropped the %d oldest undelivered event(s)", self.max_events, dropped)
        self._notify()
        return wire

    def publish_state(self, state: Presence) -> None:
        """The retained 'who is here now' state (latest only: sent now if connected, else on
        reconnect)."""
        self._last_state = json.dumps(state_payload(state), separators=(",", ":"))
        if self._connected.is_set():
            self._client.publish(self.state_topic, self._last_state, qos=1, retain=True)

    def publish_door_state(self, enabled: bool) -> None:
        """The door's kill-switch state (retained; sent now if connected, else on reconnect)."""
        self._door_state = "enabled" if enabled else "disabled"
        if self._connected.is_set():
            self._client.publish(self.door_state_topic, self._door_state, qos=1, retain=True)

    def audit(self, entry: AuditEntry) -> None:
        """An audit entry without an event, through the same serialised store access."""
        with self._lock:
            self.store.audit_put(entry)

    def pending(self) -> int:
        """Events not yet acknowledged by the broker."""
        with self._lock:
            return self.store.outbox_count() + len(self._memory)

    def publish_person(self, name: str, *, present: bool | None = None, seen_at: str | None = None) -> None:
        """A person's own retained topics: in view now (``ON``/``OFF``) and the time of their last
        match (ISO 8601), for their 'at the door' and 'last seen' entities."""
        if present is not None:
            self._retain(self.topics.person_present(name), "ON" if present else "OFF")
        if seen_at is not None:
            self._retain(self.topics.person_seen(name), seen_at)

    def publish_diagnostics(self, values: dict[str, Any]) -> None:
        """fps, latency_ms, outbox_pending, camera_reconnects, people_enrolled (retained)."""
        self._diagnostics = json.dumps(values, separators=(",", ":"))
        if self._connected.is_set() and self.ha.discovery != "off":
            self._client.publish(self.topics.diagnostics, self._diagnostics, qos=0, retain=True)

    def publish_face(self, crop: Pixels) -> None:
        """The last face crop for the image entity (only with ``homeassistant.face_image``; not
        retained, not durable: a picture, not an event)."""
        if self.features.face_image and self._connected.is_set():
            jpeg = face_jpeg(crop)
            if jpeg is not None:
                self._client.publish(self.topics.image, jpeg, qos=0, retain=False)

    def _retain(self, topic: str, payload: str) -> None:
        with self._lock:
            self._person_state[topic] = payload
        if self._connected.is_set():
            self._client.publish(topic, payload, qos=1, retain=True)

    # --- Home Assistant discovery -------------------------------------------------------------------

    def set_people(self, people: Sequence[str]) -> None:
        """The enrolled people changed (enrolment, removal, rename): their entities are announced,
        those of people no longer enrolled removed (now if connected, else on reconnect)."""
        new = tuple(sorted(set(people)))
        with self._lock:
            if new == self._people:
                return
            self._retired |= set(self._people) - set(new)
            self._retired -= set(new)
            self._people = new
        self._people_changed = True
        self._notify()

    def components(self) -> list[Component]:
        return discovery.components(self.topics, self.device_info, self.features, self._people)

    def discovery(self) -> dict[str, dict[str, Any]]:
        """The retained discovery configs this unit announces now (topic -> payload)."""
        msgs = discovery.messages(self.ha.discovery if self.ha.discovery != "off" else "components", self.cfg.discovery_prefix,
                                  self.topics, self.device_info, self.components())
        return {t: json.loads(p) for t, p in msgs if p is not None}

    def _removals(self, retired: set[str]) -> tuple[list[Component], list[str]]:
        """Components of people no longer enrolled, and their retained state topics to clear."""
        comps = [c for n in sorted(retired) for c in discovery.person_components(self.topics, self.device_info.key, n)]
        comps += self._absent
        return comps, [t for n in sorted(retired) for t in (self.topics.person_present(n), self.topics.person_seen(n))]

    # --- paho callbacks: hand work over, nothing else ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        log.info("connected to MQTT broker %s:%s", self.cfg.host, self.cfg.port)
        self._failures = 0
        client.subscribe(f"{self.cfg.discovery_prefix}/status", qos=1)
        if self.on_command is not None:
            client.subscribe(self.door_set_topic, qos=1)
            if self.ha_switch:
                client.subscribe(self.door_ha_topic, qos=1)
        self._announce(client)
        self.ever_connected = True
        self._connected.set()
        self._notify()

    #: Home Assistant's ``online`` is answered at most once per this many seconds (a burst of them,
    #: e.g. 200 from a flapping HA, gives one republish at once and at most one more when it ends).
    REDISCOVERY_S = 10.0
    #: After the first discovery a unit ever sent, events wait this long (they are on disk meanwhile).
    FIRST_DISCOVERY_HOLD_S = 3.0

    def _announce(self, client: mqtt.Client) -> None:
        """Discovery (removing entities of people no longer enrolled), then this run's state (so
        Home Assistant never shows the last run's retained state as current), then ``online``."""
        with self._lock:
            retired = set(self._retired)
            person_state = dict(self._person_state)
        removed, cleared = self._removals(retired)
        if self.ha.discovery != "off":
            msgs = discovery.messages(self.ha.discovery, self.cfg.discovery_prefix, self.topics, self.device_info,
                                      self.components(), removed)
            for topic, payload in msgs:
                client.publish(topic, payload or "", qos=1, retain=True)
            for topic in cleared:  # a removed person's retained state goes too
                client.publish(topic, "", qos=1, retain=True)
            with self._lock:
                self._retired -= retired
                for t in cleared:
                    self._person_state.pop(t, None)
            self._announced_due = True  # the flusher records who was announced (store access off paho's thread)
            if self._first_discovery:
                self._first_discovery = False
                self._deliver_after = time.monotonic() + self.FIRST_DISCOVERY_HOLD_S
        if self._last_state is not None:
            client.publish(self.state_topic, self._last_state, qos=1, retain=True)
        if self._door_state is not None:
            client.publish(self.door_state_topic, self._door_state, qos=1, retain=True)
        for topic, payload in person_state.items():
            if topic not in cleared:
                client.publish(topic, payload, qos=1, retain=True)
        if self._diagnostics is not None and self.ha.discovery != "off":
            client.publish(self.topics.diagnostics, self._diagnostics, qos=0, retain=True)
        client.publish(self.availability_topic, "online", qos=1, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"{self.cfg.discovery_prefix}/status" and msg.payload == b"online":
            self._rediscover_due = max(time.monotonic(), self._answered_at + self.REDISCOVERY_S)
            self._notify()
        elif self.on_command is not None and msg.topic == self.door_set_topic:
            self.on_command("signed", bytes(msg.payload[:4096]))
        elif self.on_command is not None and self.ha_switch and msg.topic == self.door_ha_topic:
            self.on_command("ha", bytes(msg.payload[:64]))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._failures += 1
        if worth_logging(self._failures):
            log.warning("cannot reach the MQTT broker at %s:%s (attempt %d); events wait in the outbox (%d now) and "
                        "go out once it is reachable; check mqtt.host/port and that the broker runs",
                        self.cfg.host, self.cfg.port, self._failures, self._outbox_size())

    def _outbox_size(self) -> int:
        """The outbox's size as the flusher last counted it (paho's thread does no SQLite work)."""
        return self._pending_seen

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("MQTT connection lost (%s); events wait in the outbox and go out after reconnecting", reason_code)
        self._connected.clear()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._acked_mids.put(mid)
        self._notify()

    # --- the flusher ------------------------------------------------------------------------------

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _apply_acks(self) -> None:
        """Remove acknowledged events from the outbox. Runs only in the flusher (or after it
        stopped), after its publish() calls have been mapped, so every event's message id is
        known here; ids not in the map belong to availability, discovery or state messages."""
        while True:
            try:
                mid = self._acked_mids.get_nowait()
            except queue.Empty:
                return
            seq = self._by_mid.pop(mid, None)
            if seq is None:
                continue
            self._handed.discard(seq)
            with self._lock:
                self.store.outbox_ack(seq)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                self._wake.wait(timeout=0.5)
            try:
                self._apply_acks()
                if not self._connected.is_set():
                    self._pending_seen = self.pending()
                    continue
                if self._people_changed:
                    self._people_changed = False
                    self._announce(self._client)
                if self._announced_due:
                    self._announced_due = False
                    with self._lock:
                        self.store.set_announced(self._people)
                due = self._rediscover_due
                if due is not None and time.monotonic() >= due:
                    self._rediscover_due = None
                    self._answered_at = time.monotonic()
                    log.info("Home Assistant came online: publishing discovery again")
                    self._announce(self._client)
                if time.monotonic() < self._deliver_after:
                    continue  # first discovery: Home Assistant is still subscribing
                with self._lock:
                    entries = self.store.outbox_pending(limit=200)
                for entry in entries:
                    if entry.seq in self._handed:
                        continue  # paho holds it and resends it after a reconnect
                    info = self._client.publish(entry.topic, entry.payload, qos=1)
                    self._handed.add(entry.seq)
                    self._by_mid[info.mid] = entry.seq
                while self._memory and self._connected.is_set():  # events the store could not take
                    self._client.publish(self.event_topic, self._memory.popleft(), qos=1)
                self._apply_acks()
            except Exception:  # keep delivering; the store error is logged, events stay on disk
                log.exception("outbox flush failed; retrying")
