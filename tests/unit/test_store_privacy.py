"""Removing a person really deletes: their name and template bytes are gone from the store's files,
not only from its tables (secure_delete and a WAL checkpoint); retention of the console's history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.store import REMOVED_PERSON, AuditEntry, LoggedEvent, Store, UnknownFace

NAME = "Zebulon Quuxworth"
FP = "f" * 64


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return v / np.linalg.norm(v)


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _fill(store: Store) -> list[bytes]:
    """A person with templates, crops, an event in the history and the outbox, and a door audit entry."""
    vs = [_unit(1), _unit(2)]
    store.enroll(NAME, vs, FP, [f"photos/{NAME}/a.jpg", None], [b"CROP-OF-ZEBULON-1", b"CROP-OF-ZEBULON-2"])
    store.enroll("Other Person", [_unit(3)], FP)
    store.set_last_person(NAME)
    store.set_seen(NAME, "2026-12-07T10:00:00.000+00:00")
    store.event_log_put(LoggedEvent("2026-12-07T10:00:00.000+00:00", 1.0, "ev1", "match", NAME, 0.7, 3, b"THUMB-OF-ZEBULON"))
    store.event_log_put(LoggedEvent("2026-12-07T10:01:00.000+00:00", 2.0, "ev2", "unknown", None, 0.1, 4, b"THUMB-OF-STRANGER"))
    store.outbox_put("ev1", "edgeface/x/event", json.dumps({"type": "match", "person": NAME}), 100,
                     AuditEntry.now("decision", "opened", "allowed", person=NAME, track_id=3, event_id="ev1"))
    store.outbox_put("ev2", "edgeface/x/event", json.dumps({"type": "unknown", "person": None}), 100)
    return [v.tobytes() for v in vs]


def test_removing_a_person_leaves_no_trace_of_their_name_templates_or_crops_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edgeface.db"
    with Store(path) as store:
        blobs = _fill(store)
        store.checkpoint()
        before = _file_bytes(path)
        # the test can fail: everything searched for is in the file before the removal
        assert NAME.encode() in before and all(b in before for b in blobs) and b"CROP-OF-ZEBULON-1" in before
        store.remove(NAME)
        after = _file_bytes(path)
        for secret in [NAME.encode(), *blobs, b"CROP-OF-ZEBULON-1", b"CROP-OF-ZEBULON-2", b"THUMB-OF-ZEBULON"]:
            assert secret not in after, secret[:20]
        # what is not theirs stays
        assert [p.name for p in store.persons()] == ["Other Person"]
        assert [e.event_id for e in store.event_log()] == ["ev2"]
        assert [e.event_id for e in store.outbox_pending()] == ["ev2"]
        audit = store.audit()
        assert [(a.person, a.outcome) for a in audit] == [(REMOVED_PERSON, "opened")]
        assert store.last_person() is None and store.last_seen() == {}
        assert store.integrity_ok()


def test_without_secure_delete_the_name_would_stay_in_the_file(tmp_path: Path) -> None:
    """What the setting buys: SQLite's default only unlinks deleted rows (the removal test above
    would fail without it)."""
    path = tmp_path / "edgeface.db"
    with Store(path) as store:
        store._db.execute("PRAGMA secure_delete=OFF")
        _fill(store)
        store.remove(NAME)
        assert NAME.encode() in _file_bytes(path)


def test_naming_an_unknown_group_enrols_its_clearest_faces_with_their_crops(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        ids = [store.unknown_put(UnknownFace(f"t{i}", float(i), _unit(10 + i), f"JPEG{i}".encode(), quality=float(i)), FP)
               for i in range(8)]
        other = store.unknown_put(UnknownFace("t9", 9.0, _unit(30), b"J9", 9.0), "e" * 64)  # another embedder: never named
        assert len(store.unknown_faces(FP)) == 8
        assert store.name_unknown(ids + [other], "Visitor", FP, templates=3) == 3
        crops = store.template_crops()["Visitor"]
        assert sorted(store.template_crop(t) for t in crops) == [b"JPEG5", b"JPEG6", b"JPEG7"]  # the 3 of highest quality
        assert store.unknown_faces(FP) == []  # the whole group left the review list
        assert len(store.gallery(FP)) == 3


def test_ignored_unknown_faces_leave_the_groups(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        a = store.unknown_put(UnknownFace("t", 1.0, _unit(1), b"J", 9.0), FP)
        b = store.unknown_put(UnknownFace("t", 2.0, _unit(2), b"J", 9.0), FP)
        assert store.ignore_unknown([a]) == 1
        assert [f.id for f in store.unknown_faces(FP)] == [b]
        assert [f.id for f in store.unknown_faces(FP, ignored=True)] == [a]


def test_naming_refuses_faces_no_longer_stored(tmp_path: Path) -> None:
    from edge.errors import StoreError

    with Store(tmp_path / "s.db") as store, pytest.raises(StoreError, match="no longer stored"):
        store.name_unknown([41, 42], "Visitor", FP)


def test_history_retention_deletes_only_what_is_older(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        for t in (10.0, 20.0, 30.0):
            store.event_log_put(LoggedEvent("t", t, f"e{t}", "unknown", None, None, None))
            store.unknown_put(UnknownFace("t", t, _unit(int(t)), b"J", 9.0), FP)
        assert store.prune_history(events_before_unix=25.0, unknown_before_unix=15.0) == (2, 1)
        assert [e.at_unix for e in store.event_log()] == [30.0]
        assert [f.at_unix for f in store.unknown_faces(FP)] == [20.0, 30.0]
