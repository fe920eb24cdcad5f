import cv2
import numpy as np
import pytest

from edge.align import ARCFACE_112, align, scaled_template, similarity_transform


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (5, 2))
    angle, scale, t = np.deg2rad(17.0), 0.6, np.array([12.0, -7.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + t
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-9)
    assert np.allclose(m[:, 2], t, atol=1e-9)


def test_similarity_transform_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Nx2"):
        similarity_transform(np.zeros((5, 2)), np.zeros((4, 2)))


def test_align_puts_landmarks_on_template():
    # Draw five dots, align them, and find the dots again where the template says.
    img = np.zeros((300, 400, 3), np.uint8)
    pts = ARCFACE_112 * 2.1 + np.array([90.0, 40.0])
    for x, y in pts:
        cv2.circle(img, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    crop = align(img, pts, ARCFACE_112, (112, 112))
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_112:
        assert crop[int(round(y)), int(round(x))].max() > 100
    assert crop[5, 5].max() == 0


def test_scaled_template_adds_padding_around_centre():
    t = scaled_template(ARCFACE_112, (112, 112), 0.25)
    centre = np.array([56.0, 56.0])
    assert np.allclose(t - centre, (ARCFACE_112 - centre) / 1.5, atol=1e-5)
