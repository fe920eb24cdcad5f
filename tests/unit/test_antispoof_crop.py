"""The anti-spoofing crop: the face box scaled about its centre, kept inside the image (upstream's AffineCrop)."""

import numpy as np
import pytest

from edge.antispoof import crop_for, scaled_box
from edge.domain import BBox


def test_box_is_scaled_about_its_centre():
    b = scaled_box(BBox(200, 150, 240, 200), 2.0, 640, 480)  # 40x50 box centred at (220, 175)
    assert b == BBox(180, 125, 260, 225)


def test_box_past_an_edge_is_shifted_inside_keeping_its_size():
    b = scaled_box(BBox(0, 10, 40, 60), 2.7, 640, 480)  # centre (20, 35): 108x135 would start at x -34
    assert (b.x1, b.y1) == (0, 0)
    assert b.width == pytest.approx(108, abs=1) and b.height == pytest.approx(135, abs=1)
    b = scaled_box(BBox(600, 430, 640, 480), 2.7, 640, 480)
    assert b.x2 <= 640 and b.y2 <= 480 and b.width == pytest.approx(108, abs=1)


def test_scale_is_capped_so_the_box_fits_the_image():
    b = scaled_box(BBox(20, 20, 80, 80), 4.0, 100, 100)  # 240 px wanted, 100 px image
    assert b.x1 >= 0 and b.y1 >= 0 and b.x2 <= 100 and b.y2 <= 100
    assert b.width == pytest.approx(99, abs=1)


def test_crop_covers_the_scaled_box_not_the_face_box():
    img = np.zeros((480, 640, 3), np.uint8)
    img[150:200, 200:240] = 255  # the face box is white, its surroundings black
    face = BBox(200, 150, 240, 200)
    tight = crop_for(img, face, 1.0, 80)
    wide = crop_for(img, face, 2.0, 80)
    assert tight.shape == wide.shape == (80, 80, 3)
    assert tight.mean() > 250  # only the box
    assert 0.2 < wide.mean() / 255 < 0.3  # a quarter of the area is the box when the scale is applied
    assert wide[:15].max() == 0 and wide[40, 40].min() == 255


def test_empty_box_is_refused():
    with pytest.raises(ValueError, match="positive width"):
        scaled_box(BBox(10, 10, 10, 20), 2.7, 640, 480)
