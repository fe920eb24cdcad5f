"""The local embedding store: enrolment, persons, model ties, outbox, and kill -9 safety."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edge.errors import EnrollmentError, StoreError
from edge.store import Store

OBAMA, OBAMA2, BIDEN = "face_recognition__obama.jpg", "face_recognition__obama2.jpg", "face_recognition__biden.jpg"


def test_enrol_find_rename_remove(recognizer, data, tmp_path):
    fp = recognizer.embedder.fingerprint
    with Store(tmp_path / "s.db") as st:
        st.enroll("Barack", recognizer.enrollment_embeddings([data / OBAMA]), fp, [OBAMA])
        st.enroll("Joe", recognizer.enrollment_embeddings([data / BIDEN]), fp)
        st.enroll("Barack", recognizer.enrollment_embeddings([data / OBAMA2]), fp)
        assert [(p.name, p.templates) for p in st.persons()] == [("Barack", 2), ("Joe", 1)]
        [m] = recognizer.find(data / OBAMA2, st.gallery(fp))
        assert m[0].identity == "Barack" and m[0].verified and not m[1].verified
        st.rename("Joe", "Joseph")
        with pytest.raises(StoreError, match="already exists"):
            st.rename("Joseph", "Barack")
        st.remove("Joseph")
        with pytest.raises(StoreError, match="no person named 'Joe'"):
            st.remove("Joe")
        assert [p.name for p in st.persons()] == ["Barack"]
        assert st.integrity_ok()


def test_enrolment_needs_exactly_one_face(recognizer, data):
    with pytest.raises(EnrollmentError, match=r"insightface__7242.jpg: expected exactly one face to enrol, found 2 faces"):
        recognizer.enrollment_embeddings([data / OBAMA, data / "insightface__7242.jpg"])
    with pytest.raises(EnrollmentError, match="found no face"):
        recognizer.enrollment_embeddings([data / "insightface__no_face.png"])
    with pytest.raises(EnrollmentError, match="no such file"):
        recognizer.enrollment_embeddings([data / "missing.jpg"])


def test_embeddings_of_another_model_are_never_mixed(tmp_path):
    e = np.ones(128, np.float32) / np.sqrt(128)
    with Store(tmp_path / "s.db") as st:
        st.enroll("a", [e], "model-one")
        with pytest.raises(StoreError, match="re-enrol everyone"):
            st.enroll("b", [e], "model-two")
        with pytest.raises(StoreError, match="another embedder model"):
            st.gallery("model-two")
        assert len(st.gallery("model-one")) == 1


def test_outbox_keeps_order_dedups_and_bounds(tmp_path):
    with Store(tmp_path / "s.db") as st:
        for i in range(5):
            assert st.outbox_put(f"e{i}", "t", f"p{i}", max_events=4) == (1 if i == 4 else 0)
        assert st.outbox_put("e3", "t", "again", max_events=4) == 0  # same event_id: stored once
        pending = st.outbox_pending()
        assert [p.event_id for p in pending] == ["e1", "e2", "e3", "e4"]
        st.outbox_ack(pending[0].seq)
        assert [p.event_id for p in st.outbox_pending()] == ["e2", "e3", "e4"]


def test_not_a_store_file(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(bad)


def test_kill_minus_9_mid_write_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "s.db"
    writer = textwrap.dedent(f"""
        import numpy as np, sys
        from edge.store import Store
        st = Store({str(path)!r})
        e = np.ones(128, np.float32) / np.sqrt(128)
        i = 0
        while True:
            st.outbox_put(f"ev{{i}}", "t", "x" * 200, max_events=100000)
            st.enroll(f"p{{i % 50}}", [e, e], "fp")
            if i == 20:
                print("ready", flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with Store(path) as st:
        assert st.integrity_ok()
        events = [p.event_id for p in st.outbox_pending(limit=1_000_000)]
        n = len(events)
        assert n > 20 and events == [f"ev{i}" for i in range(n)]  # no gap, no torn write
        total = sum(p.templates for p in st.persons())
        assert total in (2 * n, 2 * (n - 1))  # the last step's second write may not have happened


def test_find_accepts_a_store_file(recognizer, data, tmp_path):
    db = tmp_path / "door.db"
    with Store(db) as st:
        st.enroll("Barack", recognizer.enrollment_embeddings([data / OBAMA]), recognizer.embedder.fingerprint)
    [m] = recognizer.find(data / OBAMA2, db)
    assert m[0].identity == "Barack" and m[0].verified
    [m] = recognizer.find(data / BIDEN, db)
    assert not m[0].verified


def test_files_holding_faces_are_readable_by_their_owner_only(tmp_path):
    import stat

    from edge.gallery import save_gallery_file
    from edge.match import Gallery

    old = os.umask(0o022)  # a permissive umask, as a login shell has
    try:
        db = tmp_path / "s.db"
        with Store(db) as st:
            st.enroll("Alice", [np.ones(4, np.float32) / 2], "f" * 64)
            files = [db, db.with_name("s.db-wal")]
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        out = tmp_path / "g.npz"
        save_gallery_file(out, Gallery(("Alice",), np.ones((1, 4), np.float32) / 2, "f" * 64))
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(old)
