"""Face-mesh geometry: MediaPipe's rotated square crop, its inverse affine, eye openness."""

import cv2
import numpy as np
import pytest

from edge.domain import BBox, Detection
from edge.mesh import LEFT_EYE, POINTS, RIGHT_EYE, STABLE_POINTS, crop_affine, crop_for, eye_openness, to_image


def _detection(centre, iod, angle_deg, box_wh=(100.0, 120.0)):
    a = np.deg2rad(angle_deg)
    d = 0.5 * iod * np.array([np.cos(a), np.sin(a)])
    c = np.asarray(centre, np.float64)
    lms = np.array([c - d, c + d, c, c, c], np.float32)  # right eye (image left), left eye; the rest unused
    w, h = box_wh
    return Detection(BBox(c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2), lms, 0.9)


@pytest.mark.parametrize("angle", [0.0, 23.0, -40.0, 170.0])
def test_crop_round_trip_finds_a_dot_where_the_affine_says(angle):
    img = np.zeros((400, 500, 3), np.uint8)
    dot = np.array([262.0, 181.0])
    img[int(dot[1]), int(dot[0])] = 255
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    det = _detection((250, 200), 60.0, angle)
    crop, affine = crop_for(img, det, 192, 1.5)
    assert crop.shape == (192, 192, 3) and crop.dtype == np.uint8
    j = np.unravel_index(int(np.argmax(crop[:, :, 0])), crop.shape[:2])  # (row, col) of the dot in the crop
    back = to_image(np.array([[j[1] + 0.5, j[0] + 0.5, 0.0]]), affine)[0, :2]
    # one crop pixel is 1.5 * 120 / 192 = 0.94 image pixels
    assert np.linalg.norm(back - dot) < 1.0


def test_crop_levels_the_eyes_and_is_a_square_of_one_and_a_half_box_sides():
    det = _detection((250, 200), 60.0, 31.0, box_wh=(100.0, 120.0))
    m = crop_affine(det, 192, 1.5)
    inv = cv2.invertAffineTransform(m)
    eyes = det.landmarks[:2].astype(np.float64) @ inv[:, :2].T + inv[:, 2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6 and eyes[1, 0] > eyes[0, 0]  # level, right eye on the left
    assert np.sqrt(abs(np.linalg.det(m[:, :2]))) == pytest.approx(1.5 * 120 / 192)
    centre = to_image(np.array([[96.0, 96.0, 0.0]]), m)[0, :2]
    assert np.allclose(centre, [250 - 0.5, 200 - 0.5])  # box centre, in pixel-index coordinates


def test_z_is_scaled_like_x():
    det = _detection((250, 200), 60.0, 45.0, box_wh=(128.0, 128.0))
    p = to_image(np.array([[96.0, 96.0, 10.0]]), crop_affine(det, 192, 1.5))
    assert p[0, 2] == pytest.approx(10.0 * 1.5 * 128 / 192)


def _eyes(opening: float) -> np.ndarray:
    """Hand-made mesh points: two 30 px wide eyes whose lids are ``opening`` px apart."""
    pts = np.zeros((POINTS, 3), np.float32)
    for eye, x0 in ((RIGHT_EYE, 100.0), (LEFT_EYE, 160.0)):
        p1, p2, p3, p4, p5, p6 = eye
        pts[p1, :2], pts[p4, :2] = (x0, 100), (x0 + 30, 100)
        pts[p2, :2], pts[p6, :2] = (x0 + 10, 100 - opening / 2), (x0 + 10, 100 + opening / 2)
        pts[p3, :2], pts[p5, :2] = (x0 + 20, 100 - opening / 2), (x0 + 20, 100 + opening / 2)
    return pts


def test_eye_openness_is_the_eye_aspect_ratio():
    assert eye_openness(_eyes(9.0)) == pytest.approx(0.3)
    assert eye_openness(_eyes(1.5)) == pytest.approx(0.05)
    assert eye_openness(_eyes(0.0)) == 0.0


def test_eye_openness_ignores_position_scale_and_rotation():
    pts = _eyes(9.0)
    a = np.deg2rad(25.0)
    rot = 2.5 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = pts.copy()
    moved[:, :2] = pts[:, :2] @ rot.T + np.array([40.0, -13.0])
    assert eye_openness(moved) == pytest.approx(eye_openness(pts))


def test_stable_points_avoid_the_eyelids():
    lids = {i for eye in (RIGHT_EYE, LEFT_EYE) for i in eye[1:3] + eye[4:6]}
    assert not lids & set(STABLE_POINTS) and len(set(STABLE_POINTS)) == len(STABLE_POINTS)
    assert all(0 <= i < POINTS for i in STABLE_POINTS)


def test_decode_averages_int8_replicas_stacked_on_axis_1():
    from edge.mesh import decode

    a = np.arange(POINTS * 3, dtype=np.float32)
    stacked = np.stack([a, a + 2.0]).reshape(1, 2, 1, POINTS * 3)
    pts, presence = decode(stacked, np.array([1.0, 3.0], np.float32).reshape(1, 2, 1, 1))
    assert pts.shape == (POINTS, 3) and np.allclose(pts.reshape(-1), a + 1.0)
    assert presence == pytest.approx(1.0 / (1.0 + np.exp(-2.0)))
