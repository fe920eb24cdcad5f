"""The door-unit daemon, the composition root: reads the config, builds every component, owns
their lifetimes, and runs camera -> pipeline -> store outbox -> MQTT (and the door relay).

One process: the camera's capture thread hands over the newest frame, paho's network thread
and the publisher's outbox thread do MQTT, and this loop does the inference. Once a second it
reloads the gallery when the store changed (enrolment, removal, rename: no restart needed),
writes the status file that ``edgeface status`` reads, and pings the systemd watchdog.

The door: every decision about a person (match, a later door decision, spoof) is judged by the
door policy (edge.unit.doorpolicy) and written to the audit log in the store, in the same transaction
as its event; the relay pulses only after that. The kill switch lives in the store (it survives
restarts; ``edgeface door disable`` writes it there) and, with a command secret, follows signed
commands on ``door/set`` (edge.unit.commands), applied here in the loop, never in paho's thread.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge import __version__
from edge.calibration import OperatingPoint, load_calibration
from edge.domain import Detection, Pixels
from edge.errors import StoreError
from edge.liveness import LivenessJudge
from edge.logs import worth_logging
from edge.match import Gallery
from edge.quality import QualityGates
from edge.stages import Stages
from edge.store import AuditEntry, LoggedEvent, Store, UnknownFace
from edge.unit.camera import FrameSource, LiveSource, open_source
from edge.unit.commands import CommandVerifier
from edge.unit.config import DeviceConfig
from edge.unit.decide import VISIT_FACTOR, DecisionPolicy, Thresholds
from edge.unit.door import DoorRelay
from edge.unit.doorpolicy import DoorPolicy
from edge.unit.events import Event, Presence
from edge.unit.mqtt import Publisher, face_jpeg
from edge.unit.pipeline import Decided, FrameResult, Pipeline
from edge.unit.status import Status, status_path, write_status

log = logging.getLogger(__name__)

STAGES = ("detect", "align", "embed", "match", "liveness", "total")


@contextmanager
def _exclusive(store_path: str | Path) -> Iterator[None]:
    """One daemon per store: two would announce every visit twice and fight over one MQTT client
    id. An exclusive lock on ``<store>.lock`` (released by the kernel if the process dies);
    the CLI (enrol, door, audit) does not take it and may run alongside."""
    import fcntl

    path = Path(str(store_path) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreError(f"{store_path} is in use by another edgeface daemon (pid {other}); stop it first "
                             "(systemctl stop edgeface) or give this one its own store.path") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def hw_version() -> str:
    """What the unit runs on, for Home Assistant's device page: the board's model on a Pi
    (device tree), else the machine architecture."""
    import platform

    try:
        model = Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace").strip()
    except OSError:
        model = ""
    return model or platform.machine()


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), for the start-time measurement."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def sd_notify(message: str) -> None:
    """systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1); a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), addr)
    except OSError as e:
        log.debug("sd_notify failed: %s", e)


@dataclass
class RunStats:
    started_wall: float = field(default_factory=time.time)
    start_to_first_frame_s: float | None = None
    frames: int = 0
    faces: int = 0
    events: dict[str, int] = field(default_factory=lambda: {"match": 0, "unknown": 0, "spoof": 0})
    door: dict[str, int] = field(default_factory=dict)  # door decisions by reason (opened, not_allowed, ...)
    frame_errors: int = 0
    processing_s: float = 0.0
    latency_ms: dict[str, deque[float]] = field(default_factory=lambda: {s: deque(maxlen=600) for s in STAGES})
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=600))  # wall times of processed frames

    first_frame_wall: float | None = None
    last_frame_wall: float | None = None

    def throughput_fps(self) -> float:
        """Frames per second from the first to the last processed frame (whole run)."""
        if self.first_frame_wall is None or self.last_frame_wall is None or self.frames < 2:
            return 0.0
        return (self.frames - 1) / max(self.last_frame_wall - self.first_frame_wall, 1e-9)

    def fps(self, window_s: float = 10.0) -> float:
        if len(self.recent) < 2:
            return 0.0
        now = self.recent[-1]
        times = [t for t in self.recent if now - t <= window_s]
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9) if len(times) > 1 else 0.0


