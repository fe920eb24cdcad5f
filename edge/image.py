"""Decoding user images into the one layout every stage expects: uint8 BGR, HxWx3.

Accepts a path (str or Path), raw bytes of an encoded image, or a numpy array in
OpenCV's BGR order (also BGRA, grayscale and 16-bit). JPEG EXIF orientation is
applied when decoding files and bytes (OpenCV's default).

An image of more than ``max_pixels`` (default :data:`MAX_PIXELS`, 40 MP) is refused, for PNG,
JPEG, WEBP, BMP and TIFF from the size in its header, before it is decoded: a 12000x12000 PNG
would take 1.3 GB to decode, more than a Pi Zero 2 W has.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.domain import Pixels
from edge.errors import ImageError

#: File name endings treated as images (gallery folders, image-folder camera sources).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | NDArray

#: The most pixels (width x height) an image may have unless told otherwise (``max_pixels``).
MAX_PIXELS = 40_000_000
_HEAD_BYTES = 1 << 18  # where the size is, in all but unusual files (a JPEG's frame header after 256 KB of metadata)


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of an encoded PNG, JPEG, WEBP, BMP or TIFF image,
    without decoding it; None for another format or when the size is not within ``head``."""
    try:
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack_from(">II", head, 16)
        if head[:3] == b"\xff\xd8\xff":
            return _jpeg_size(head)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp_size(head)
        if head[:2] == b"BM":
            w, h = struct.unpack_from("<hh" if struct.unpack_from("<I", head, 14)[0] == 12 else "<ii", head, 18)
            return abs(w), abs(h)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(head)
    except (struct.error, IndexError):
        return None
    return None


