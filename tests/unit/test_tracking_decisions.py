"""Tracker, decision policy and quality gates: pure logic, no models."""

import numpy as np
import pytest

from edge.decide import Decider, DecisionPolicy
from edge.domain import BBox, Detection
from edge.quality import QualityGates, assess, yaw_ratio
from edge.tracker import IoUTracker

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


def test_match_needs_k_of_n_and_fires_once_per_visit():
    d = Decider(DecisionPolicy(window_frames=5, min_hits=3, cooldown_s=30, unknown_after_frames=100))
    seq = ["alice", None, "alice", None, "alice", "alice", "alice"]
    out = [d.observe(1, A, i * 0.1, p, 0.5 if p else 0.1) for i, p in enumerate(seq)]
    fired = [o for o in out if o is not None]
    assert len(fired) == 1 and fired[0].type == "match" and fired[0].person == "alice" and out.index(fired[0]) == 4
    assert fired[0].similarity == 0.5 and d.matched(1) == "alice"
    # the same person on a new track within the cooldown: quiet; after it: a new event
    assert all(d.observe(2, B, 1.0 + i * 0.1, "alice", 0.6) is None for i in range(5))
    d.end([1, 2])
    late = [d.observe(3, A, 100 + i * 0.1, "alice", 0.6) for i in range(3)]
    assert late[-1] is not None and late[-1].person == "alice"


def test_scattered_hits_for_two_people_do_not_match():
    d = Decider(DecisionPolicy(window_frames=6, min_hits=3, unknown_after_frames=1000))
    seq = ["alice", "bob", None, "alice", "bob", None] * 3
    assert all(d.observe(1, A, i * 0.1, p, 0.4) is None for i, p in enumerate(seq))


def test_unknown_once_after_enough_good_frames_then_a_late_match_is_possible():
    d = Decider(DecisionPolicy(window_frames=5, min_hits=3, unknown_after_frames=4))
    out = [d.observe(7, A, i * 0.1, None, 0.1 + i / 100) for i in range(10)]
    unknown = [o for o in out if o is not None]
    assert len(unknown) == 1 and unknown[0].type == "unknown" and unknown[0].person is None and out.index(unknown[0]) == 3
    assert d.unknown_sent(7)
    later = [d.observe(7, A, 2 + i * 0.1, "bob", 0.5) for i in range(3)]
    assert later[-1] is not None and later[-1].type == "match"


def test_reset_matches_forgets_track_identities():
    d = Decider(DecisionPolicy(window_frames=3, min_hits=2))
    d.observe(1, A, 0, "alice", 0.5)
    d.observe(1, A, 0.1, "alice", 0.5)
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
