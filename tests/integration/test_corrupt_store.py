"""A store whose templates a corruption made unusable: the daemon starts, says which templates it
left out and whose they are, and keeps recognising everyone else (see edge.store.Store.gallery)."""

import logging
import sqlite3
from pathlib import Path

import numpy as np

from edge.store import Store
from edge.unit.config import load_config
from edge.unit.daemon import Daemon

DEMO = Path(__file__).resolve().parent.parent.parent / "firmware_configs" / "demo"
LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"


def test_the_daemon_skips_corrupt_templates_by_name_and_matches_the_rest(tmp_path, templates, recognizer, caplog):
    store = tmp_path / "s.db"
    with Store(store) as st:
        st.enroll(LIN, templates[LIN], recognizer.embedder.fingerprint)
        st.enroll(ALEX, templates[ALEX], recognizer.embedder.fingerprint)
    db = sqlite3.connect(store)  # what a failing SD card leaves: Alex's two templates, one NaN, one cut short
    alex = [r[0] for r in db.execute("SELECT t.id FROM templates t JOIN persons p ON p.id = t.person_id WHERE p.name = ?", (ALEX,))]
    assert len(alex) == 2
    db.execute("UPDATE templates SET embedding = ? WHERE id = ?", (np.full(128, np.nan, np.float32).tobytes(), alex[0]))
    db.execute("UPDATE templates SET embedding = substr(embedding, 1, 10) WHERE id = ?", (alex[1],))
    db.commit()
    db.close()
    cfg = load_config(DEMO / "demo.yaml", {"camera.source": str(DEMO / "short_hamilton_clip.mp4"), "store.path": str(store),
                                           "mqtt.host": "127.0.0.1", "mqtt.port": 1})
    events = []
    with caplog.at_level(logging.WARNING, "edge.store"):
        Daemon(cfg, on_event=events.append, drain_s=0).run()
    assert [(e["type"], e["person"]) for e in events if e["type"] == "match"] == [("match", LIN)]
    assert f"template {alex[0]} of {ALEX!r} is unusable (128 of its 128 values are NaN or infinite)" in caplog.text
    assert f"template {alex[1]} of {ALEX!r} is unusable (holds 10 bytes, expected 512" in caplog.text
