"""What the daemon keeps for the console: unknown faces (crop and embedding) and the event history,
only when the console is enabled; these and the door audit deleted at their retention (a fake
clock); grouping faces by identity."""

from __future__ import annotations

import cv2
import numpy as np

from edge.cluster import group_embeddings
from edge.store import AuditEntry, LoggedEvent, Store, UnknownFace
from edge.unit.daemon import Daemon
from tests.integration.test_daemon import ALEX, LIN, config, make_store, run_collecting


def test_unknown_tracks_and_events_are_kept_only_when_the_console_is_on(tmp_path, templates, recognizer):
    fp = recognizer.embedder.fingerprint
    off = make_store(tmp_path / "off.db", templates, [ALEX], fp)
    run_collecting(config(tmp_path, off), drain_s=0)
    with Store(off) as st:
        assert st.unknown_faces(fp) == [] and st.event_log() == []  # privacy: nothing kept by default

    on = make_store(tmp_path / "on.db", templates, [ALEX], fp)
    _, _, events = run_collecting(config(tmp_path, on, **{"console.enabled": True}), drain_s=0)
    with Store(on) as st:
        unknown = st.unknown_faces(fp)
        logged = st.event_log()
        assert sorted(e.event_id for e in logged) == sorted(e["event_id"] for e in events)
        assert {e.type for e in logged} == {"match", "unknown"}
        assert [u.event_id for u in unknown] == [e["event_id"] for e in events if e["type"] == "unknown"]
        assert all(st.event_crop(e.id) for e in logged)  # every event has its face
        crop = cv2.imdecode(np.frombuffer(st.unknown_crop(unknown[-1].id), np.uint8), cv2.IMREAD_COLOR)
        assert crop.shape[:2] == (112, 112)
    # each unknown track is kept by its clearest face: Lin's two shots (the wide one's face is ~40 px)
    # are both him at the announce threshold (his enrolment photos), not Alex, and form one group
    lin, alex = np.stack(templates[LIN]), np.stack(templates[ALEX])
    threshold = recognizer.operating_point("announce", far=1e-4).threshold
    for u in unknown:
        assert float((lin @ u.embedding).max()) >= threshold > float((alex @ u.embedding).max())
    assert [g.members for g in group_embeddings([u.embedding for u in unknown], threshold)] == [tuple(range(len(unknown)))]


def test_retention_is_enforced_by_the_daemon_on_its_clock(tmp_path, templates, recognizer):
    fp = recognizer.embedder.fingerprint
    day = 86400.0
    store = make_store(tmp_path / "s.db", templates, [ALEX], fp)
    now = 1_800_000_000.0
    with Store(store) as st:
        for age_days in (1, 6, 8, 29, 31):
            t = now - age_days * day
            st.event_log_put(LoggedEvent("t", t, f"e{age_days}", "unknown", None, None, None))
            st.unknown_put(UnknownFace("t", t, templates[ALEX][0], b"J", 9.0), fp)
            st.audit_put(AuditEntry("t", t, "command", "disabled", f"a{age_days}"))
        cfg = config(tmp_path, store, **{"console.enabled": True, "console.unknown_retention_days": 7,
                                         "console.events_retention_days": 30, "door.audit_retention_days": 7.5})
        clock = [now]
        daemon = Daemon(cfg, clock=lambda: clock[0])
        daemon.prune(st)
        assert sorted(now - u.at_unix for u in st.unknown_faces(fp)) == [day, 6 * day]
        assert sorted(e.event_id for e in st.event_log()) == ["e1", "e29", "e6", "e8"]
        assert [a.reason for a in st.audit()] == ["a1", "a6"]
        clock[0] += 2 * day  # two days later
        daemon.prune(st)
        assert sorted(e.event_id for e in st.event_log()) == ["e1", "e6", "e8"]
        assert [round((now - u.at_unix) / day) for u in st.unknown_faces(fp)] == [1]
        assert [a.reason for a in st.audit()] == ["a1"]


def test_grouping_puts_one_persons_faces_together_and_strangers_apart(recognizer):
    """Real photos (tests/data): two of Obama, two of Biden; at the calibrated threshold each
    person's two form one group; at a threshold no two photos reach, every face stands alone."""
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "data"
    photos = ["face_recognition__obama.jpg", "face_recognition__biden.jpg", "face_recognition__obama2.jpg",
              "face_recognition__knn_biden_biden2.jpg"]
    embs = [recognizer.represent(data / p)[0].embedding for p in photos]
    threshold = recognizer.operating_point("announce", far=1e-4).threshold
    groups = group_embeddings(np.stack(embs), threshold)
    assert [g.members for g in groups] == [(0, 2), (1, 3)]
    assert all(g.cohesion >= threshold for g in groups)
    assert [g.members for g in group_embeddings(np.stack(embs), 0.99)] == [(0,), (1,), (2,), (3,)]
