"""Synthetic presentation attacks for liveness measurement: prints and screen replays held in front of a door camera.

    .venv/bin/python -m tools.attacks --out build/attacks --sources faces [--per-kind 20] [--seed 0]
    .venv/bin/python -m tools.attacks --out build/attacks-more --sources faces-more

Every rendered item is SYNTHETIC (file names start with ``SYNTHETIC_``, ``synthetic`` is true in the
index): a real photo (or real video frames) is turned into a printed sheet or a display, placed on a
plane that moves in 3-D in front of a pinhole camera, composited over a real background and passed
through a camera model (area sampling, defocus, noise, JPEG). The only live references are real: the
Hamilton clip and the upstream MiniFASNet samples (listed, not rendered; F1/F2 are real recaptures).

Four parts: geometry (plane pose -> homography, cylinder ray cast for a bent sheet), materials
(print, screen), composition (one camera frame) and the CLI, which writes ``index.jsonl`` (one item a
line, with per-frame homographies, sheet corners and face boxes) and ``index.csv`` (one summary row an
item). The same seed gives the same frames. ``--sources faces-more`` includes CelebA photos, whose
terms allow research evaluation only: its output stays in build/ and never goes into the repository.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.degrade import jpeg, motion_blur
from edge.domain import Pixels
from edge.image import load_image

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CLIP = SHARED / "video" / "short_hamilton_clip.mp4"
CLIP_IDENTITY = "lin_manuel_miranda"
UPSTREAM_SAMPLES = SHARED / "models" / "minifasnet" / "samples"

PRINT_KINDS = ("print", "print_curved", "print_cutout")
SCREEN_KINDS = ("screen", "screen_photo")
KINDS = PRINT_KINDS + SCREEN_KINDS

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
Mat3 = NDArray[np.float64]


# ----------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: focal length in pixels, principal point at the image centre, no distortion."""

    width: int
    height: int
    focal_px: float

    @property
    def K(self) -> Mat3:
        return np.array([[self.focal_px, 0, (self.width - 1) / 2], [0, self.focal_px, (self.height - 1) / 2], [0, 0, 1]], np.float64)


@dataclass(frozen=True)
class Pose:
    """A plane's pose in camera coordinates: rotations in radians (x = pitch, y = yaw, z = roll),
    translation of the plane centre in metres (z forward, y down)."""

    rx: float
    ry: float
    rz: float
    tx: float
    ty: float
    tz: float

    def rotation(self) -> Mat3:
        cx, sx, cy, sy, cz, sz = math.cos(self.rx), math.sin(self.rx), math.cos(self.ry), math.sin(self.ry), math.cos(self.rz), math.sin(self.rz)
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        return rz @ ry @ rx


@dataclass(frozen=True)
class Sheet:
    """A rectangular sheet ``width_m`` wide showing a texture of ``tex_w`` x ``tex_h`` pixels
    (square texture pixels); ``bend_radius_m`` > 0 bends it round a vertical axis (0 = flat),
    ``bend_sign`` +1 bends the edges away from the camera, -1 towards it."""

    tex_w: int
    tex_h: int
    width_m: float
    bend_radius_m: float = 0.0
    bend_sign: int = 1

    @property
    def m_per_px(self) -> float:
        return self.width_m / self.tex_w


def homography(cam: Camera, pose: Pose, sheet: Sheet) -> Mat3:
    """Texture pixel -> camera pixel for the flat sheet (for a bent sheet: its tangent plane at the centre)."""
    s = sheet.m_per_px
    to_plane = np.array([[s, 0, -s * (sheet.tex_w - 1) / 2], [0, s, -s * (sheet.tex_h - 1) / 2], [0, 0, 1]])
    r = pose.rotation()
    rt = np.column_stack([r[:, 0], r[:, 1], [pose.tx, pose.ty, pose.tz]])
    h = cam.K @ rt @ to_plane
    return h / h[2, 2]


def project(cam: Camera, pose: Pose, sheet: Sheet, tex_pts: NDArray) -> NDArray[np.float64]:
    """Camera pixels of texture points (N x 2) on the sheet, flat or bent."""
    pts = np.asarray(tex_pts, np.float64).reshape(-1, 2)
    s = sheet.m_per_px
    u = (pts[:, 0] - (sheet.tex_w - 1) / 2) * s
    v = (pts[:, 1] - (sheet.tex_h - 1) / 2) * s
    if sheet.bend_radius_m > 0:
        rc, th = sheet.bend_radius_m, u / sheet.bend_radius_m
        local = np.stack([rc * np.sin(th), v, sheet.bend_sign * rc * (1 - np.cos(th))], 1)
    else:
        local = np.stack([u, v, np.zeros_like(u)], 1)
    cam_pts = local @ pose.rotation().T + np.array([pose.tx, pose.ty, pose.tz])
    img = cam_pts @ cam.K.T
    return img[:, :2] / img[:, 2:3]


