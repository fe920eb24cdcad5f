"""``edgeface demo``: the daemon on the bundled default, with nothing to configure.

Enrols the bundled photos (``firmware_configs/demo/gallery/<Name>/``) into a fresh store, starts
a local mosquitto on a free loopback port when the ``mosquitto`` binary exists, runs the daemon
on the bundled clip with ``firmware_configs/demo/demo.yaml``, and prints every event as the
broker delivers it. Without a broker the events stay in the outbox and are printed from there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge.apps.broker import LocalBroker, free_port, mosquitto_binary
from edge.errors import ConfigError
from edge.resources import bundled
from edge.unit.config import load_config

DEMO_DIR = bundled("firmware_configs") / "demo"


class _Printer:
    """Subscribes to the unit's topics and prints each event the broker delivers."""

    def __init__(self, port: int, topic: str):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.events: list[dict[str, Any]] = []
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edgeface-demo-listener-{port}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(topic, 1), ("homeassistant/#", 1)])
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            if msg.topic.endswith("/event"):
                event = json.loads(msg.payload)
                self.events.append(event)
                print(f"[mqtt {msg.topic}] {_line(event)}", flush=True)
            else:
                self.retained[msg.topic] = msg.payload

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _line(e: dict[str, Any]) -> str:
    who = e["person"] if e["type"] == "match" else "unknown face"
    sim = "-" if e["similarity"] is None else f"{e['similarity']:.3f}"
    return f"{e['type']:7s} {who:20s} similarity {sim}  track {e['track_id']}  {e['timestamp']}  id {e['event_id'][:8]}"


def enroll_demo_gallery(store_path: Path, rec: Any) -> list[tuple[str, int]]:
    """Enrol the bundled photos (one folder per person, ``_`` for spaces) into the store at
    ``store_path`` with ``rec`` (a :class:`edge.api.Recognizer`); returns (name, photos) pairs."""
    from edge.store import Store

    done = []
    with Store(store_path) as store:
        for person in sorted(p for p in (DEMO_DIR / "gallery").iterdir() if p.is_dir()):
            photos = sorted(person.iterdir())
            name = person.name.replace("_", " ")
            store.enroll(name, rec.enrollment_embeddings(photos), rec.embedder.fingerprint, [p.name for p in photos])
            done.append((name, len(photos)))
    return done


def run_demo(workdir: Path | None = None, *, broker: bool = True, threads: int = 2) -> dict[str, Any]:
    """Run the demo; returns a summary (also printed)."""
    from edge.api import Recognizer
    from edge.store import Store
    from edge.unit.daemon import Daemon

    if not (DEMO_DIR / "demo.yaml").is_file():
        raise ConfigError(f"the bundled demo is missing ({DEMO_DIR}); run edgeface demo from a clone of the repository")
    keep = workdir is not None
    if workdir is not None and Path(workdir).exists() and not Path(workdir).is_dir():
        raise ConfigError(f"--workdir {workdir}: is a file; expected a folder for the demo's store (made if missing)")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="edgeface-demo-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--workdir {work}: cannot make the folder ({e.strerror}); expected a writable folder for the demo's store") from e
    store_path = work / "edgeface.db"
    local: LocalBroker | None = None
    printer: _Printer | None = None
    try:
        for name, n in enroll_demo_gallery(store_path, Recognizer(threads=threads)):
            print(f"enrolled {name} from {n} photo(s)")
        if broker and mosquitto_binary():
            local = LocalBroker(work).start()
            port = local.port
            print(f"started mosquitto on 127.0.0.1:{port}")
        else:
            port = free_port()  # nothing listens there: the daemon keeps events in the outbox
            print("no MQTT broker could be started (install it with: sudo apt-get install mosquitto); "
                  "events will wait in the outbox and are shown from there")
        cfg = load_config(DEMO_DIR / "demo.yaml", {"camera.source": str(DEMO_DIR / "short_hamilton_clip.mp4"),
                                                   "store.path": str(store_path), "mqtt.host": "127.0.0.1", "mqtt.port": port,
                                                   "models.threads": threads})
        if local is not None:
            printer = _Printer(port, f"{cfg.mqtt.topic_prefix}/{cfg.device_id}/#")
        print(f"running the daemon on {cfg.camera.source} ...", flush=True)
        daemon = Daemon(cfg, drain_s=5.0 if local is not None else 0.0)
        t0 = time.perf_counter()
        stats = daemon.run()
        wall = time.perf_counter() - t0
        published = sum(stats.events.values())
        if printer is not None:
            end = time.time() + 5
            while time.time() < end and len(printer.events) < published:
                time.sleep(0.05)
        for point in daemon.operating_points:
            print(f"decided with: {point.describe()}")
        with Store(store_path) as store:
            pending = store.outbox_pending(limit=1_000_000)
        if printer is None and pending:
            print(f"events waiting in the outbox{f' ({store_path})' if keep else ''}:")
            for entry in pending:
                print(f"[outbox] {_line(json.loads(entry.payload))}")
        summary = {
            "frames": stats.frames, "seconds": round(wall, 2), "fps": round(stats.frames / max(stats.processing_s, 1e-9), 1),
            "events": stats.events, "delivered_via_mqtt": len(printer.events) if printer else 0, "outbox_pending": len(pending),
            "discovery_configs": len([t for t, v in printer.retained.items() if t.startswith("homeassistant/") and v]) if printer else 0,
            "store": str(store_path) if keep else None,
        }
        print(f"done: {stats.frames} frames in {wall:.1f} s ({summary['fps']} frames/s of processing); events {stats.events}; "
              f"delivered by MQTT {summary['delivered_via_mqtt']}, waiting in outbox {summary['outbox_pending']}")
        return summary
    finally:
        if printer is not None:
            printer.close()
        if local is not None:
            local.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
