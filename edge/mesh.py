"""Dense face landmarks (MediaPipe's 468-point face mesh) for a detected face.

The crop follows MediaPipe's own graph, so the int8 model sees what it was trained on:

* ``face_detection_front_detection_to_roi.pbtxt``: ``DetectionsToRectsCalculator`` with
  ``rotation_vector_start_keypoint_index: 0``, ``end_keypoint_index: 1`` (the two eyes),
  ``rotation_vector_target_angle_degrees: 0``: the box centre, rotated so the eyes are level;
  then ``RectTransformationCalculator`` ``scale_x: 1.5, scale_y: 1.5, square_long: true``: a
  square of 1.5x the box's long side.
* ``face_landmark_cpu.pbtxt``: ``ImageToTensorCalculator`` 192x192, ``keep_aspect_ratio: false``,
  ``output_tensor_float_range {min: 0 max: 1}`` (folded into the int8 graph: it takes raw RGB
  pixels); the presence tensor through ``TensorsToFloatsCalculator`` ``activation: SIGMOID``;
  ``TensorsToLandmarksCalculator`` ``num_landmarks: 468``, ``input_image_width/height: 192``
  (x, y, z in crop pixels; z on the scale of x); ``LandmarkProjectionCalculator`` maps them back.

The eyes come from our detector's five landmarks (YuNet: right eye first, as BlazeFace's
keypoint 0), the box from its box. Everything but :class:`FaceMesh` is pure numpy/OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.domain import Detection, Pixels
from edge.errors import ModelError
from edge.tensors import Model, pixels_to_input

POINTS = 468
#: The 6-point eye aspect ratio (Soukupova and Cech 2016) on the mesh: p1 and p4 the eye
#: corners, (p2, p6) and (p3, p5) upper/lower eyelid pairs. Right eye (the subject's right,
#: on the image's left): outer corner 33, inner 133; left eye: inner 362, outer 263.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
#: Outer eye corners: the mesh's inter-ocular distance.
OUTER_EYE_CORNERS = (33, 263)
#: Points on rigid parts of the face (no eyelids, lips or jaw motion), for fitting one
#: homography between frames: eye corners, nose bridge and tip, forehead, cheek contour and chin.
STABLE_POINTS = (33, 133, 362, 263, 168, 6, 197, 195, 4, 1, 10, 151, 234, 454, 93, 323, 152)


@dataclass(frozen=True)
class MeshLandmarks:
    """468 points (float32 [468, 3]) in image pixels: x, y, and z (depth, on x's scale, smaller
    is nearer the camera); ``presence`` in [0, 1] says whether the crop held a face."""

    points: NDArray[np.float32]
    presence: float


def crop_affine(detection: Detection, size: int = 192, scale: float = 1.5) -> NDArray[np.float64]:
    """2x3 affine from crop coordinates (0..size, as the model outputs them; crop pixel j
    spans [j, j+1)) to image pixel coordinates (OpenCV's: pixel i's centre at i)."""
    box = detection.box
    right, left = np.asarray(detection.landmarks[0], np.float64), np.asarray(detection.landmarks[1], np.float64)
    angle = float(np.arctan2(left[1] - right[1], left[0] - right[0]))  # the eye line's direction, y down
    side = scale * max(box.width, box.height)
    centre = np.array([(box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0])
    s = side / size
    rot = s * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = np.zeros((2, 3))
    m[:, :2] = rot
    m[:, 2] = centre - rot @ np.array([size / 2.0, size / 2.0]) - 0.5
    return m


def crop_for(image_bgr: Pixels, detection: Detection, size: int = 192, scale: float = 1.5) -> tuple[Pixels, NDArray[np.float64]]:
    """MediaPipe's face-mesh crop of ``detection``: (RGB uint8 [size, size, 3], the 2x3 affine
    of :func:`crop_affine` mapping crop coordinates back to image pixels). Outside the image
    the edge pixels are repeated (``ImageToTensorCalculator``'s default ``BORDER_REPLICATE``)."""
    m = crop_affine(detection, size, scale)
    warp = m.copy()  # crop pixel index j (its centre at j + 0.5) -> image pixel index
    warp[:, 2] += m[:, :2] @ np.array([0.5, 0.5])
    crop = cv2.warpAffine(image_bgr, warp, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop[:, :, ::-1]), m


def to_image(points_crop: NDArray, affine: NDArray) -> NDArray[np.float32]:
    """Crop-space mesh points ([N, 3]: x, y, z in crop pixels) -> image pixels; z is scaled like x."""
    p = np.asarray(points_crop, np.float64).reshape(-1, 3)
    out = np.empty_like(p)
    out[:, :2] = p[:, :2] @ affine[:, :2].T + affine[:, 2]
    out[:, 2] = p[:, 2] * float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))
    return out.astype(np.float32)


def _ear(points: NDArray, idx: tuple[int, ...]) -> float:
    p = np.asarray(points, np.float64)[list(idx), :2]
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 0:
        return 0.0
    return float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2.0 * width)


def eye_openness(points: NDArray) -> float:
    """Eye aspect ratio averaged over both eyes (about 0.25-0.35 open, under about 0.15 closed);
    invariant to the face's position, size and in-plane rotation."""
    return 0.5 * (_ear(points, RIGHT_EYE) + _ear(points, LEFT_EYE))


def inter_ocular(points: NDArray) -> float:
    """Distance between the mesh's outer eye corners (33, 263), in the points' units."""
    p = np.asarray(points, np.float64)
    return float(np.linalg.norm(p[OUTER_EYE_CORNERS[0], :2] - p[OUTER_EYE_CORNERS[1], :2]))


def sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0))))


class FaceMesh:
    """The int8 face mesh behind its manifest (``task: landmarks``). Not thread-safe."""

    def __init__(self, model: Model):
        m = model.manifest
        if m.task != "landmarks" or m.preprocess.get("kind") != "rotated_box":
            raise ModelError(f"{m.path}: expected a face-mesh manifest (task landmarks, preprocess kind rotated_box), found task {m.task!r}")
        self.model = model
        self.size = int(m.preprocess["size"])
        self.scale = float(m.preprocess["scale"])
        dec = m.decoding
        self._landmarks, self._presence = str(dec["landmarks"]), str(dec["presence"])

    def crop(self, image_bgr: Pixels, detection: Detection) -> tuple[Pixels, NDArray[np.float64]]:
        return crop_for(image_bgr, detection, self.size, self.scale)

    def run_crop(self, crop_rgb: Pixels) -> tuple[NDArray[np.float32], float]:
        """Crop-space points [468, 3] and presence in [0, 1] for one crop from :meth:`crop`."""
        out = self.model.run(pixels_to_input(crop_rgb, self.model.manifest.input))
        return decode(out[self._landmarks], out[self._presence])

    def landmarks(self, image_bgr: Pixels, detection: Detection) -> MeshLandmarks:
        crop, affine = self.crop(image_bgr, detection)
        pts, presence = self.run_crop(crop)
        return MeshLandmarks(points=to_image(pts, affine), presence=presence)


def decode(landmarks: NDArray, presence_logit: NDArray) -> tuple[NDArray[np.float32], float]:
    """The model's raw outputs -> (points [468, 3] in crop pixels, sigmoid presence). A model
    built with int8 replicas stacks their outputs on axis 1: their mean is used."""
    pts = np.asarray(landmarks, np.float32).reshape(-1, POINTS, 3).mean(0)
    return pts.astype(np.float32), sigmoid(float(np.asarray(presence_logit, np.float32).mean()))