def bent_sheet_map(cam: Camera, pose: Pose, sheet: Sheet, scale: int = 1, step: int = 4) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Ray cast from the camera pixels (on a grid ``scale`` times finer) to the bent sheet's cylinder:
    the texture coordinates each pixel sees, for ``cv2.remap`` (coordinates off the texture are off
    the sheet). Cast on every ``step``-th pixel and interpolated: the map is smooth."""
    w, h = cam.width * scale, cam.height * scale
    xs = (np.arange(0, w + step, step, dtype=np.float64) + 0.5) / scale - 0.5
    ys = (np.arange(0, h + step, step, dtype=np.float64) + 0.5) / scale - 0.5
    gx, gy = np.meshgrid(xs, ys)
    rays = np.stack([gx, gy, np.ones_like(gx)], -1) @ np.linalg.inv(cam.K).T
    r = pose.rotation()
    d = rays @ r  # R^T d for every ray
    o = -r.T @ np.array([pose.tx, pose.ty, pose.tz])
    rc, sg = sheet.bend_radius_m, sheet.bend_sign
    cz = o[2] - sg * rc  # the axis is at x = 0, z = sg * rc
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = 2 * (d[..., 0] * o[0] + d[..., 2] * cz)
    c = o[0] ** 2 + cz**2 - rc**2
    sq = np.sqrt(np.maximum(b * b - 4 * a * c, 0))
    far = np.full(gx.shape, 1e9)
    best_u, best_v = far.copy(), far.copy()
    for lam in ((-b + sq) / (2 * a), (-b - sq) / (2 * a)):  # the nearer root last, so it wins
        px, py, pz = (o[i] + lam * d[..., i] for i in range(3))
        ok = (lam > 0) & (rc - sg * pz > 0)  # the half of the cylinder the sheet is on
        best_u = np.where(ok, rc * np.arctan2(px, rc - sg * pz), best_u)
        best_v = np.where(ok, py, best_v)
    s = sheet.m_per_px
    # cv2.resize puts fine pixel k at coarse (k + 0.5) / step - 0.5, i.e. grid pixel k - off: shift back by off
    off = (step - 1) / 2
    sh = np.array([[1, 0, off], [0, 1, off]], np.float32)

    def fine(coarse: NDArray[np.float64]) -> NDArray[np.float32]:
        c32 = coarse.astype(np.float32)
        up = cv2.resize(c32, (c32.shape[1] * step, c32.shape[0] * step), interpolation=cv2.INTER_LINEAR)
        return np.asarray(cv2.warpAffine(up, sh, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE), np.float32)

    return fine(best_u / s + (sheet.tex_w - 1) / 2), fine(best_v / s + (sheet.tex_h - 1) / 2)


@dataclass(frozen=True)
class Motion:
    """How the held sheet moves over a visit: a base pose, slow sinusoidal sway (0.1-0.6 Hz) of
    amplitude ``sway_*``, an approach of ``approach_m`` towards the camera, and hand shake (smoothed
    noise of 4-9 Hz, amplitude ``shake_*``). Angles in radians, distances in metres."""

    base: Pose
    sway_rot: tuple[float, float, float]
    sway_t: tuple[float, float, float]
    approach_m: float
    shake_rot: float
    shake_t: float
    seed: int


def random_motion(rng: np.random.Generator, distance_m: tuple[float, float]) -> Motion:
    d = float(rng.uniform(*distance_m))
    base = Pose(
        rx=float(rng.uniform(-0.25, 0.25)), ry=float(rng.uniform(-0.35, 0.35)), rz=float(rng.uniform(-0.12, 0.12)),
        tx=float(rng.uniform(-0.03, 0.03)), ty=float(rng.uniform(-0.03, 0.03)), tz=d,
    )
    return Motion(
        base=base,
        sway_rot=(float(rng.uniform(0.02, 0.15)), float(rng.uniform(0.03, 0.25)), float(rng.uniform(0.01, 0.08))),
        sway_t=(float(rng.uniform(0.005, 0.03)), float(rng.uniform(0.005, 0.02)), float(rng.uniform(0.0, 0.05))),
        approach_m=float(rng.uniform(0.0, 0.25)) * d,
        shake_rot=float(rng.uniform(0.003, 0.02)), shake_t=float(rng.uniform(0.0005, 0.003)),
        seed=int(rng.integers(2**31)),
    )


def trajectory(m: Motion, n: int, fps: float) -> list[Pose]:
    """Per-frame poses of a :class:`Motion` (deterministic in ``m.seed``)."""
    rng = np.random.default_rng(m.seed)
    t = np.arange(n) / fps
    dur = max(t[-1], 1e-6) if n > 1 else 1.0

    def sway(amp: float) -> NDArray[np.float64]:
        f1, f2 = rng.uniform(0.1, 0.6, 2)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        return amp * (0.7 * np.sin(2 * np.pi * f1 * t + p1) + 0.3 * np.sin(2 * np.pi * f2 * t + p2))

    def shake(amp: float) -> NDArray[np.float64]:
        white = rng.normal(0, 1, n + 8)
        k = max(1, int(round(fps / rng.uniform(4, 9))))
        smooth = np.convolve(white, np.ones(k) / np.sqrt(k), mode="same")[4 : 4 + n]
        return amp * smooth

    b = m.base
    rx = b.rx + sway(m.sway_rot[0]) + shake(m.shake_rot)
    ry = b.ry + sway(m.sway_rot[1]) + shake(m.shake_rot)
    rz = b.rz + sway(m.sway_rot[2]) + shake(m.shake_rot)
    tx = b.tx + sway(m.sway_t[0]) + shake(m.shake_t)
    ty = b.ty + sway(m.sway_t[1]) + shake(m.shake_t)
    tz = b.tz - m.approach_m * (t / dur) + sway(m.sway_t[2]) + shake(m.shake_t)
    return [Pose(*map(float, p)) for p in zip(rx, ry, rz, tx, ty, tz, strict=True)]


# ---------------------------------------------------------------------------------------------- materials


@dataclass(frozen=True)
class PrintParams:
    """Paper and ink: the paper's white (BGR), the ink's black level, saturation kept, halftone period
    in texture pixels (0 = continuous-tone inkjet with paper grain), grain strength, dot-gain blur."""

    paper_bgr: tuple[float, float, float]
    black: float
    saturation: float
    halftone_px: float
    grain: float
    blur_px: float
    gloss: float  # peak strength of the specular glare patch, 0-1


def random_print(rng: np.random.Generator) -> PrintParams:
    w = float(rng.uniform(215, 245))
    tint = rng.uniform(-6, 6, 3)
    return PrintParams(
        paper_bgr=(w + 4 + tint[0], w + tint[1], w - 3 + tint[2]), black=float(rng.uniform(18, 50)), saturation=float(rng.uniform(0.6, 0.9)),
        halftone_px=float(rng.choice([0.0, rng.uniform(3.0, 6.0)])), grain=float(rng.uniform(0.01, 0.05)),
        blur_px=float(rng.uniform(0.4, 1.2)), gloss=float(rng.uniform(0.15, 0.6)),
    )


def print_material(photo: Pixels, p: PrintParams, rng: np.random.Generator) -> Pixels:
    """A photo as a print: reduced gamut between ink black and paper white, halftone dots or paper grain, blur."""
    img = photo.astype(np.float32) / 255.0
    grey = img.mean(axis=2, keepdims=True)
    img = grey + p.saturation * (img - grey)
    if p.halftone_px > 0:  # one dot screen per ink (C, M, Y at 15, 75, 0 degrees): ink coverage -> dot area
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        out = np.empty_like(img)
        for ch, ang in zip((2, 1, 0), (15.0, 75.0, 0.0), strict=True):  # C absorbs R, M absorbs G, Y absorbs B
            a = math.radians(ang)
            u, v = xx * math.cos(a) + yy * math.sin(a), -xx * math.sin(a) + yy * math.cos(a)
            screen = 0.5 + 0.25 * (np.cos(2 * np.pi * u / p.halftone_px) + np.cos(2 * np.pi * v / p.halftone_px))
            ink = 1.0 - np.clip(img[..., ch], 0, 1)
            out[..., ch] = (ink <= screen).astype(np.float32)
        img = out
    img = np.clip(img, 0, 1)
    paper = np.array(p.paper_bgr, np.float32) / 255.0
    img = p.black / 255.0 + img * (paper - p.black / 255.0)
    grain = cv2.GaussianBlur(rng.normal(0, 1, img.shape[:2]).astype(np.float32), (0, 0), 1.2)
    img = img * (1 + p.grain * grain[..., None] / max(float(grain.std()), 1e-6))
    img = cv2.GaussianBlur(img, (0, 0), p.blur_px)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ScreenParams:
    """A display: ``display_px`` pixels across its content, each drawn as three vertical R, G, B
    stripes of ``subpixel_px`` texture pixels with a dark gap (black matrix) of ``gap`` of a stripe;
    tone (gamma relative to the source, contrast, glowing black level, white-point gains BGR),
    bezel width as a fraction of the content width, reflection gradient strength, flicker."""

    display_px: int
    subpixel_px: int
    gap: float
    gamma: float
    contrast: float
    black: float
    gains_bgr: tuple[float, float, float]
    bezel: float
    reflection: float
    flicker: float  # relative amplitude of brightness flicker / rolling bands
    flicker_hz: float

    @property
    def pitch_px(self) -> int:
        """Texture pixels per display pixel (the grid period)."""
        return 3 * self.subpixel_px


def random_screen(rng: np.random.Generator) -> ScreenParams:
    return ScreenParams(
        display_px=int(rng.integers(160, 320)), subpixel_px=2, gap=float(rng.uniform(0.15, 0.4)), gamma=float(rng.uniform(0.85, 1.25)),
        contrast=float(rng.uniform(0.75, 0.95)), black=float(rng.uniform(8, 30)),
        gains_bgr=(float(rng.uniform(1.0, 1.12)), float(rng.uniform(0.97, 1.03)), float(rng.uniform(0.88, 1.0))),
        bezel=float(rng.uniform(0.03, 0.08)), reflection=float(rng.uniform(0.05, 0.25)), flicker=float(rng.uniform(0.01, 0.08)),
        flicker_hz=float(rng.uniform(0.3, 7.0)),
    )


def subpixel_mask(pitch: int, subpixel: int, gap: float) -> NDArray[np.float32]:
    """One display pixel's emission (pitch x pitch x 3, BGR): R, G, B stripes left to right with a black-matrix gap."""
    m = np.zeros((pitch, pitch, 3), np.float32)
    g = int(round(gap * subpixel))
    for i, ch in enumerate((2, 1, 0)):
        m[g // 2 : pitch - (g - g // 2) if g else pitch, i * subpixel + g // 2 : (i + 1) * subpixel - (g - g // 2), ch] = 3.0
    return m


@functools.lru_cache(maxsize=4)
def _tiled_mask(pitch: int, subpixel: int, gap: float, rows: int, cols: int) -> NDArray[np.float32]:
    return np.tile(subpixel_mask(pitch, subpixel, gap), (rows, cols, 1))


def screen_material(content: Pixels, p: ScreenParams) -> NDArray[np.float32]:
    """Content shown on a display: resampled to the display's pixel grid, each pixel as RGB
    subpixel stripes, with display tone and a dark bezel around it. Output is (display pixels x pitch)
    wide, float32 radiance: a lit stripe is three times as bright as its pixel's value (up to 765),
    so that the camera's area average over a pixel gives the pixel's value back (less the black-matrix gap)."""
    ch_, cw = content.shape[:2]
    dw = p.display_px
    dh = max(1, int(round(dw * ch_ / cw)))
    px = cv2.resize(content, (dw, dh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    px = np.clip(px, 0, 1) ** p.gamma
    px = px * np.array(p.gains_bgr, np.float32)
    px = p.black / 255.0 + p.contrast * px * (1 - p.black / 255.0)
    pitch = p.pitch_px
    big = cv2.resize(px, (dw * pitch, dh * pitch), interpolation=cv2.INTER_NEAREST)
    emitted = big * _tiled_mask(pitch, p.subpixel_px, p.gap, dh, dw)
    bz = int(round(p.bezel * emitted.shape[1]))
    out = np.full((emitted.shape[0] + 2 * bz, emitted.shape[1] + 2 * bz, 3), 0.06, np.float32)
    out[bz : bz + emitted.shape[0], bz : bz + emitted.shape[1]] = emitted
    return out * 255


def screen_content_box(p: ScreenParams, content_wh: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, x0, y0): content pixel (x, y) -> screen texture pixel (x0 + scale * x, y0 + scale * y)."""
    cw, ch_ = content_wh
    dw = p.display_px
    emitted_w = dw * p.pitch_px
    bz = int(round(p.bezel * emitted_w))
    return emitted_w / cw, float(bz), float(bz)


# -------------------------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class CameraParams:
    """The door camera: ``focal_px``, defocus blur, sensor noise sigma, JPEG quality, exposure gain,
    motion-blur length in pixels (0 = none)."""

    focal_px: float
    defocus_px: float
    noise: float
    jpeg_quality: int
    exposure: float
    motion_px: int


def random_camera(rng: np.random.Generator, width: int) -> CameraParams:
    return CameraParams(
        focal_px=float(rng.uniform(0.75, 1.0)) * width, defocus_px=float(rng.uniform(0.3, 1.0)), noise=float(rng.uniform(1.5, 6.0)),
        jpeg_quality=int(rng.integers(55, 91)), exposure=float(rng.uniform(0.85, 1.15)), motion_px=int(rng.choice([0, 0, 3, 5])),
    )


SUPERSAMPLE = 2


COARSE = 8


class Warp:
    """Where every supersampled camera pixel looks on the sheet, for one frame; applies to the
    texture or to any coarser field laid over the same sheet (scaled to its size)."""

    def __init__(self, cam: Camera, pose: Pose, sheet: Sheet):
        self.cam, self.sheet = cam, sheet
        self.size = (cam.width * SUPERSAMPLE, cam.height * SUPERSAMPLE)
        self.maps = bent_sheet_map(cam, pose, sheet, SUPERSAMPLE) if sheet.bend_radius_m > 0 else None
        half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        self.h = np.linalg.inv(half) @ np.diag([SUPERSAMPLE, SUPERSAMPLE, 1.0]) @ half @ homography(cam, pose, sheet)

    def __call__(self, tex: NDArray, interp: int = cv2.INTER_LINEAR) -> NDArray:
        fx, fy = tex.shape[1] / self.sheet.tex_w, tex.shape[0] / self.sheet.tex_h
        if self.maps is not None:
            mx, my = self.maps
            if (fx, fy) != (1, 1):
                mx, my = (mx + 0.5) * fx - 0.5, (my + 0.5) * fy - 0.5
            return cv2.remap(tex, mx, my, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        to_full = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
        return cv2.warpPerspective(tex, self.h @ to_full, self.size, flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def optics_shrink(cam: Camera, poses: Sequence[Pose], sheet: Sheet, texels_per_sample: float = 2.0) -> float:
    """How much to area-average the texture first so that, at the item's nearest pose, it has
    ``texels_per_sample`` texture pixels per supersampled camera pixel: the lens and the sensor's
    pixel area integrate detail far finer than a pixel, so a display grid or halftone much finer
    than the camera's pixels averages out instead of aliasing at full contrast (what is left near
    the camera's own resolution still beats into moire)."""
    corners = np.array([[0, 0], [sheet.tex_w - 1, 0], [sheet.tex_w - 1, sheet.tex_h - 1], [0, sheet.tex_h - 1]], np.float64)
    widest = 1.0  # camera pixels across the sheet's top or bottom edge, at its nearest
    for p in poses:
        c = project(cam, p, sheet, corners)
        widest = max(widest, float(np.linalg.norm(c[1] - c[0])), float(np.linalg.norm(c[2] - c[3])))
    return max(1.0, sheet.tex_w / (widest * SUPERSAMPLE * texels_per_sample))


def compose(background: Pixels, tex: NDArray, alpha: NDArray[np.float32], cam: Camera, pose: Pose, sheet: Sheet,
            gain: NDArray[np.float32] | None = None, add: NDArray[np.float32] | None = None) -> Pixels:
    """One clean camera frame (before the camera model): the sheet's texture (uint8 or float radiance)
    over the background, rendered on a grid ``SUPERSAMPLE`` times finer and area-averaged to the
    camera's pixels. ``gain`` and ``add``: smooth fields over the sheet (any size, e.g. coarse) that
    multiply the texture and add to it (flicker, glare, reflections). ``alpha``: the sheet's coverage."""
    warp = Warp(cam, pose, sheet)
    big_bg = cv2.resize(background, warp.size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    fg = warp(tex).astype(np.float32)
    if gain is not None:
        fg *= warp(gain)[..., None]
    if add is not None:
        fg += warp(add)[..., None]
    a = warp(alpha)[..., None]
    out = big_bg * (1 - a) + fg * a
    return cv2.resize(out, (cam.width, cam.height), interpolation=cv2.INTER_AREA).clip(0, 255).astype(np.uint8)


def camera_model(frame: Pixels, p: CameraParams, rng: np.random.Generator) -> Pixels:
    img = cv2.GaussianBlur(frame, (0, 0), p.defocus_px)
    if p.motion_px > 1:
        img = motion_blur(img, p.motion_px)
    img = np.clip(img.astype(np.float32) * p.exposure + rng.normal(0, p.noise, img.shape), 0, 255).astype(np.uint8)
    return jpeg(img, p.jpeg_quality)


# --------------------------------------------------------------------------------------------- the items


@dataclass(frozen=True)
class Source:
    """What is shown: frames (one for a photo) and the face box in each, in the frames' pixels (None = unknown)."""

    path: str
    identity: str
    frames: Sequence[Pixels]
    boxes: Sequence[Box | None]
    fps: float = 0.0  # of a video source


@dataclass
class Item:
    """One rendered attack (or a listed real reference) as written to ``index.jsonl``.
    ``homographies``: per frame, texture pixel -> camera pixel (row-major 3x3; for a bent sheet the
    tangent plane at its centre); ``corners``: the sheet's four corners (TL, TR, BR, BL) in the camera;
    ``face_boxes``: the source's face box carried through the geometry (x1, y1, x2, y2) or None;
    ``media``: relative to the index's folder; ``detected_frames``: frames where the device detector
    finds a face overlapping ``face_boxes`` (IoU >= 0.3)."""

    name: str
    kind: str
    synthetic: bool
    source: str
    identity: str
    seed: int
    frames: int
    fps: float
    width: int
    height: int
    media: str
    texture_wh: tuple[int, int] = (0, 0)
    params: dict[str, object] = field(default_factory=dict)
    homographies: list[list[float]] = field(default_factory=list)
    corners: list[list[float]] = field(default_factory=list)
    face_boxes: list[list[float] | None] = field(default_factory=list)
    detected_frames: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Render:
    item: Item
    frames: list[Pixels]


def box_in_texture(box: Box, scale: float, x0: float, y0: float) -> Box:
    return (x0 + scale * box[0], y0 + scale * box[1], x0 + scale * box[2], y0 + scale * box[3])


def projected_box(cam: Camera, pose: Pose, sheet: Sheet, box: Box) -> list[float] | None:
    x1, y1, x2, y2 = box
    t = np.linspace(0, 1, 9)
    edge = np.concatenate([np.stack([x1 + (x2 - x1) * t, np.full(9, y1)], 1), np.stack([x1 + (x2 - x1) * t, np.full(9, y2)], 1),
                           np.stack([np.full(9, x1), y1 + (y2 - y1) * t], 1), np.stack([np.full(9, x2), y1 + (y2 - y1) * t], 1)])
    p = project(cam, pose, sheet, edge)
    bx = [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())]
    if bx[2] < 0 or bx[3] < 0 or bx[0] >= cam.width or bx[1] >= cam.height:
        return None
    return [round(v, 2) for v in bx]


def fit_texture(img: Pixels, longest: int) -> tuple[Pixels, float]:
    h, w = img.shape[:2]
    s = longest / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp), s


def cutout_alpha(shape: tuple[int, int], box: Box, rng: np.random.Generator) -> NDArray[np.float32]:
    """Paper cut round the face: an ellipse 1.5-2x the face box (slightly irregular scissor edge)."""
    h, w = shape
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 0.1 * (box[3] - box[1])
    ax, ay = (box[2] - box[0]) * rng.uniform(0.75, 1.0), (box[3] - box[1]) * rng.uniform(0.85, 1.1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.03 * np.sin(5 * ang + rng.uniform(0, 6.3)) + 0.02 * np.sin(11 * ang + rng.uniform(0, 6.3))
    r = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
    return (r <= wobble).astype(np.float32)


def render(kind: str, src: Source, background: Pixels, seed: int, *, frames: int | None = None, fps: float | None = None,
           size: tuple[int, int] | None = None, clean: bool = False) -> Render:
    """Render one attack of ``kind`` showing ``src`` over ``background``. ``clean`` switches off the
    camera model (noise, blur, JPEG, exposure), glare and flicker, for geometry tests."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    rng = np.random.default_rng(seed)
    n = frames or int(rng.integers(48, 91))
    fps = fps or float(rng.choice([15.0, 30.0]))
    if src.fps:  # a video source: no more frames than it has
        n = min(n, len(src.frames) // max(1, int(round(src.fps / fps))))
    w, h = size or ((640, 360) if rng.random() < 0.5 else (640, 480))
    camp = random_camera(rng, w)
    cam = Camera(w, h, camp.focal_px)
    is_print = kind in PRINT_KINDS
    params: dict[str, object] = {"camera": asdict(camp)}
    pp: PrintParams | None = None
    sp: ScreenParams | None = None
    if is_print:
        pp = random_print(rng)
        base_tex, s0 = fit_texture(src.frames[0], 900)
        tex0 = print_material(base_tex, pp, rng)
        scale, x0, y0 = s0, 0.0, 0.0
        width_m = float(rng.uniform(0.13, 0.21)) * tex0.shape[1] / max(tex0.shape[:2])
        bend = float(rng.uniform(0.12, 0.35)) if kind == "print_curved" else 0.0
        sheet = Sheet(tex0.shape[1], tex0.shape[0], width_m, bend, int(rng.choice([-1, 1])))
        params["print"] = asdict(pp)
        distance = (0.3, 0.6)
    else:
        sp = random_screen(rng)
        probe = screen_material(src.frames[0], sp)
        scale, x0, y0 = screen_content_box(sp, (src.frames[0].shape[1], src.frames[0].shape[0]))
        portrait = src.frames[0].shape[0] > src.frames[0].shape[1]
        content_w_m = float(rng.uniform(0.06, 0.075)) if portrait else float(rng.uniform(0.17, 0.26))  # a phone upright, a tablet across
        width_m = content_w_m * probe.shape[1] / (sp.display_px * sp.pitch_px)
        sheet = Sheet(probe.shape[1], probe.shape[0], width_m)
        tex0 = probe
        params["screen"] = asdict(sp)
        distance = (0.22, 0.45) if portrait else (0.25, 0.45)
    motion = random_motion(rng, distance)
    params["motion"] = asdict(motion)
    params["sheet"] = asdict(sheet)
    poses = trajectory(motion, n, fps)
    shrink = optics_shrink(cam, poses, sheet)
    params["texture_shrink"] = shrink
    alpha = np.ones(tex0.shape[:2], np.float32)
    if kind == "print_cutout":
        fb = src.boxes[0]
        if fb is None:
            raise ValueError(f"{src.path}: a cut-out needs the face box")
        alpha = cutout_alpha(tex0.shape[:2], box_in_texture(fb, scale, x0, y0), rng)
    glare_start, glare_gain = rng.uniform(-0.4, 0.4, 2), rng.uniform(1.5, 3.0, 2) * rng.choice([-1, 1], 2)
    glare_sigma = float(rng.uniform(0.08, 0.2)) * max(tex0.shape[:2])
    refl_dir = float(rng.uniform(0, 2 * np.pi))
    noise_rng = np.random.default_rng(seed + 1_000_003)
    src_step = 1 if src.fps == 0 else max(1, int(round(src.fps / fps)))
    src_start = 0 if len(src.frames) == 1 else int(rng.integers(0, max(1, len(src.frames) - n * src_step)))
    out: list[Pixels] = []
    hs: list[list[float]] = []
    corners: list[list[float]] = []
    boxes: list[list[float] | None] = []
    th_, tw_ = tex0.shape[:2]
    cw_, chh = max(2, tw_ // COARSE), max(2, th_ // COARSE)  # the grid of the smooth fields (glare, reflection, flicker)
    yy, xx = np.mgrid[0:chh, 0:cw_].astype(np.float32)
    xx, yy = (xx + 0.5) * tw_ / cw_ - 0.5, (yy + 0.5) * th_ / chh - 0.5
    for i, pose in enumerate(poses):
        si = min(len(src.frames) - 1, src_start + i * src_step) if len(src.frames) > 1 else 0
        tex = screen_material(src.frames[si], sp) if sp is not None and len(src.frames) > 1 else tex0
        gain: NDArray[np.float32] | None = None
        add: NDArray[np.float32] | None = None
        if not clean:
            gc = (tw_ * (0.5 + glare_start[0] + glare_gain[0] * (pose.ry - motion.base.ry)),
                  th_ * (0.5 + glare_start[1] + glare_gain[1] * (pose.rx - motion.base.rx)))
            if pp is not None:  # specular glare: the paper reflects the light source, more where it is glossy
                g = (pp.gloss * np.exp(-((xx - gc[0]) ** 2 + (yy - gc[1]) ** 2) / (2 * glare_sigma**2))).astype(np.float32)
                gain, add = 1 - g, 255 * g
            elif sp is not None:  # a reflection gradient on the glass that shifts as the screen turns; flicker and rolling bands
                ramp = np.cos(refl_dir) * xx / tw_ + np.sin(refl_dir) * yy / th_
                ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
                shift = 0.5 * math.sin(8 * (pose.ry - motion.base.ry))
                add = (0.6 * 255 * sp.reflection * np.clip(ramp + shift, 0, 1)).astype(np.float32)
                phase = 2 * np.pi * sp.flicker_hz * i / fps
                gain = (1 + sp.flicker * math.sin(phase) * np.sin(2 * np.pi * 3 * yy / th_ + phase)).astype(np.float32)
        if shrink > 1:
            tex = cv2.resize(tex, (max(1, round(tw_ / shrink)), max(1, round(th_ / shrink))), interpolation=cv2.INTER_AREA)
        frame = compose(background, tex, alpha, cam, pose, sheet, gain, add)
        if not clean:
            frame = camera_model(frame, camp, noise_rng)
        out.append(frame)
        hs.append([round(float(v), 9) for v in homography(cam, pose, sheet).ravel()])
        c = project(cam, pose, sheet, np.array([[0, 0], [tw_ - 1, 0], [tw_ - 1, th_ - 1], [0, th_ - 1]], np.float64))
        corners.append([round(float(v), 2) for v in c.ravel()])
        fb = src.boxes[si]
        boxes.append(None if fb is None else projected_box(cam, pose, sheet, box_in_texture(fb, scale, x0, y0)))
    item = Item(
        name="", kind=kind, synthetic=True, source=src.path, identity=src.identity, seed=seed, frames=n, fps=fps, width=w, height=h,
        media="", texture_wh=(tw_, th_), params=params, homographies=hs, corners=corners, face_boxes=boxes,
    )
    if not is_print and len(src.frames) > 1:
        item.params["source_frames"] = {"start": src_start, "step": src_step}
    return Render(item, out)


# ------------------------------------------------------------------------------------------------ I/O


def write_video(path: Path, frames: Sequence[Pixels], fps: float) -> None:
    """MPEG-4 Part 2 (``mp4v``) in an .mp4, which OpenCV's VideoCapture reads back frame for frame."""
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not vw.isOpened():
        raise RuntimeError(f"cannot write {path}: OpenCV has no mp4v encoder here (opencv-python-headless ships one)")
    try:
        for f in frames:
            vw.write(f)
    finally:
        vw.release()


def read_video(path: Path) -> list[Pixels]:
    cap = cv2.VideoCapture(str(path))
    frames: list[Pixels] = []
    try:
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
    finally:
        cap.release()
    return frames


# -------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Photo:
    path: Path
    identity: str
    label: str  # path as written in the index (relative to the shared folder)


def photos(sources: str) -> list[Photo]:
    """Single-person labelled photos: ``faces`` (role id) and, for ``faces-more``, also ORL, Yale and CelebA."""
    out: list[Photo] = []
    sets = ["faces"] + (["faces-more"] if sources == "faces-more" else [])
    for name in sets:
        root = SHARED / name
        with open(root / "labels.csv") as f:
            for r in csv.DictReader(f):
                if name == "faces" and r["role"] != "id":
                    continue
                out.append(Photo(root / r["file"], r["identity"], f"{name}/{r['file']}"))
    return out


Detect = Callable[[Pixels], list[Box]]


def make_detector() -> Detect:
    """The device's YuNet (edge.api.Recognizer, no tiling): boxes of every face found."""
    from edge.api import Recognizer

    det = Recognizer(tiles=1, min_face_quality=0).detector

    def run(img: Pixels) -> list[Box]:
        return [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in det.detect(img)]

    return run


def largest(boxes: list[Box]) -> Box | None:
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if boxes else None


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def photo_source(p: Photo, detect: Detect) -> Source | None:
    img = load_image(p.path)
    if max(img.shape[:2]) < 400:  # ORL / Yale: detect on an upscaled copy, the print uses the same copy
        img, _ = fit_texture(img, 480)
    box = labelled_face(detect(img), img.shape[1], img.shape[0])
    return None if box is None else Source(p.label, p.identity, [img], [box])


def labelled_face(boxes: list[Box], width: int, height: int) -> Box | None:
    """The labelled person's face in a single-person photo: of the faces at least half as large as the
    largest, the one nearest the centre (LFW-style crops show a bigger part of a bystander at the edge)."""
    big = largest(boxes)
    if big is None:
        return None
    area = (big[2] - big[0]) * (big[3] - big[1])
    near = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= area / 2]
    return min(near, key=lambda b: ((b[0] + b[2] - width) / 2) ** 2 + ((b[1] + b[3] - height) / 2) ** 2)


def clip_frames() -> tuple[list[Pixels], float]:
    cap = cv2.VideoCapture(str(CLIP))
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 29.97
    cap.release()
    frames = read_video(CLIP)
    if not frames:
        raise FileNotFoundError(f"cannot read {CLIP} (the shared clip, see ../shared/video/README.md)")
    return frames, fps


def identity_frames(frames: Sequence[Pixels], photo: Path, min_cosine: float = 0.4) -> list[bool]:
    """Frames whose largest face is the person of ``photo`` (device embedder, cosine >= ``min_cosine``).
    In the clip Lin-Manuel Miranda scores 0.51-0.69 against his labelled photo, the other faces <= 0.37."""
    from edge.api import Recognizer

    rec = Recognizer(tiles=1)
    ref = rec.largest_embedding(photo)
    if ref is None:
        raise ValueError(f"no face found in {photo}")
    out = []
    for f in frames:
        e = rec.largest_embedding(f)
        out.append(e is not None and float(np.dot(e.vector, ref.vector)) >= min_cosine)
    return out


def longest_run(flags: Sequence[bool]) -> tuple[int, int]:
    """[start, stop) of the longest run of True."""
    best, start = (0, 0), None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def clip_sources(frames: list[Pixels], fps: float, detect: Detect, known: Sequence[bool]) -> tuple[Source, Source, list[Box | None]]:
    """The clip's longest stretch of frames ``known`` to show Lin-Manuel Miranda's face, as whole frames
    (a landscape tablet) and as a portrait crop following his face (a phone); box positions smoothed
    over 9 frames. Also returns the detector's largest face in every frame of the clip."""
    every = [largest(detect(f)) for f in frames]
    start, stop = longest_run(known)
    frames, raw = frames[start:stop], every[start:stop]
    centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[3] - b[1]] if b else [np.nan] * 3 for b in raw])
    good = ~np.isnan(centres[:, 0])
    idx = np.arange(len(frames))
    filled = np.stack([np.interp(idx, idx[good], centres[good, k]) for k in range(3)], 1)
    k = np.ones(9) / 9
    smooth = np.stack([np.convolve(np.pad(filled[:, j], 4, mode="edge"), k, mode="valid") for j in range(3)], 1)
    crops: list[Pixels] = []
    cboxes: list[Box | None] = []
    H, W = frames[0].shape[:2]
    for f, b, (cx, cy, fh) in zip(frames, raw, smooth, strict=True):
        ch_ = int(min(H, max(160, 3.2 * fh)))
        cw = int(ch_ * 9 / 16)
        x0 = int(np.clip(cx - cw / 2, 0, W - cw))
        y0 = int(np.clip(cy - ch_ * 0.45, 0, H - ch_))
        crop = cv2.resize(f[y0 : y0 + ch_, x0 : x0 + cw], (270, 480), interpolation=cv2.INTER_AREA)
        s = 270 / cw
        crops.append(crop)
        cboxes.append(None if b is None else (s * (b[0] - x0), s * (b[1] - y0), s * (b[2] - x0), s * (b[3] - y0)))
    rel = f"{CLIP.relative_to(SHARED)}#frames={start}-{stop - 1}"
    return Source(rel, CLIP_IDENTITY, frames, raw, fps), Source(rel + ",face-crop", CLIP_IDENTITY, crops, cboxes, fps), every


