"""Tracker, decision policy and quality gates: pure logic, no models."""

import numpy as np
import pytest

from edge.domain import BBox, Detection
from edge.match import Gallery
from edge.quality import QualityGates, assess, yaw_ratio
from edge.unit.decide import Decider, DecisionPolicy, Thresholds
from edge.unit.tracker import IoUTracker

A = BBox(100, 100, 160, 170)
B = BBox(400, 100, 460, 170)


def test_tracker_keeps_ids_while_boxes_overlap_and_ends_stale_tracks():
    t = IoUTracker(min_iou=0.3, max_age_s=1.0)
    ids, ended = t.update([A, B], 0.0)
    assert len(set(ids)) == 2 and ended == []
    moved = [BBox(b.x1 + 5, b.y1 + 3, b.x2 + 5, b.y2 + 3) for b in (B, A)]  # order swapped, moved a little
    ids2, _ = t.update(moved, 0.1)
    assert ids2 == [ids[1], ids[0]]
    ids3, ended = t.update([moved[0]], 0.5)  # A's face gone for 0.4 s: still alive
    assert ids3 == [ids[1]] and ended == []
    ids4, ended = t.update([moved[0]], 1.2)
    assert ended == [ids[0]] and t.live == 1
    far, _ = t.update([BBox(0, 0, 30, 30)], 1.3)
    assert far[0] not in ids  # a new face gets a new id


DIM = 16
GALLERY = Gallery(("alice", "bob"), np.eye(DIM, dtype=np.float32)[:2], "fp")
_rng = np.random.default_rng(0)


def face(**sims: float) -> np.ndarray:
    """A unit embedding with the given similarity to alice and/or bob, the rest in random other directions."""
    v = np.zeros(DIM, np.float32)
    v[0], v[1] = sims.get("alice", 0.0), sims.get("bob", 0.0)
    noise = _rng.normal(size=DIM - 2).astype(np.float32)
    v[2:] = noise / np.linalg.norm(noise) * np.sqrt(max(0.0, 1 - v[0] ** 2 - v[1] ** 2))
    return v


def score(v):
    return GALLERY.search(v, 0.3, top_k=2)


def see(d, track, box, t, vec):
    return d.observe(track, box, t, vec, score(vec), score)


def decider(announce=0.3, door=None, door_people=(), **policy):
    return Decider(DecisionPolicy(**policy), Thresholds(announce, door), frozenset(door_people))


def test_match_needs_k_of_n_and_fires_once_per_visit():
    d = decider(window_frames=5, min_hits=3, cooldown_s=30, unknown_after_frames=100)
    seq = [0.5, 0.1, 0.5, 0.1, 0.5, 0.5, 0.5]
    out = [see(d, 1, A, i * 0.1, face(alice=s)) for i, s in enumerate(seq)]
    fired = [o for o in out if o is not None]
    assert len(fired) == 1 and fired[0].type == "match" and fired[0].person == "alice" and out.index(fired[0]) == 4
    assert fired[0].similarity > 0.3 and d.matched(1) == "alice" and not fired[0].door
    # the same person on a new track within the cooldown: quiet; after it: a new event
    assert all(see(d, 2, B, 1.0 + i * 0.1, face(alice=0.6)) is None for i in range(5))
    d.end([1, 2])
    late = [see(d, 3, A, 100 + i * 0.1, face(alice=0.6)) for i in range(3)]
    assert late[-1] is not None and late[-1].person == "alice"


def test_scattered_hits_for_two_people_do_not_match():
    d = decider(window_frames=6, min_hits=3, unknown_after_frames=1000)
    seq = [face(alice=0.4), face(bob=0.4), face(), face(alice=0.4), face(bob=0.4), face()] * 3
    assert all(see(d, 1, A, i * 0.1, v) is None for i, v in enumerate(seq))


def test_k_of_n_frames_are_not_enough_when_the_mean_embedding_disagrees():
    """Three frames reach alice, but the visit as a whole (mean embedding) points away from her."""
    d = decider(window_frames=10, min_hits=3, unknown_after_frames=1000)
    seq = [face(alice=-0.6) for _ in range(7)] + [face(alice=0.35) for _ in range(3)]
    assert all(see(d, 1, A, i * 0.1, v) is None for i, v in enumerate(seq))
    d2 = decider(window_frames=10, min_hits=3, unknown_after_frames=1000)
    assert any(see(d2, 1, A, i * 0.1, face(alice=0.35)) for i in range(3))  # the same frames alone do match


def test_margin_to_the_second_best_person():
    close = [face(alice=0.55, bob=0.5) for _ in range(5)]
    strict = decider(window_frames=5, min_hits=3, margin=0.1, unknown_after_frames=1000)
    assert all(see(strict, 1, A, i * 0.1, v) is None for i, v in enumerate(close))
    loose = decider(window_frames=5, min_hits=3, unknown_after_frames=1000)
    assert [o.person for o in (see(loose, 1, A, i * 0.1, v) for i, v in enumerate(close)) if o] == ["alice"]


def test_unknown_once_after_enough_good_frames_then_a_late_match_is_possible():
    d = decider(window_frames=5, min_hits=3, unknown_after_frames=4)
    out = [see(d, 7, A, i * 0.1, face(alice=0.1 + i / 100)) for i in range(10)]
    unknown = [o for o in out if o is not None]
    assert len(unknown) == 1 and unknown[0].type == "unknown" and unknown[0].person is None and out.index(unknown[0]) == 3
    assert d.unknown_sent(7)
    later = [see(d, 7, A, 2 + i * 0.1, face(bob=0.5)) for i in range(5)]
    assert [o.type for o in later if o] == ["match"] and d.matched(7) == "bob"


