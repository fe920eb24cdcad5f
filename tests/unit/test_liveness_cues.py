"""The liveness cues' geometry and fusion on points whose truth is known."""

import numpy as np

from edge.liveness import LivenessParams, blink_cue, fuse, judge, planar_cue, planar_residual


def _head(rng, n=60):
    """A face-like 3-D point cloud: width ~2 inter-ocular distances, the nose 0.6 in front."""
    x = rng.uniform(-1.0, 1.0, n)
    y = rng.uniform(-1.2, 1.2, n)
    z = -0.6 * np.exp(-(x**2 + (y + 0.2) ** 2) / 0.3)  # nose and cheeks: depth
    pts = np.stack([x, y, z], 1)
    pts[0], pts[1] = [-0.5, -0.4, 0.0], [0.5, -0.4, 0.0]  # outer eye corners, inter-ocular distance 1
    return pts


def _project(pts, yaw_deg, shift=(0.0, 0.0), f=8.0, scale=100.0):
    a = np.radians(yaw_deg)
    r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    q = pts @ r.T
    q[:, 2] += f
    return (scale * f * q[:, :2] / q[:, 2:3] + np.asarray(shift) + 320).astype(np.float32)


def test_a_plane_is_explained_by_one_homography_and_a_turning_head_is_not():
    rng = np.random.default_rng(0)
    head = _head(rng)
    flat = head.copy()
    flat[:, 2] = 0.0  # the same face printed on paper
    a_head, b_head = _project(head, 0), _project(head, 12, (15, 3))
    a_flat, b_flat = _project(flat, 0), _project(flat, 12, (15, 3))
    r_flat, m_flat = planar_residual(a_flat, b_flat, 100.0)
    r_head, m_head = planar_residual(a_head, b_head, 100.0)
    assert m_flat > 0.1 and m_head > 0.1
    assert r_flat < 1e-4  # exact up to float rounding
    assert r_head > 0.02  # parallax of the nose against the cheeks


def test_the_planar_cue_abstains_without_motion_and_separates_with_it():
    rng = np.random.default_rng(1)
    head = _head(rng)
    flat = head.copy()
    flat[:, 2] = 0.0
    p = LivenessParams()
    still = [_project(head, 0) + rng.normal(0, 0.3, (60, 2)).astype(np.float32) for _ in range(6)]
    assert planar_cue(still, [100.0] * 6, p)[0] is None  # a face standing still says nothing either way
    turning = [_project(head, y, (2 * y, 0)) for y in range(0, 36, 6)]
    waving = [_project(flat, y, (2 * y, 0)) for y in range(0, 36, 6)]
    live, spoof = planar_cue(turning, [100.0] * 6, p)[0], planar_cue(waving, [100.0] * 6, p)[0]
    assert live is not None and spoof is not None and live > 0.9 and spoof < 0.1


def test_a_blink_needs_open_eyes_before_and_after():
    p = LivenessParams()
    assert blink_cue([0.3, 0.31, 0.12, 0.1, 0.29, 0.3], p) == 1.0
    assert blink_cue([0.3, 0.3, 0.31, 0.29, 0.3], p) is None  # no dip
    assert blink_cue([0.3, 0.3, 0.3, 0.1], p) is None  # closing at the end: not yet a blink
    assert blink_cue([0.1, 0.3, 0.3, 0.3], p) is None


def test_fusion_uses_only_the_cues_that_could_tell_and_a_blink_only_raises():
    p = LivenessParams(threshold=0.5)
    assert fuse(None, None, None, p) is None
    assert fuse(0.2, None, None, p) == 0.2
    assert fuse(0.2, 0.8, None, p) == 0.5
    assert fuse(0.2, None, 1.0, p) > 0.2
    r = judge([0.9, 0.8, 0.85], [], [], [], p)
    assert r.verdict == "live" and abs(r.score - 0.85) < 1e-9 and r.cues.planar is None
    assert judge([0.1, 0.2, 0.1], [], [], [], p).verdict == "spoof"
    assert judge([0.9], [], [], [], p).verdict == "undecided"  # one frame is not enough