def background(frames: list[Pixels], rng: np.random.Generator, detect: Detect | None) -> tuple[Pixels, str]:
    """A defocused crop of a clip frame (the scene behind a held sheet, out of focus), one where the
    detector finds no face (so a face found in the attack is the attack's)."""
    for _ in range(20):
        i = int(rng.integers(len(frames)))
        f = frames[i]
        H, W = f.shape[:2]
        s = float(rng.uniform(0.5, 1.0))
        cw, ch_ = int(W * s), int(H * s)
        x0, y0 = int(rng.integers(0, W - cw + 1)), int(rng.integers(0, H - ch_ + 1))
        sigma = float(rng.uniform(4, 9))
        bg = cv2.GaussianBlur(f[y0 : y0 + ch_, x0 : x0 + cw], (0, 0), sigma)
        if detect is None or not detect(bg):
            return bg, f"{CLIP.relative_to(SHARED)}#frame={i},crop={x0},{y0},{cw},{ch_},blur={sigma:.1f}"
    return np.full((360, 640, 3), 110, np.uint8), "uniform grey"


def detected_frames(frames: Sequence[Pixels], boxes: Sequence[Sequence[float] | None], detect: Detect, min_iou: float = 0.3) -> int:
    """Frames where the detector finds a face overlapping the recorded face box (IoU >= ``min_iou``)."""
    n = 0
    for f, b in zip(frames, boxes, strict=True):
        if b is not None and any(iou(d, b) >= min_iou for d in detect(f)):
            n += 1
    return n