def test_door_is_a_stricter_decision_for_allowed_people_only():
    d = decider(announce=0.3, door=0.6, door_people=["alice"], window_frames=5, min_hits=3, unknown_after_frames=1000)
    out = [see(d, 1, A, i * 0.1, face(alice=0.45)) for i in range(5)]
    [m] = [o for o in out if o]
    assert m.type == "match" and not m.door and not d.settled(1)  # announced, but not enough to open the door
    closer = [see(d, 1, A, 1 + i * 0.1, face(alice=0.8)) for i in range(10)]
    [door] = [o for o in closer if o]
    assert door.type == "door" and door.door and door.person == "alice" and door.similarity >= 0.6 and d.settled(1)
    # bob is matched at the same strength but may not open this door
    out = [see(d, 2, B, i * 0.1, face(bob=0.8)) for i in range(5)]
    [m] = [o for o in out if o]
    assert m.type == "match" and not m.door and d.settled(2)
    # alice again within the cooldown, close to the camera: the door opens, no new announcement
    d.end([1])
    again = [o for o in (see(d, 3, A, 5 + i * 0.1, face(alice=0.8)) for i in range(5)) if o]
    assert [(o.type, o.door) for o in again] == [("door", True)]


def test_reset_matches_forgets_track_identities():
    d = decider(window_frames=3, min_hits=2)
    see(d, 1, A, 0, face(alice=0.5))
    see(d, 1, A, 0.1, face(alice=0.5))
    assert d.matched(1) == "alice"
    d.reset_matches()
    assert d.matched(1) is None


def _det(landmarks, size=80):
    return Detection(BBox(0, 0, size, size), np.asarray(landmarks, np.float32), 0.9)


FRONTAL = [[30, 40], [70, 40], [50, 60], [35, 75], [65, 75]]
PROFILE = [[30, 40], [45, 40], [52, 60], [40, 75], [50, 75]]


def test_yaw_ratio_frontal_vs_profile():
    assert yaw_ratio(np.asarray(FRONTAL, np.float32)) == pytest.approx(0.0)
    assert yaw_ratio(np.asarray(PROFILE, np.float32)) == 1.0
    half = np.asarray(FRONTAL, np.float32)
    half[2, 0] = 60  # nose halfway to the left eye
    assert yaw_ratio(half) == pytest.approx(0.5)


def test_quality_gates_each_refuse_their_problem():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    flat = np.full((112, 112, 3), 128, np.uint8)
    g = QualityGates(min_face_px=40, min_sharpness=20, max_yaw_ratio=0.6)
    assert assess(_det(FRONTAL), sharp, g).ok
    assert assess(_det(FRONTAL, size=30), sharp, g).problem == "small"
    assert assess(_det(PROFILE), sharp, g).problem == "turned"
    q = assess(_det(FRONTAL), flat, g)
    assert q.problem == "blurred" and q.sharpness == 0.0


def test_enrolment_gates_each_refuse_their_problem():
    from edge.domain import Embedding
    from edge.enrol import EnrolmentGates, problem

    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    good = Embedding(np.ones(4, np.float32) / 2, 11.0)
    g = EnrolmentGates()
    frontal = np.asarray([[130, 140], [170, 140], [150, 160], [135, 175], [165, 175]], np.float32)

    def det(landmarks=frontal, box=(100, 100, 200, 210)):
        return Detection(BBox(*box), np.asarray(landmarks, np.float32), 0.9)

    shape = (400, 400, 3)
    assert problem(det(), sharp, good, shape, g) is None
    assert "px across" in problem(det(box=(100, 100, 140, 150)), sharp, good, shape, g)
    assert "touches the edge" in problem(det(box=(0, 100, 100, 210)), sharp, good, shape, g)
    assert "does not look enough like a face" in problem(det(), sharp, Embedding(good.vector, 7.5), shape, g)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted = (frontal - frontal.mean(0)) @ np.array([[c, s], [-s, c]], np.float32) + frontal.mean(0)
    assert "tilted 30 degrees" in problem(det(tilted), sharp, good, shape, g)
    assert "turned away" in problem(det(PROFILE), sharp, good, shape, g)
    assert "blurred" in problem(det(), np.full((112, 112, 3), 128, np.uint8), good, shape, g)


def test_a_track_is_decided_on_its_first_max_frames_good_frames_only():
    """Later frames would give a stranger more chances than the visit factor was measured for."""
    d = decider(window_frames=5, min_hits=3, unknown_after_frames=10, max_frames=20)
    out = [see(d, 1, A, i * 0.1, face(alice=0.1)) for i in range(20)]
    assert [o.type for o in out if o] == ["unknown"] and d.settled(1)
    assert all(see(d, 1, A, 2 + i * 0.1, face(alice=0.8)) is None for i in range(10))  # too late for this track
    d.reset_matches()  # the gallery changed: the track is decided afresh
    assert not d.settled(1)
    assert [o.type for o in (see(d, 1, A, 5 + i * 0.1, face(alice=0.8)) for i in range(5)) if o] == ["match"]