class Daemon:
    """``Daemon(cfg).run(stop)`` runs until the source ends or ``stop`` is set. ``on_event`` is
    called with each event right after it is stored in the outbox (the demo prints them)."""

    def __init__(self, cfg: DeviceConfig, *, on_event: Callable[[dict[str, Any]], None] | None = None,
                 door_pin_factory: Any = None, drain_s: float = 5.0, clock: Callable[[], float] = time.time):
        """``drain_s``: when a file source ends, wait up to this long for the broker to take
        the events still in the outbox (they stay on disk either way). ``clock``: wall-clock
        seconds, for the retention limits (a test's fake clock)."""
        self.clock = clock
        self.cfg = cfg
        self.drain_s = drain_s
        self.on_event = on_event
        self.door_pin_factory = door_pin_factory
        self.stats = RunStats()
        self.status_file = status_path(cfg.store.path)
        self.publisher: Publisher | None = None
        self.door: DoorRelay | None = None
        self._source: FrameSource | None = None
        self._state = Presence()
        self._last_person: str | None = None
        self._points: list[OperatingPoint] = []
        self.policy: DoorPolicy = cfg.door.policy()
        self.door_enabled = True  # the kill switch (read from the store at start)
        self._commands: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        secret = cfg.door.secret() if cfg.door.enabled else None
        self._verifier = CommandVerifier(secret, cfg.device_id, window_s=cfg.door.command_window_s) if secret else None
        self._next_prune = 0.0
        self._pipeline: Pipeline | None = None
        self._store: Store | None = None  # the loop's own connection (the publisher has another)

    @property
    def operating_points(self) -> list[OperatingPoint]:
        """The announce (and door) thresholds in use, for the gallery last loaded."""
        return list(self._points)

    # --- building ------------------------------------------------------------------------------

    def _stages(self) -> Stages:
        m = self.cfg.models
        return Stages(models_dir=m.dir, detector=m.detector, embedder=m.embedder, threads=m.threads,
                          edgetpu=m.edgetpu, cpu_fallback=m.cpu_fallback, tiles=m.tiles,
                          calibration=load_calibration(m.calibration) if m.calibration else None)

    def _thresholds(self, stages: Stages, gallery: Gallery) -> Thresholds:
        """Announce and door thresholds for this gallery: the configured rates per stranger's visit,
        through the calibration, corrected for the number of templates (logged, and in the status)."""
        rc, door = self.cfg.recognition, self.cfg.door
        n = len(gallery)
        points = [stages.operating_point("announce", far=rc.announce_far, threshold=rc.cosine_threshold, comparisons=n, visit_factor=VISIT_FACTOR)]
        if door.enabled:
            points.append(stages.operating_point("door", far=door.far, threshold=door.cosine_threshold, comparisons=n, visit_factor=VISIT_FACTOR))
        for p in points:
            (log.info if p.backed else log.warning)("%s", p.describe())
        if door.enabled and points[1].threshold < points[0].threshold:
            log.warning("door.cosine_threshold %.4f is below the announce threshold %.4f; the door uses %.4f",
                        points[1].threshold, points[0].threshold, points[0].threshold)
        self._points = points
        return Thresholds(points[0].threshold, max(points[1].threshold, points[0].threshold) if door.enabled else None)

    def _liveness(self, stages: Stages) -> LivenessJudge | None:
        if not self.cfg.liveness_on:
            return None
        lc = self.cfg.liveness
        judge = stages.liveness_judge(frames=lc.frames, max_wait_s=lc.max_wait_s, threshold=lc.threshold)
        p = judge.params
        log.info("liveness on matched tracks: %d frames (at most %.1f s), live at a fused score >= %.3f", p.frames, p.max_wait_s, p.threshold)
        return judge

    @staticmethod
    def _attributes(stages: Stages) -> Callable[[Pixels, Detection], dict[str, Any]]:
        def attributes(image: Pixels, det: Detection) -> dict[str, Any]:
            a = stages.attributes(image, det)
            return {"age": round(a.age, 1), "gender": a.gender, "gender_confidence": round(a.gender_confidence, 3), "emotion": a.emotion}

        return attributes

    # --- running -------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> RunStats:
        stop = stop or threading.Event()
        cfg = self.cfg
        rc = cfg.recognition
        with _exclusive(cfg.store.path), Store(cfg.store.path) as store, Store(cfg.store.path) as outbox, self._stages() as stages:
            embedder = stages.embedder  # loads detector/embedder now: a bad model fails the start
            detector = stages.detector
            gallery = store.gallery(embedder.fingerprint)
            self._log_gallery(gallery, "loaded")
            pipeline = Pipeline(
                detector, embedder, gallery, self._thresholds(stages, gallery),
                gates=QualityGates(rc.min_face_px, rc.min_sharpness, rc.max_yaw_ratio),
                policy=DecisionPolicy(**rc.decision.model_dump()),
                door_people=self.policy.people if cfg.door.enabled else frozenset(),
                attributes=self._attributes(stages) if cfg.models.attributes else None,
                liveness=self._liveness(stages),
            )
            self._pipeline = pipeline
            self.publisher = Publisher(cfg.mqtt, cfg.device_id, outbox, max_events=cfg.store.outbox_max_events, sw_version=__version__,
                                       door=cfg.door.enabled, on_command=self._on_command if self._verifier else None,
                                       ha_switch=cfg.door.ha_switch, ha=cfg.homeassistant, liveness=cfg.liveness_on,
                                       people=gallery.identities, hw_version=hw_version())
            self._store = store
            self._last_person = store.last_person()
            # this run's state goes out before 'online': never the last run's retained 'face present'
            self._publish_state_now(face_present=False, present=())
            self._publish_people(store, gallery.identities)
            if cfg.door.enabled:
                self._check_policy(gallery)
                self.door_enabled = store.door_enabled()
                self.publisher.publish_door_state(self.door_enabled)
                self.door = DoorRelay(cfg.door.gpio_pin, cfg.door.pulse_s, pin_factory=self.door_pin_factory)
            self.prune(store)
            c = cfg.camera
            self._source = open_source(c.source, width=c.width, height=c.height, fps=c.fps, reconnect_max_s=c.reconnect_max_s,
                                       realtime=c.realtime)
            self.publisher.start()
            log.info("edgeface %s on %s: watching %s, reporting to MQTT %s:%s as %s", __version__, cfg.device_id,
                     self._source.description, cfg.mqtt.host, cfg.mqtt.port, cfg.device_id)
            sd_notify("READY=1")
            data_version = store.data_version()
            next_tick = 0.0
            # the first diagnostics once a few seconds of frames give a frame rate, then every interval
            next_diagnostics = time.monotonic() + min(5.0, cfg.homeassistant.diagnostics_interval_s)
            try:
                for frame in self._source.frames(stop):
                    self._apply_commands(store)
                    if frame is not None:
                        result = self._process(pipeline, frame)
                        if result is not None:
                            self._act(result.decided)
                            self._publish_state(result)
                    now = time.monotonic()
                    if now >= next_tick:
                        next_tick = now + 1.0
                        dv = store.data_version()
                        if dv != data_version:
                            data_version = dv
                            self._reload(store, pipeline, stages)
                            self._reload_door(store)
                        if now >= self._next_prune:
                            self.prune(store)
                        self._write_status("running")
                        if now >= next_diagnostics:
                            next_diagnostics = now + cfg.homeassistant.diagnostics_interval_s
                            self._publish_diagnostics(pipeline)
                        if not isinstance(self._source, LiveSource) or self._source.healthy:
                            sd_notify("WATCHDOG=1")  # missing pings make systemd restart the unit
                self._act(pipeline.flush())  # matches still waiting for their liveness result
                if not stop.is_set():
                    self._drain(stop)
            finally:
                sd_notify("STOPPING=1")
                self._publish_diagnostics(pipeline)  # the run's last figures
                self._publish_state_now(face_present=False, present=())  # cleared before 'offline'
                self.publisher.stop(timeout_s=1.0)
                self._source.close()
                if self.door is not None:
                    self.door.close()
                self._write_status("stopped")
        return self.stats

    def _drain(self, stop: threading.Event) -> None:
        assert self.publisher is not None
        end = time.monotonic() + self.drain_s
        while self.publisher.pending() and time.monotonic() < end and not stop.is_set():
            if not self.publisher.ever_connected:
                break  # no broker reached so far: waiting would not help
            stop.wait(0.05)
        if self.publisher.pending():
            log.warning("%d event(s) not yet delivered stay in the outbox and go out on the next start", self.publisher.pending())

    def _process(self, pipeline: Pipeline, frame: Any) -> FrameResult | None:
        t0 = time.perf_counter()
        try:
            result = pipeline.process(frame)
        except Exception:
            self.stats.frame_errors += 1
            if worth_logging(self.stats.frame_errors):
                log.exception("frame %d could not be processed (%d so far); skipping it", frame.index, self.stats.frame_errors)
            return None
        dt = time.perf_counter() - t0
        s = self.stats
        if s.start_to_first_frame_s is None:
            s.start_to_first_frame_s = process_age_s()
        s.frames += 1
        s.faces += len(result.faces)
        s.processing_s += dt
        now = time.time()
        s.recent.append(now)
        s.last_frame_wall = now
        if s.first_frame_wall is None:
            s.first_frame_wall = now
        for k, v in result.timings_ms.items():
            s.latency_ms[k].append(v)
        s.latency_ms["total"].append(dt * 1e3)
        return result

    def _act(self, decided: tuple[Decided, ...] | list[Decided]) -> None:
        assert self.publisher is not None
        for d in decided:
            dec = d.decision
            audit = self._judge_door(d) if self.door is not None and dec.person is not None and dec.type != "unknown" else None
            if dec.type == "door":  # no new announcement: the visit was already announced
                if audit is not None:
                    self.publisher.audit(audit)
                    self._open_if(audit)
                continue
            event = Event.of(d, self.cfg.device_id)
            if audit is not None:
                audit = replace(audit, event_id=event.event_id)
            wire = self.publisher.publish_event(event, audit)  # the event and its audit entry: one transaction
            if audit is not None:
                self._open_if(audit)
            self.stats.events[event.type] = self.stats.events.get(event.type, 0) + 1
            if event.type in ("match", "unknown"):
                self.publisher.publish_face(d.crop)
            if self.cfg.console.enabled:
                self._keep(event, d)
            if event.type == "match" and event.person is not None:
                self._last_person = event.person
                self._remember(event.person, event.timestamp)
                log.info("match: %s (similarity %.3f, track %d)", event.person, event.similarity, event.track_id)
            elif event.type == "spoof":
                log.warning("presentation attack: a face matching %s judged a spoof (track %d, liveness %s)", event.person,
                            event.track_id, event.liveness.to_dict() if event.liveness else None)
            else:
                log.info("unknown face (best similarity %s, track %d)", event.similarity, event.track_id)
            if self.on_event is not None:
                self.on_event(wire)  # as it went out (the demo prints it)

    def _keep(self, event: Event, d: Decided) -> None:
        """For the console: the event in the history with its face, and an unknown track's face
        and embedding for review (local only; deleted at their retention)."""
        assert self._store is not None and self._pipeline is not None
        jpeg = face_jpeg(d.crop)
        at = self.clock()
        stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
        self._store.event_log_put(LoggedEvent(stamp, at, event.event_id, event.type, event.person, event.similarity, event.track_id, jpeg))
        if event.type == "unknown" and d.embedding is not None and jpeg is not None:
            face = UnknownFace(stamp, at, d.embedding, jpeg, d.quality or 0.0, event.track_id, event.event_id)
            self._store.unknown_put(face, self._pipeline.embedder.fingerprint)

    def _judge_door(self, d: Decided) -> AuditEntry:
        dec = d.decision
        assert dec.person is not None
        live = d.liveness.verdict if d.liveness is not None else None
        verdict = self.policy.judge(dec.person, door_threshold_reached=dec.door, liveness=live, enabled=self.door_enabled,
                                    when=datetime.now(UTC))
        th = self._pipeline.thresholds if self._pipeline is not None else None
        evidence = {"decision": dec.type, "similarity": None if dec.similarity is None else round(float(dec.similarity), 4),
                    "door_threshold": th.door if th else None, "announce_threshold": th.announce if th else None,
                    "door_threshold_reached": dec.door, "liveness": d.liveness.to_dict() if d.liveness else None,
                    "liveness_required": self.policy.liveness_required, "door_enabled": self.door_enabled}
        self.stats.door[verdict.reason] = self.stats.door.get(verdict.reason, 0) + 1
        (log.warning if verdict.reason == "spoof" else log.info)(
            "door %s for %s: %s (similarity %s, track %d)", "opened" if verdict.opened else "refused", dec.person, verdict.reason,
            evidence["similarity"], dec.track_id)
        return AuditEntry.now("decision", "opened" if verdict.opened else "refused", verdict.reason, person=dec.person,
                              track_id=dec.track_id, evidence=evidence)

    def _open_if(self, audit: AuditEntry) -> None:
        if audit.outcome == "opened" and self.door is not None and audit.person is not None:
            self.door.pulse(audit.person)

    # --- the kill switch and signed commands -----------------------------------------------------

    def _on_command(self, kind: str, payload: bytes) -> None:
        """paho's thread: hand the command over to the loop."""
        self._commands.put((kind, payload))

    def _apply_commands(self, store: Store) -> None:
        while True:
            try:
                kind, payload = self._commands.get_nowait()
            except queue.Empty:
                return
            if kind == "ha":
                if payload.strip().upper() == b"OFF":
                    self._set_door(store, False, "home_assistant")
                else:
                    log.warning("door command from Home Assistant's switch refused: only OFF (disable) is accepted unsigned; "
                                "enable the door with a signed command (edgeface door enable --config ...)")
                    self._audit_refused(store, "unsigned enable from the Home Assistant switch")
                    self._publish_door_state()  # put the switch back to the real state
                continue
            assert self._verifier is not None
            v = self._verifier.verify(payload)
            if v.command is None:
                log.warning("door command on %s refused: %s", self.publisher.door_set_topic if self.publisher else "door/set", v.reason)
                self._audit_refused(store, v.reason)
                continue
            self._set_door(store, v.command == "enable", "signed_mqtt")

    def _set_door(self, store: Store, enabled: bool, source: str) -> None:
        outcome = "enabled" if enabled else "disabled"
        store.set_door_enabled(enabled, AuditEntry.now("command", outcome, source))
        if enabled != self.door_enabled:
            log.warning("door %s by %s", outcome, source)
        self.door_enabled = enabled
        self._publish_door_state()

    def _audit_refused(self, store: Store, reason: str) -> None:
        self.stats.door["command_refused"] = self.stats.door.get("command_refused", 0) + 1
        store.audit_put(AuditEntry.now("command", "refused", reason))

    def _publish_door_state(self) -> None:
        if self.publisher is not None:
            self.publisher.publish_door_state(self.door_enabled)

    def _reload_door(self, store: Store) -> None:
        if self.door is None:
            return
        enabled = store.door_enabled()
        if enabled != self.door_enabled:
            log.warning("door %s (changed in the store, e.g. edgeface door)", "enabled" if enabled else "disabled")
            self.door_enabled = enabled
            self._publish_door_state()

    def prune(self, store: Store) -> None:
        """Retention (at start, then hourly): door audit entries, and the console's unknown faces and
        event history, older than configured are deleted."""
        self._next_prune = time.monotonic() + 3600.0
        now, day = self.clock(), 86400.0
        gone = store.prune_audit(now - self.cfg.door.audit_retention_days * day)
        if gone:
            log.info("door audit: deleted %d entr(y/ies) older than %g days", gone, self.cfg.door.audit_retention_days)
        c = self.cfg.console
        events, unknown = store.prune_history(events_before_unix=now - c.events_retention_days * day,
                                              unknown_before_unix=now - c.unknown_retention_days * day)
        if events or unknown:
            log.info("retention: deleted %d event(s) older than %g days and %d unknown face(s) older than %g days",
                     events, c.events_retention_days, unknown, c.unknown_retention_days)

    def _check_policy(self, gallery: Gallery) -> None:
        enrolled = set(gallery.identities)
        missing = sorted(self.policy.people - enrolled)
        if missing:
            log.warning("door policy names people who are not enrolled: %s", ", ".join(missing))
        if not self.policy.people:
            log.warning("door enabled but no one may open it: set door.allowed or door.rules")

    def _remember(self, person: str, at: str) -> None:
        assert self.publisher is not None
        self.publisher.publish_person(person, seen_at=at)
        if self._store is None:
            return
        try:
            self._store.set_last_person(person)
            self._store.set_seen(person, at)
        except StoreError as e:  # only Home Assistant's 'last person' and 'last seen' after a restart depend on it
            log.warning("last person not stored: %s", e)

    def _publish_people(self, store: Store, names: Iterable[str]) -> None:
        """These enrolled people's 'at the door' (not yet: this run has not seen them) and 'last seen'."""
        assert self.publisher is not None
        seen = store.last_seen()
        for name in sorted(set(names)):
            self.publisher.publish_person(name, present=False, seen_at=seen.get(name))

    def _publish_diagnostics(self, pipeline: Pipeline) -> None:
        assert self.publisher is not None
        s, src = self.stats, self._source
        total = s.latency_ms["total"]
        self.publisher.publish_diagnostics({
            "fps": round(s.fps(), 1), "latency_ms": round(float(np.median(total)), 1) if total else None,
            "outbox_pending": self.publisher.pending(), "camera_reconnects": src.reconnects if isinstance(src, LiveSource) else 0,
            "people_enrolled": len(set(pipeline.gallery.identities))})

    def _publish_state_now(self, *, face_present: bool, present: tuple[str, ...]) -> None:
        assert self.publisher is not None
        for name in sorted(set(self._state.present) - set(present)):
            self.publisher.publish_person(name, present=False)
        self._state = Presence(face_present, present, self._last_person)
        self.publisher.publish_state(self._state)

    def _publish_state(self, result: FrameResult) -> None:
        assert self.publisher is not None
        state = Presence(bool(result.faces), tuple(result.present), self._last_person)
        if state != self._state:
            for name in sorted(set(self._state.present) ^ set(state.present)):
                self.publisher.publish_person(name, present=name in state.present)
            self._state = state
            self.publisher.publish_state(state)

    def _reload(self, store: Store, pipeline: Pipeline, stages: Stages) -> None:
        try:
            gallery = store.gallery(pipeline.embedder.fingerprint)
        except Exception as e:  # keep running on the old gallery; the store error says what to do
            log.error("gallery not reloaded: %s", e)
            return
        old = pipeline.gallery
        if gallery.identities == old.identities and np.array_equal(gallery.embeddings, old.embeddings):
            return  # the change was elsewhere (the outbox)
        self._log_gallery(gallery, "reloaded")
        pipeline.set_gallery(gallery, self._thresholds(stages, gallery))
        if self.publisher is not None:
            self.publisher.set_people(gallery.identities)
            self._publish_people(store, set(gallery.identities) - set(old.identities))
        if self.door is not None:
            self._check_policy(gallery)

    @staticmethod
    def _log_gallery(g: Gallery, what: str) -> None:
        people = len(set(g.identities))
        if people:
            log.info("gallery %s: %d person(s), %d template(s)", what, people, len(g))
        else:
            log.warning("gallery %s: nobody is enrolled, every face will be reported as unknown "
                        "(edgeface enroll --store STORE --name NAME PHOTO...)", what)

    def status(self, state: str) -> Status:
        s = self.stats
        pub = self.publisher
        src = self._source
        return Status.model_validate({
            "state": state, "pid": os.getpid(), "device_id": self.cfg.device_id, "version": __version__,
            "started_at": datetime.fromtimestamp(s.started_wall, UTC).isoformat(timespec="seconds"),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"), "updated_unix": time.time(),
            "uptime_s": round(time.time() - s.started_wall, 1),
            "start_to_first_frame_s": None if s.start_to_first_frame_s is None else round(s.start_to_first_frame_s, 3),
            "frames": s.frames, "fps": round(s.fps(), 2), "throughput_fps": round(s.throughput_fps(), 2), "faces_seen": s.faces, "frame_errors": s.frame_errors,
            "events": dict(s.events), "door": {"enabled": self.door_enabled, "decisions": dict(s.door)} if self.cfg.door.enabled else None,
            "latency_ms": {k: {"median": round(float(np.median(v)), 2), "p95": round(float(np.percentile(v, 95)), 2)}
                           for k, v in s.latency_ms.items() if v},
            "outbox_pending": pub.pending() if pub else None, "mqtt_connected": pub.connected if pub else False,
            "camera": {"source": src.description if src else None,
                       "reconnects": src.reconnects if isinstance(src, LiveSource) else 0,
                       "dropped_frames": src.dropped if isinstance(src, LiveSource) else 0},
            "present": list(self._state.present), "last_person": self._last_person,
            "operating_points": [{"purpose": p.purpose, "target": p.target, "threshold": p.threshold, "bound": p.bound, "backed": p.backed,
                                  "templates": p.comparisons, "visit_factor": p.visit_factor, "source": p.source} for p in self._points],
        })

    def _write_status(self, state: str) -> None:
        try:
            write_status(self.status_file, self.status(state))
        except OSError as e:
            log.warning("cannot write the status file %s: %s", self.status_file, e)
