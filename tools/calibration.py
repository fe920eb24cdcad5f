"""Calibration and fidelity inputs, made with the device's own preprocessing.

Detector inputs are letterboxed frames (``edge.detect.letterbox``); every other
model gets faces found by the freshly built int8 detector and aligned with
``edge.align`` to that model's template (the face mesh: cropped with
``edge.mesh.crop_for``), exactly as the device will do. Each
image also yields degraded copies (dark, blur, noise, low resolution...) so
ranges cover what a door camera sees at night or in motion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.align import align_for
from edge.degrade import gamma, jpeg, lowres, motion_blur, noise
from edge.detect import Detector, letterbox
from edge.domain import Detection, Pixels
from edge.errors import ConversionError
from edge.image import load_image
from edge.mesh import crop_for
from tools import dataset
from tools.progress import progress

Img = Pixels


def _crop(img: Img, r: np.random.Generator) -> Img:
    """A random crop of 55-95% of each side (the framing a camera gives varies)."""
    h, w = img.shape[:2]
    fh, fw = r.uniform(0.55, 0.95, 2)
    ch, cw = max(8, int(h * fh)), max(8, int(w * fw))
    y, x = int(r.integers(0, h - ch + 1)), int(r.integers(0, w - cw + 1))
    return np.ascontiguousarray(img[y : y + ch, x : x + cw])


def _rotate(img: Img, r: np.random.Generator) -> Img:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(r.uniform(-12, 12)), 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


#: Photometric degradations, "clean" first: the default calibration set; fidelity uses the DEGRADED subset.
_PHOTOMETRIC: dict[str, Callable[[Img, np.random.Generator], Img]] = {
    "clean": lambda im, r: im,
    "flip": lambda im, r: np.ascontiguousarray(im[:, ::-1]),
    "dark": lambda im, r: noise(gamma(im, 1.8, 0.6), 4, r),
    "bright": lambda im, r: gamma(im, 0.6),
    "blur": lambda im, r: cv2.GaussianBlur(im, (5, 5), 1.5),
    "motion": lambda im, r: motion_blur(im),
    "noise": lambda im, r: noise(im, 10, r),
    "jpeg": lambda im, r: jpeg(im, 25),
    "lowres": lambda im, r: lowres(im, 0.35),
    "contrast": lambda im, r: cv2.convertScaleAbs(im, alpha=0.5, beta=64),
}
#: The photometric degradations only (the default calibration set of every model).
PHOTOMETRIC = tuple(_PHOTOMETRIC)
AUGMENT: dict[str, Callable[[Img, np.random.Generator], Img]] = {
    **_PHOTOMETRIC,
    # geometric variants: new framings of clean photos, no photometric extremes
    "crop_a": _crop,
    "crop_b": _crop,
    "crop_c": _crop,
    "rotate_a": _rotate,
    "rotate_b": _rotate,
}
DEGRADED = ("clean", "dark", "motion", "lowres")


def images(split: str, variants: tuple[str, ...], folder: Path | None = None, seed: int = 0, extra: tuple[Path, ...] = ()) -> Iterator[tuple[str, Img]]:
    """(name, BGR image) for every image of the split (or of a user's ``folder``), then of ``extra`` files, and variant."""
    rng = np.random.default_rng(seed)
    if folder is not None:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"})
        if not files:
            raise ConversionError(f"{folder}: expected face photos (.jpg, .png, .webp, .bmp), found none")
        sources = [(p.name, load_image(p)) for p in files]
    else:
        sources = [(it.file, dataset.load(it)) for it in dataset.items(split)]
    sources += [(p.name, load_image(p)) for p in extra]
    for name, img in progress(sources, f"images ({split})", len(sources)):
        for v in variants:
            yield f"{name}#{v}", AUGMENT[v](img, rng)


def detector_inputs(
    height: int, width: int, split: str, variants: tuple[str, ...], folder: Path | None = None, colour: str = "BGR", pad: int = 0,
    max_upscale: float | None = None,
) -> list[tuple[str, Img]]:
    """Letterboxed frames as the device detector makes them (``pad``, ``max_upscale`` from the
    manifest's preprocess); ``colour`` "RGB" gives them in the order an RGB model takes."""
    out = [(n, letterbox(img, height, width, pad, max_upscale)[0]) for n, img in images(split, variants, folder)]
    return [(n, np.ascontiguousarray(c[:, :, ::-1])) for n, c in out] if colour == "RGB" else out


def face_inputs(
    detector: Detector,
    preprocess: dict,
    split: str,
    variants: tuple[str, ...],
    folder: Path | None = None,
    crop: Callable[[Img, Detection], Img] | None = None,
    extra: tuple[Path, ...] = (),
) -> list[tuple[str, Img]]:
    """Aligned crops of every face the device detector finds (degradations applied to the
    whole image before detection, as a camera would produce them). ``crop`` replaces the
    alignment (e.g. the anti-spoofing models' scaled box); ``extra`` adds image files."""
    cut = crop or (lambda img, d: align_for(img, d.landmarks, preprocess))
    out = []
    for name, img in images(split, variants, folder, extra=extra):
        dets = detector.detect(img)
        for k, d in enumerate(dets):
            out.append((f"{name}@{k}", cut(img, d)))
    if not out:
        where = folder or f"tools/data ({split})"
        raise ConversionError(f"{where}: the detector found no faces; calibration needs face photos")
    return out


def mesh_inputs(detector: Detector, preprocess: dict, split: str, variants: tuple[str, ...], folder: Path | None = None) -> list[tuple[str, Img]]:
    """Face-mesh crops (RGB, ``edge.mesh.crop_for`` with the manifest's ``size`` and ``scale``) of
    every face the device detector finds, as :func:`face_inputs`."""
    size, scale = int(preprocess["size"]), float(preprocess["scale"])
    out = []
    for name, img in images(split, variants, folder):
        for k, d in enumerate(detector.detect(img)):
            out.append((f"{name}@{k}", crop_for(img, d, size, scale)[0]))
    if not out:
        raise ConversionError(f"{folder or f'tools/data ({split})'}: the detector found no faces; calibration needs face photos")
    return out
