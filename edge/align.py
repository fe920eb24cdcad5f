"""5-point similarity alignment: warp a face onto a model's landmark template.

Pure geometry. The template (five points in the output crop) and crop size come
from the model's manifest (``preprocess.template``, ``preprocess.size``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.domain import Pixels

#: ArcFace / SFace template for a 112x112 crop (InsightFace, OpenCV's FaceRecognizerSF).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(src: NDArray, dst: NDArray) -> NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    Umeyama (1991). Returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"expected two Nx2 point sets of equal shape (N >= 2), found {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var = (s0**2).sum() / len(src)
    scale = float((sig * d).sum() / var) if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def scaled_template(template: NDArray, size: Sequence[int], padding: float) -> NDArray[np.float32]:
    """Shrink ``template`` (points in a crop of ``size``) towards the crop centre so that
    a fraction ``padding`` of context is added on each side (dlib's chip padding)."""
    t = np.asarray(template, np.float32)
    centre = np.array([size[0] / 2.0, size[1] / 2.0], np.float32)
    return ((t - centre) / (1.0 + 2.0 * padding) + centre).astype(np.float32)


#: How the part of a crop outside the image is filled (the manifest's ``preprocess.border``).
#: ``constant`` (black) is what SFace was trained with (OpenCV's ``FaceRecognizerSF.alignCrop``,
#: InsightFace's ``norm_crop``); replicated edge pixels make the crops of different people alike
#: where a face fills the photo (grey-scale ORL photos: false-accept rate at cosine 0.31 0.021
#: with ``replicate``, 0.0084 with ``constant``, OpenCV's own pipeline 0.0075).
BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def align(image: Pixels, landmarks: NDArray, template: NDArray, size: Sequence[int], border: str = "replicate") -> Pixels:
    """Warp ``image`` so that ``landmarks`` (5x2, image pixels) land on ``template`` in a crop of ``size`` (w, h);
    ``border`` (``constant`` or ``replicate``) fills what lies outside the image."""
    m = similarity_transform(landmarks, template)
    return cv2.warpAffine(image, m, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderMode=BORDERS[border], borderValue=0)


def align_for(image: Pixels, landmarks: NDArray, preprocess: dict) -> Pixels:
    """Align using a manifest's ``preprocess`` block: ``template`` (points in the crop),
    ``size`` (w, h), ``points`` (which of the five landmarks the template has; default all),
    ``colour`` (BGR, RGB or GRAY) and ``border`` (default ``replicate``)."""
    size = [int(v) for v in preprocess["size"]]
    points = preprocess.get("points", [0, 1, 2, 3, 4])
    crop = align(image, np.asarray(landmarks)[points], np.asarray(preprocess["template"], np.float32), size,
                 str(preprocess.get("border", "replicate")))
    colour = preprocess.get("colour", "BGR")
    if colour == "RGB":
        return np.ascontiguousarray(crop[:, :, ::-1])
    if colour == "GRAY":
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None]
    return crop