def references(frames: list[Pixels], fps: float, raw: list[Box | None]) -> list[Item]:
    """The real material: the clip (live) and the upstream MiniFASNet samples (F1/F2 real recaptures, T1 live)."""
    items = [Item(
        name="REAL_live_hamilton_clip", kind="live", synthetic=False, source=str(CLIP.relative_to(SHARED)), identity=CLIP_IDENTITY + "+others", seed=0,
        frames=len(frames), fps=fps, width=frames[0].shape[1], height=frames[0].shape[0], media=str(CLIP),
        face_boxes=[None if b is None else [round(float(v), 2) for v in b] for b in raw],
        detected_frames=sum(b is not None for b in raw), note="real video: Lin-Manuel Miranda in most frames, Alex Lacamoire and the audience in others; face boxes are the device detector's largest face",
    )]
    for name, kind, note in (("F1", "recapture", "real attack (recaptured photo/screen), still"), ("F2", "recapture", "real attack (recaptured photo/screen), still"),
                             ("T1", "live", "real live face, still")):
        p = UPSTREAM_SAMPLES / f"image_{name}.jpg"
        if p.exists():
            im = load_image(p)
            items.append(Item(name=f"REAL_minifasnet_{name}", kind=kind, synthetic=False, source=str(p.relative_to(SHARED)), identity="unknown",
                              seed=0, frames=1, fps=0.0, width=im.shape[1], height=im.shape[0], media=str(p), note=note + "; Apache-2.0 upstream sample"))
    return items


