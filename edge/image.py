"""Decoding user images into the one layout every stage expects: uint8 BGR, HxWx3.

Accepts a path (str or Path), raw bytes of an encoded image, or a numpy array in
OpenCV's BGR order (also BGRA, grayscale and 16-bit). JPEG EXIF orientation is
applied when decoding files and bytes (OpenCV's default).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.domain import Pixels
from edge.errors import ImageError

#: File name endings treated as images (gallery folders, image-folder camera sources).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | NDArray


def _to_bgr8(arr: NDArray, what: str) -> Pixels:
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype in (np.float32, np.float64):
        if arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ImageError(f"{what}: expected a uint8, uint16 or float image array, found dtype {arr.dtype}")
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2BGR)
    if arr.ndim == 3 and arr.shape[2] == 4:
        # Composite on white, as an image viewer shows a transparent PNG.
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32)
        return np.ascontiguousarray((rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8))
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    raise ImageError(f"{what}: expected an image array of shape HxW, HxWx3 or HxWx4, found shape {arr.shape}")


def load_image(img: ImageInput) -> Pixels:
    """Return ``img`` as a contiguous uint8 BGR array of shape (H, W, 3).

    Raises :class:`ImageError` naming the input when it cannot be read or decoded.
    """
    if isinstance(img, np.ndarray):
        if img.size == 0:
            raise ImageError(f"image array is empty (shape {img.shape}); pass a decoded image")
        return _to_bgr8(img, "image array")
    if isinstance(img, (bytes, bytearray, memoryview)):
        data = np.frombuffer(bytes(img), dtype=np.uint8)
        what = f"{len(data)} bytes of image data"
    elif isinstance(img, (str, os.PathLike)):
        path = Path(img)
        what = str(path)
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file; expected a JPEG, PNG, WEBP or BMP image") from None
        except OSError as e:
            raise ImageError(f"{path}: cannot read ({e.strerror}); check the path and permissions") from e
    else:
        raise ImageError(
            f"expected a file path, encoded image bytes or a numpy BGR array, found {type(img).__name__}"
        )
    if data.size == 0:
        raise ImageError(f"{what}: empty; expected an encoded image")
    if data[:3].tobytes() == b"\xff\xd8\xff":  # JPEG: 8-bit, no alpha; one decode applies EXIF orientation
        jpg = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if jpg is None:
            raise ImageError(f"{what}: not a decodable image (expected JPEG, PNG, WEBP, BMP or TIFF); is the file complete?")
        return jpg
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if arr is None:
        raise ImageError(f"{what}: not a decodable image (expected JPEG, PNG, WEBP, BMP or TIFF); is the file complete?")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        # IMREAD_UNCHANGED skips EXIF orientation; decode again the usual way for colour images.
        oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if oriented is not None and arr.shape[2] == 3:
            return oriented
        if oriented is not None and oriented.shape[:2] != arr.shape[:2]:
            return oriented
    return _to_bgr8(arr, what)
