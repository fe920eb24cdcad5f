"""Synthetic presentation attacks (tools/attacks.py): geometry, materials, determinism, video round trip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools import attacks as A

DATA = Path(__file__).resolve().parent.parent / "data"
CAM = A.Camera(640, 360, 520.0)
POSE = A.Pose(rx=0.15, ry=-0.3, rz=0.08, tx=0.01, ty=-0.005, tz=0.45)


def dots_texture(w: int = 300, h: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """A dark texture with a 3x3 grid of bright dots; returns it and the dot centres (texture pixels)."""
    tex = np.full((h, w, 3), 40, np.uint8)
    pts = np.array([[x, y] for y in (60, h / 2, h - 60) for x in (50, w / 2, w - 50)], np.float64)
    for x, y in pts:
        cv2.circle(tex, (int(round(x * 16)), int(round(y * 16))), 6 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    return tex, pts


def rendered_dots(frame: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    n, lab, stats, cents = cv2.connectedComponentsWithStats((grey > 120).astype(np.uint8))
    out = []
    for i in range(1, n):
        m = lab == i
        w = grey[m] - 40
        ys, xs = np.nonzero(m)
        out.append([float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum())])
    return np.array(out)


def match(found: np.ndarray, expected: np.ndarray) -> float:
    """Largest distance from an expected point to its nearest found point."""
    assert len(found) == len(expected)
    return max(float(np.min(np.linalg.norm(found - e, axis=1))) for e in expected)


@pytest.mark.parametrize("bend", [0.0, 0.2, 0.1])
def test_texture_points_land_where_the_geometry_says(bend):
    tex, pts = dots_texture()
    sheet = A.Sheet(tex.shape[1], tex.shape[0], 0.12, bend)
    frame = A.compose(np.zeros((360, 640, 3), np.uint8), tex, np.ones(tex.shape[:2], np.float32), CAM, POSE, sheet)
    assert match(rendered_dots(frame), A.project(CAM, POSE, sheet, pts)) < 0.6


def test_flat_projection_is_the_recorded_homography():
    sheet = A.Sheet(300, 400, 0.12)
    pts = np.array([[0, 0], [299, 0], [299, 399], [0, 399], [123.5, 77.25]], np.float64)
    h = A.homography(CAM, POSE, sheet)
    via_h = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h).reshape(-1, 2)
    assert np.allclose(via_h, A.project(CAM, POSE, sheet, pts), atol=1e-6)


def test_bent_sheet_agrees_with_its_tangent_plane_at_the_centre_only():
    flat, bent = A.Sheet(300, 400, 0.2), A.Sheet(300, 400, 0.2, 0.15)
    centre = np.array([[149.5, 199.5], [149.5, 0.0]])
    assert np.allclose(A.project(CAM, POSE, flat, centre), A.project(CAM, POSE, bent, centre), atol=1e-6)
    corner = np.array([[0.0, 0.0]])
    assert np.linalg.norm(A.project(CAM, POSE, flat, corner) - A.project(CAM, POSE, bent, corner)) > 2


def photo_source() -> A.Source:
    img = cv2.imread(str(DATA / "face_recognition__obama.jpg"))
    return A.Source("tests/data/face_recognition__obama.jpg", "barack_obama", [img], [(330.0, 250.0, 600.0, 600.0)])


def grey_background() -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(0).integers(60, 200, (90, 160, 3)).astype(np.uint8), (0, 0), 3)


def test_rendered_item_records_a_homography_and_face_box_per_frame_and_flat_geometry_matches():
    r = A.render("print", photo_source(), grey_background(), 11, frames=6, fps=15, size=(640, 360), clean=True)
    it = r.item
    assert it.synthetic and it.kind == "print" and it.frames == len(r.frames) == len(it.homographies) == len(it.face_boxes) == 6
    tw, th = it.texture_wh
    for h, c in zip(it.homographies, it.corners, strict=True):
        quad = cv2.perspectiveTransform(np.array([[[0, 0]], [[tw - 1, 0]], [[tw - 1, th - 1]], [[0, th - 1]]], np.float64), np.array(h).reshape(3, 3))
        assert np.allclose(quad.reshape(-1), c, atol=0.05)
    assert all(b is not None and b[0] < b[2] and b[1] < b[3] for b in it.face_boxes)
    assert it.face_boxes[0] != it.face_boxes[-1]  # the sheet moves


def test_same_seed_same_frames_other_seed_other_frames():
    src, bg = photo_source(), grey_background()
    a = A.render("print_cutout", src, bg, 5, frames=4)
    b = A.render("print_cutout", src, bg, 5, frames=4)
    c = A.render("print_cutout", src, bg, 6, frames=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    assert a.item.homographies == b.item.homographies
    assert not np.array_equal(a.frames[0], c.frames[0])


def peak_ratio(img: np.ndarray, period: float) -> float:
    """Spectral magnitude of the column profile at 1/period against the median of its neighbourhood."""
    grey = img.astype(np.float64).mean(axis=2)
    prof = grey.mean(axis=0) - grey.mean()
    spec = np.abs(np.fft.rfft(prof * np.hanning(len(prof))))
    k = int(round(len(prof) / period))
    return float(spec[k - 1 : k + 2].max() / (np.median(spec[max(1, k // 2) : k * 3 // 2 + 1]) + 1e-9))


def test_screen_has_a_pixel_grid_a_print_does_not():
    content = cv2.resize(cv2.imread(str(DATA / "face_recognition__obama.jpg")), (120, 150), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    sp = A.ScreenParams(**{**A.random_screen(rng).__dict__, "display_px": 100})
    screen = A.screen_material(content, sp)
    bz = int(round(sp.bezel * sp.display_px * sp.pitch_px))
    screen = screen[bz:-bz, bz:-bz]
    pp = A.random_print(rng)
    prints = [A.print_material(cv2.resize(content, (screen.shape[1], screen.shape[0])), A.PrintParams(**{**pp.__dict__, "halftone_px": ht}), rng)
              for ht in (0.0, 4.0)]
    assert peak_ratio(screen, sp.pitch_px) > 10  # 15-24 over seeds 0-3
    # a halftone is periodic too, but at its own period and angles (here 4 px at 0, 15, 75 degrees; a
    # halftone of the grid's own period, 6 px, would peak there as well)
    for pr in prints:
        assert peak_ratio(pr, sp.pitch_px) < 5


def test_video_reads_back_with_the_declared_frame_count(tmp_path):
    r = A.render("screen_photo", photo_source(), grey_background(), 3, frames=9, fps=15, size=(640, 480))
    path = tmp_path / "a.mp4"
    A.write_video(path, r.frames, r.item.fps)
    back = A.read_video(path)
    assert len(back) == r.item.frames == 9
    assert back[0].shape == (480, 640, 3)
    psnr = cv2.PSNR(back[4], r.frames[4])
    assert psnr > 28


def test_trajectory_is_smooth_and_seeded():
    m = A.random_motion(np.random.default_rng(1), (0.3, 0.6))
    poses = A.trajectory(m, 60, 15)
    assert poses == A.trajectory(m, 60, 15)
    tz = np.array([p.tz for p in poses])
    ry = np.array([p.ry for p in poses])
    assert np.abs(np.diff(tz)).max() < 0.02 and np.abs(np.diff(ry)).max() < 0.1
    assert tz.min() > 0.2 and tz.max() < 0.7


def test_the_labelled_face_is_the_central_one_of_the_large_faces():
    edge, centre, tiny = (0.0, 138.0, 160.0, 480.0), (150.0, 120.0, 330.0, 360.0), (230.0, 230.0, 250.0, 250.0)
    assert A.labelled_face([edge, centre, tiny], 480, 480) == centre
    assert A.labelled_face([edge, tiny], 480, 480) == edge
    assert A.labelled_face([], 480, 480) is None


def test_longest_run():
    assert A.longest_run([True, False, True, True, False, True]) == (2, 4)
    assert A.longest_run([False, True, True]) == (1, 3)
    assert A.longest_run([False]) == (0, 0)