def _jpeg_size(b: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
        elif marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came first
            return None
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame: precision, height, width
            h, w = struct.unpack_from(">HH", b, i + 5)
            return w, h
        else:
            i += 2 + struct.unpack_from(">H", b, i + 2)[0]
    return None


def _webp_size(b: bytes) -> tuple[int, int] | None:
    chunk = b[12:16]
    if chunk == b"VP8 " and b[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", b, 26)
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and b[20] == 0x2F:
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(b[24:27], "little") + 1, int.from_bytes(b[27:30], "little") + 1
    return None


def _tiff_size(b: bytes) -> tuple[int, int] | None:
    e = "<" if b[:2] == b"II" else ">"
    ifd = struct.unpack_from(e + "I", b, 4)[0]
    size: dict[int, int] = {}
    for k in range(struct.unpack_from(e + "H", b, ifd)[0]):
        tag, kind = struct.unpack_from(e + "HH", b, ifd + 2 + 12 * k)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            size[tag] = struct.unpack_from(e + ("H" if kind == 3 else "I"), b, ifd + 2 + 12 * k + 8)[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _check_pixels(size: tuple[int, int] | None, max_pixels: int | None, what: str) -> None:
    if size is None or max_pixels is None or size[0] * size[1] <= max_pixels:
        return
    w, h = size
    raise ImageError(f"{what}: {w}x{h} pixels ({w * h / 1e6:.1f} MP) is more than the limit of {max_pixels / 1e6:g} MP; "
                     "downscale it (a face needs a few megapixels at most), or raise the limit: "
                     "edgeface --max-pixels N, Recognizer(max_pixels=N) or load_image(..., max_pixels=N)")


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
        # rgb * a + 255 * (1 - a) = 255 - (255 - rgb) * a, in OpenCV's rounded uint8 arithmetic.
        alpha = cv2.merge([arr[:, :, 3]] * 3)
        return np.ascontiguousarray(255 - cv2.multiply(255 - arr[:, :, :3], alpha, scale=1 / 255))
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    raise ImageError(f"{what}: expected an image array of shape HxW, HxWx3 or HxWx4, found shape {arr.shape}")


def _undecodable(what: str) -> ImageError:
    return ImageError(f"{what}: not a decodable image (expected JPEG, PNG, WEBP, BMP or TIFF); is the file complete?")


def _may_have_exif(raw: bytes) -> bool:
    """Whether a non-JPEG file may carry an EXIF orientation: a PNG with an ``eXIf`` chunk, a WEBP
    with an ``EXIF`` chunk, any TIFF or other format (a PNG or WEBP without one needs one decode only)."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return b"eXIf" in raw
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return b"EXIF" in raw
    return True


#: JPEG DCT scaling factors OpenCV's decoder offers (``IMREAD_REDUCED_COLOR_2/4/8``).
_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


@dataclass(frozen=True)
class View:
    """An image as the detector first sees it: ``pixels`` (uint8 BGR), decoded ``factor`` times
    smaller than the image (1, 2, 4 or 8: libjpeg's DCT scaling, far cheaper than a full decode and
    a resize). A point ``p`` of ``pixels`` is ``p * factor`` in the image. :meth:`full` decodes the
    image at full resolution, once, for what needs it (tiles for small faces, small faces' crops)."""

    pixels: Pixels
    factor: int = 1
    encoded: bytes | None = field(default=None, repr=False)  # the JPEG, when ``factor`` > 1
    _full: list[Pixels] = field(default_factory=list, repr=False, compare=False)

    def full(self) -> Pixels:
        """The image at full resolution (``pixels`` itself when ``factor`` is 1)."""
        if self.factor == 1 or self.encoded is None:
            return self.pixels
        if not self._full:
            full = cv2.imdecode(np.frombuffer(self.encoded, np.uint8), cv2.IMREAD_COLOR)
            if full is None:
                raise ImageError("the JPEG decoded at reduced size but not at full size; is the file complete?")
            self._full.append(full)
        return self._full[0]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the full image (of ``pixels`` times ``factor`` before it is decoded)."""
        if self._full:
            h, w = self._full[0].shape[:2]
            return w, h
        h, w = self.pixels.shape[:2]
        return w * self.factor, h * self.factor


def _reduction(size: tuple[int, int], fit: tuple[int, int]) -> int:
    """The largest DCT factor at which an image of ``size`` (w, h, either orientation: EXIF may turn
    it) still has at least the pixels a view of it letterboxed into ``fit`` (w, h) keeps."""
    w, h = size
    fw, fh = fit
    scale = max(min(fw / w, fh / h), min(fw / h, fh / w))  # the larger of the two orientations' scales
    for f in (8, 4, 2):
        if f * scale <= 1.0:
            return f
    return 1


def load_view(img: ImageInput, fit: Callable[[], tuple[int, int]], max_pixels: int | None = MAX_PIXELS) -> View:
    """``img`` as a :class:`View` for a detector whose canvas is ``fit()`` (w, h; asked only for a
    JPEG, after the pixel limit is checked, so a model loads only for an image it will see): a JPEG file or bytes
    larger than the canvas is decoded at 1/2, 1/4 or 1/8 size where the canvas would shrink it that
    much anyway; anything else is :func:`load_image`'s array with factor 1. Same errors as
    :func:`load_image`; the pixel limit applies to the full image."""
    if isinstance(img, np.ndarray):
        return View(load_image(img, max_pixels))
    raw, what = _read(img, max_pixels)
    size = image_size(raw[:_HEAD_BYTES]) if raw[:3] == b"\xff\xd8\xff" else None
    factor = _reduction(size, fit()) if size else 1
    if size is None or factor == 1:
        return View(_decode(raw, what, max_pixels))
    small = cv2.imdecode(np.frombuffer(raw, np.uint8), _REDUCED[factor])
    if small is None:
        raise _undecodable(what)
    return View(small, factor, raw)


def load_image(img: ImageInput, max_pixels: int | None = MAX_PIXELS) -> Pixels:
    """Return ``img`` as a contiguous uint8 BGR array of shape (H, W, 3).

    Raises :class:`ImageError` naming the input when it cannot be read or decoded, or when it has
    more than ``max_pixels`` pixels (None: no limit), checked before decoding where the format allows.
    """
    if isinstance(img, np.ndarray):
        if img.size == 0:
            raise ImageError(f"image array is empty (shape {img.shape}); pass a decoded image")
        if img.ndim >= 2:
            _check_pixels((img.shape[1], img.shape[0]), max_pixels, "image array")
        return _to_bgr8(img, "image array")
    raw, what = _read(img, max_pixels)
    return _decode(raw, what, max_pixels)


def _read(img: ImageInput, max_pixels: int | None) -> tuple[bytes, str]:
    """The encoded bytes of a path or bytes input and how to name it, the pixel limit checked
    from the header where the format allows."""
    if isinstance(img, (bytes, bytearray, memoryview)):
        raw = bytes(img)
        what = f"{len(raw)} bytes of image data"
        _check_pixels(image_size(raw), max_pixels, what)
    elif isinstance(img, (str, os.PathLike)):
        path = Path(img)
        what = str(path)
        try:
            with open(path, "rb") as f:
                head = f.read(_HEAD_BYTES)
                _check_pixels(image_size(head), max_pixels, what)  # before the rest is read
                raw = head + f.read()
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file; expected a JPEG, PNG, WEBP or BMP image") from None
        except IsADirectoryError:
            raise ImageError(f"{path} is a folder; expected a JPEG, PNG, WEBP or BMP image file") from None
        except OSError as e:
            raise ImageError(f"{path}: cannot read ({e.strerror}); check the path and permissions") from e
        if len(raw) > len(head):
            _check_pixels(image_size(raw), max_pixels, what)  # e.g. a TIFF's directory at the end of the file
    else:
        raise ImageError(
            f"expected a file path, encoded image bytes or a numpy BGR array, found {type(img).__name__}"
        )
    return raw, what


def _decode(raw: bytes, what: str, max_pixels: int | None) -> Pixels:
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{what}: empty; expected an encoded image")
    if data[:3].tobytes() == b"\xff\xd8\xff":  # JPEG: 8-bit, no alpha; one decode applies EXIF orientation
        jpg = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if jpg is None:
            raise _undecodable(what)
        _check_pixels((jpg.shape[1], jpg.shape[0]), max_pixels, what)
        return jpg
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if arr is None:
        raise _undecodable(what)
    _check_pixels((arr.shape[1], arr.shape[0]), max_pixels, what)  # a format whose header was not read
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and _may_have_exif(raw):
        # IMREAD_UNCHANGED skips EXIF orientation; decode again the usual way for colour images.
        oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if oriented is not None and arr.shape[2] == 3:
            return oriented
        if oriented is not None and oriented.shape[:2] != arr.shape[:2]:
            return oriented
    return _to_bgr8(arr, what)


def encode_jpeg(img: Pixels, quality: int = 85) -> bytes | None:
    """``img`` (BGR) as JPEG bytes, or None when OpenCV cannot encode it."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None
