"""What a photo must show to become a template: one face, large, sharp, frontal, whole, and a face.

A bad template lowers every later decision about that person (and raises the chance that a
stranger matches them), so enrolment is stricter than recognition. Each check names what it
found and what to do. :func:`duplicate_of` refuses a face that already matches someone else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.domain import Detection, Embedding, Pixels
from edge.match import Gallery
from edge.quality import roll_degrees, sharpness, yaw_ratio


@dataclass(frozen=True)
class EnrolmentGates:
    """Defaults measured on the 2,016 clean labelled photos of the calibration (see README)."""

    min_face_px: float = 64.0  # smaller side of the face box, in photo pixels
    max_yaw_ratio: float = 0.6  # 0 frontal ... 1 profile (edge.quality.yaw_ratio); the door gate's value
    max_roll_deg: float = 20.0  # head tilt: the eye line's angle (YuNet's landmarks show about half of a strong tilt: 44 degrees reads 22)
    min_sharpness: float = 40.0  # variance of the Laplacian of the aligned crop (photos: median 604, 1st percentile 64)
    min_norm: float = 8.0  # the embedder's output length: low for crops that are not (good) faces
    edge_margin: float = 0.01  # a box this close to the photo's edge (fraction of its size) is a face cut off


def problem(detection: Detection, crop: Pixels, embedding: Embedding, image_shape: tuple[int, ...], gates: EnrolmentGates) -> str | None:
    """Why this face cannot be enrolled (a sentence with the fix), or None when it can."""
    b = detection.box
    size = min(b.width, b.height)
    if size < gates.min_face_px:
        return f"the face is {size:.0f} px across; enrol a photo where it is at least {gates.min_face_px:.0f} px (closer, or a larger photo)"
    h, w = image_shape[:2]
    mx, my = gates.edge_margin * w, gates.edge_margin * h
    if b.x1 <= mx or b.y1 <= my or b.x2 >= w - mx or b.y2 >= h - my:
        return "the face touches the edge of the photo (part of it may be cut off); use a photo with the whole face and some margin"
    if embedding.norm < gates.min_norm:
        return (f"this does not look enough like a face to the embedder (quality {embedding.norm:.1f}, needs {gates.min_norm:.1f}): "
                "it may be an animal, a drawing, upside down, or too dark or blurred; use a clear, upright photo of the face")
    roll = abs(roll_degrees(detection.landmarks))
    if roll > gates.max_roll_deg:
        return f"the head is tilted {roll:.0f} degrees; use a photo with the head upright (at most {gates.max_roll_deg:.0f})"
    yaw = yaw_ratio(detection.landmarks)
    if yaw > gates.max_yaw_ratio:
        return f"the head is turned away (turn {yaw:.2f}, at most {gates.max_yaw_ratio:.2f}); use a photo facing the camera"
    sharp = sharpness(crop)
    if sharp < gates.min_sharpness:
        return f"the face is blurred (sharpness {sharp:.0f}, needs {gates.min_sharpness:.0f}); use a sharper photo"
    return None


def duplicate_of(embeddings: list[NDArray[np.float32]], gallery: Gallery, name: str, threshold: float) -> tuple[str, float] | None:
    """The enrolled person other than ``name`` whom these embeddings match at or above ``threshold``
    (the door's), with the similarity; None when nobody else matches."""
    others = [i for i, ident in enumerate(gallery.identities) if ident != name.strip()]
    if not others or not embeddings:
        return None
    sims = np.stack(embeddings) @ gallery.embeddings[others].T
    j = int(np.argmax(sims.max(axis=0)))
    best = float(sims.max())
    return (gallery.identities[others[j]], best) if best >= threshold else None