CSV_COLUMNS = ("name", "kind", "synthetic", "source", "identity", "seed", "frames", "fps", "width", "height", "media", "detected_frames", "note")


def plan(kinds: Sequence[str], per_kind: int, pool: list[Photo], seed: int) -> Iterator[tuple[str, int, Photo | None]]:
    """(kind, item seed, photo) for every item: photos drawn identity by identity, round robin."""
    rng = np.random.default_rng(seed)
    by_id: dict[str, list[Photo]] = {}
    for p in pool:
        by_id.setdefault(p.identity, []).append(p)
    ids = sorted(by_id)
    for k, kind in enumerate(kinds):
        order = list(rng.permutation(ids))
        for j in range(per_kind):
            item_seed = seed * 100_003 + k * 10_007 + j
            if kind == "screen":
                yield kind, item_seed, None
            else:
                ident = order[j % len(order)]
                group = by_id[ident]
                yield kind, item_seed, group[int(rng.integers(len(group)))]


def generate(out: Path, sources: str, per_kind: int, seed: int, kinds: Sequence[str] = KINDS, min_detected: float = 0.5) -> list[Item]:
    """Render the data set into ``out``; items the detector finds in fewer than ``min_detected`` of
    their frames are deleted and listed in ``dropped.jsonl``. Returns the kept items."""
    out.mkdir(parents=True, exist_ok=True)
    detect = make_detector()
    frames, fps = clip_frames()
    lmm = next((p for p in photos("faces") if p.identity == CLIP_IDENTITY), None)
    if lmm is None:
        raise FileNotFoundError(f"no labelled photo of {CLIP_IDENTITY} in {SHARED / 'faces'}")
    whole, crop, raw = clip_sources(frames, fps, detect, identity_frames(frames, lmm.path))
    log.info("screen replays use clip frames %s", whole.path.split("#")[1])
    pool = photos(sources)
    cache: dict[str, Source | None] = {}
    kept: list[Item] = references(frames, fps, raw)
    for it in kept:
        it.media = os.path.relpath(it.media, out)
    dropped: list[Item] = []
    todo = list(plan(kinds, per_kind, pool, seed))
    for n, (kind, item_seed, photo) in enumerate(todo, 1):
        rng = np.random.default_rng(item_seed + 7)
        if photo is None:
            src = crop if rng.random() < 0.6 else whole
        else:
            if photo.label not in cache:
                cache[photo.label] = photo_source(photo, detect)
            got = cache[photo.label]
            if got is None:
                log.warning("%s: no face found in the photo; skipped", photo.label)
                continue
            src = got
        bg, bg_note = background(frames, rng, detect)
        r = render(kind, src, bg, item_seed)
        it = r.item
        it.name = f"SYNTHETIC_{kind}_{n:04d}_{it.identity}_s{item_seed}"
        it.params["background"] = bg_note
        it.detected_frames = detected_frames(r.frames, it.face_boxes, detect)
        media = out / f"{it.name}.mp4"
        it.media = media.name
        frac = it.detected_frames / it.frames
        if frac >= min_detected:
            write_video(media, r.frames, it.fps)
            kept.append(it)
        else:
            it.note = f"dropped: face detected in {it.detected_frames}/{it.frames} frames"
            dropped.append(it)
        log.info("%d/%d %s: %d frames, face detected in %d (%.0f%%)%s", n, len(todo), it.name, it.frames, it.detected_frames, 100 * frac,
                 "" if frac >= min_detected else " -> dropped")
    for fname, items in (("index.jsonl", kept), ("dropped.jsonl", dropped)):
        with open(out / fname, "w") as f:
            for it in items:
                f.write(json.dumps(asdict(it)) + "\n")
    with open(out / "index.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        wr.writeheader()
        for it in kept:
            wr.writerow(asdict(it))
    (out / "README.txt").write_text(
        "SYNTHETIC presentation attacks rendered by tools/attacks.py (edgeface). Files named SYNTHETIC_* are synthetic;\n"
        "REAL_* rows in the index point at the real references (the Hamilton clip, the MiniFASNet samples).\n"
        + ("Includes CelebA-derived renders: research evaluation only; never commit these files.\n" if sources == "faces-more" else "")
    )
    return kept


def summary(out: Path) -> str:
    kept, dropped = ([json.loads(line) for line in (out / f).read_text().splitlines()] for f in ("index.jsonl", "dropped.jsonl"))
    lines = []
    for kind in (*KINDS, "live", "recapture"):
        k = [i for i in kept if i["kind"] == kind]
        d = [i for i in dropped if i["kind"] == kind]
        if k or d:
            ids = len({i["identity"] for i in k})
            lines.append(f"{kind:13s} kept {len(k):3d} ({ids} identities), dropped (face in < 50% of frames) {len(d):3d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "attacks")
    ap.add_argument("--sources", choices=("faces", "faces-more"), default="faces",
                    help="faces: ../shared/faces (may be used in tests); faces-more: adds ORL, Yale and CelebA (evaluation only)")
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    generate(args.out, args.sources, args.per_kind, args.seed, args.kinds)
    print(summary(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

