"""Immutable values passed between stages.

Coordinates are pixels in the frame the value came from. Boxes are
``(x1, y1, x2, y2)``: top-left inclusive, bottom-right exclusive, floats.
Landmarks are five ``(x, y)`` points in this order: right eye, left eye
(as seen in the image: the subject's right eye is on the image's left), nose tip,
right mouth corner, left mouth corner. This is YuNet's and the ArcFace template's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class BBox:
    """Axis-aligned box ``(x1, y1, x2, y2)`` in pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: BBox) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Detection:
    """One face found by a detector: box, five landmarks (5x2 float32) and score in [0, 1]."""

    box: BBox
    landmarks: NDArray[np.float32]
    score: float

    @property
    def inter_ocular(self) -> float:
        """Distance between the two eye landmarks, in pixels."""
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))


@dataclass(frozen=True)
class Embedding:
    """A face's embedding: ``vector`` is unit-norm float32 (1-D); ``norm`` is its length before
    normalisation, which the embedder makes small for crops that are not faces (an animal, a
    face upside down, a patch of texture): a face-ness and quality signal."""

    vector: NDArray[np.float32]
    norm: float


@dataclass(frozen=True)
class Frame:
    """One camera frame: uint8 BGR ``image``, its ``index`` from the source (0, 1, ...) and
    ``timestamp`` in seconds: media time for files and image folders (so decisions do not depend
    on how fast a file is read), ``time.monotonic()`` at capture for live cameras."""

    image: NDArray[np.uint8]
    index: int
    timestamp: float


#: Image pixels: uint8, HxWx3 BGR unless a model's manifest says otherwise (RGB or HxWx1 gray).
#: Typed loosely because OpenCV's stubs return untyped arrays.
Pixels = NDArray[Any]
