"""Face quality gates applied before any decision: size, sharpness and head turn (yaw).

Pure functions of the detection and the aligned crop. A face that fails a gate is tracked but
never counts towards a match or an unknown decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.domain import Detection, Pixels


@dataclass(frozen=True)
class QualityGates:
    min_face_px: float = 40.0  # the smaller side of the face box, in frame pixels
    min_sharpness: float = 20.0  # variance of the Laplacian of the grey aligned crop
    max_yaw_ratio: float = 0.6  # 0 = frontal, 1 = full profile (see :func:`yaw_ratio`)


@dataclass(frozen=True)
class Quality:
    face_px: float
    sharpness: float
    yaw: float
    problem: str | None  # None when every gate passes, else "small", "blurred", "turned" or "not_a_face" (set after embedding)

    @property
    def ok(self) -> bool:
        return self.problem is None


def yaw_ratio(landmarks: np.ndarray) -> float:
    """How far the head is turned, from the 5 landmarks: the nose's horizontal offset from the
    midpoint of the eyes relative to half the eye distance, clipped to [0, 1]. About 0 for a
    frontal face, near 1 when the nose reaches the outer eye (profile)."""
    eye_r, eye_l, nose = landmarks[0], landmarks[1], landmarks[2]
    axis = eye_l - eye_r
    half = float(np.linalg.norm(axis)) / 2
    if half < 1e-6:
        return 1.0
    offset = float(np.dot(nose - (eye_r + eye_l) / 2, axis / (2 * half)))
    return min(1.0, abs(offset) / half)


def roll_degrees(landmarks: np.ndarray) -> float:
    """Head tilt in the image plane: the angle of the line from the right to the left eye, in degrees."""
    d = landmarks[1] - landmarks[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def sharpness(crop: Pixels) -> float:
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(detection: Detection, crop: Pixels, gates: QualityGates) -> Quality:
    size = min(detection.box.width, detection.box.height)
    sharp = sharpness(crop)
    yaw = yaw_ratio(detection.landmarks)
    problem = None
    if size < gates.min_face_px:
        problem = "small"
    elif yaw > gates.max_yaw_ratio:
        problem = "turned"
    elif sharp < gates.min_sharpness:
        problem = "blurred"
    return Quality(size, sharp, yaw, problem)
