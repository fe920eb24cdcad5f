"""A synthetic print attack of a test photo is a face to the device detector (tools/attacks.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tools import attacks as A

DATA = Path(__file__).resolve().parent.parent / "data"


def test_detector_finds_the_face_in_a_print_attack_and_where_the_geometry_puts_it(tmp_path):
    detect = A.make_detector()
    img = cv2.imread(str(DATA / "face_recognition__obama.jpg"))
    box = A.largest(detect(img))
    assert box is not None
    background = cv2.GaussianBlur(np.random.default_rng(0).integers(40, 220, (90, 160, 3)).astype(np.uint8), (0, 0), 2)
    assert not detect(background)
    r = A.render("print", A.Source("tests/data/face_recognition__obama.jpg", "barack_obama", [img], [box]), background, 2, frames=12, fps=15)
    found = A.detected_frames(r.frames, r.item.face_boxes, detect, min_iou=0.5)
    assert found >= 10, f"face found (IoU >= 0.5 with the recorded box) in {found} of 12 frames"
    path = tmp_path / "print.mp4"
    A.write_video(path, r.frames, r.item.fps)
    assert len(A.read_video(path)) == 12
