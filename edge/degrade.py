"""Image degradations a door camera produces: dark and noisy at night, motion blur, low resolution.

Used to calibrate and evaluate under door conditions (``edgeface calibrate``, ``edgeface evaluate
--conditions``) and by the toolchain's calibration sets. Pure functions of a uint8 BGR image;
the ones with noise take a ``numpy.random.Generator`` so that results are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from edge.domain import Pixels

Degradation = Callable[[Pixels, np.random.Generator], Pixels]


def motion_blur(img: Pixels, k: int = 9) -> Pixels:
    """Horizontal motion blur over ``k`` pixels."""
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    return cv2.filter2D(img, -1, kernel)


def jpeg(img: Pixels, quality: int) -> Pixels:
    """Re-encode as JPEG at ``quality`` (1-100) and decode again."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    return img if out is None else out


def lowres(img: Pixels, factor: float) -> Pixels:
    """Scale down by ``factor`` and back up: the detail of a camera ``factor`` times as coarse."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(8, int(w * factor)), max(8, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def noise(img: Pixels, sigma: float, rng: np.random.Generator) -> Pixels:
    """Gaussian sensor noise of standard deviation ``sigma`` (grey levels)."""
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def gamma(img: Pixels, g: float, gain: float = 1.0) -> Pixels:
    """Tone curve ``255 * gain * (v / 255) ** g``: g > 1 with gain < 1 darkens like an underexposed frame."""
    lut = np.clip(((np.arange(256) / 255.0) ** g) * 255.0 * gain, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def night(img: Pixels, rng: np.random.Generator) -> Pixels:
    """A door camera at night: underexposed, noisy, then compressed (JPEG quality 40)."""
    return jpeg(noise(gamma(img, 1.8, 0.6), 6, rng), 40)


#: The conditions a door unit is calibrated and evaluated under: a gallery photo is taken clean,
#: the camera sees the visitor under one of these.
DOOR_CONDITIONS: dict[str, Degradation] = {
    "clean": lambda im, r: im,
    "night": night,
    "motion": lambda im, r: motion_blur(im),
    "lowres": lambda im, r: lowres(im, 0.35),
}
