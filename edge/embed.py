"""Face embedder: aligned crop -> unit-norm float32 embedding (and its norm, a face-ness signal).

The int8 model ends at the last linear layer; dequantisation and L2
normalisation run here on the host (see the manifest's ``decoding``).
The length of the output before normalisation is small for crops that are not faces; the
manifest's ``thresholds.min_norm`` is the floor below which a crop is not treated as a face.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from edge.align import align_for, similarity_transform
from edge.calibration import FarCalibration
from edge.domain import Detection, Embedding, Pixels
from edge.image import View
from edge.tensors import Model, pixels_to_input


def l2_normalise(v: NDArray) -> NDArray[np.float32]:
    v = np.asarray(v, np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


class Embedder:
    """Wraps an embedder :class:`Model`; ``fingerprint`` (the model's sha256) tags every embedding."""

    def __init__(self, model: Model):
        self.model = model
        m = model.manifest
        self.preprocess = m.preprocess
        self.output = m.decoding.get("output", m.outputs[0].name)
        self.fingerprint = m.sha256
        self.threshold = float(m.thresholds["cosine"])  # for 1:1 verification at the manifest's cosine_target_far
        self.min_norm = float(m.thresholds.get("min_norm", 0.0))
        self.calibration = FarCalibration.from_dict(m.raw["calibration"], str(m.path)) if m.raw.get("calibration") else None

    @property
    def dim(self) -> int:
        return int(self.model.manifest.output(self.output).shape[-1])

    def crop(self, image: Pixels, det: Detection) -> Pixels:
        return align_for(image, det.landmarks, self.preprocess)

    def crop_view(self, view: View, det: Detection) -> Pixels:
        """The aligned crop of ``det`` (full-image pixels): from the view's reduced pixels when the
        face is large enough there for the crop not to be enlarged (they are a cleaner, already
        low-passed source than the full image), else from the full-resolution image."""
        if view.factor > 1:
            points = self.preprocess.get("points", [0, 1, 2, 3, 4])
            small = np.asarray(det.landmarks, np.float32) / view.factor
            m = similarity_transform(small[points], np.asarray(self.preprocess["template"], np.float32))
            if float(np.hypot(m[0, 0], m[0, 1])) <= 1.0:  # the warp's scale: view pixels per crop pixel >= 1
                return align_for(view.pixels, small, self.preprocess)
        return align_for(view.full(), det.landmarks, self.preprocess)

    def bgr(self, crop: Pixels) -> Pixels:
        """An aligned crop (in the embedder's colour order) in BGR order, for an image file."""
        return np.ascontiguousarray(crop[:, :, ::-1]) if self.preprocess.get("colour") == "RGB" else crop

    def embed(self, crop: Pixels) -> Embedding:
        return self.decode(self.model.run(pixels_to_input(crop, self.model.manifest.input)))

    def decode(self, outputs: dict[str, NDArray]) -> Embedding:
        """The embedding in a run's outputs (this model's, or its float original's: the toolchain's
        fidelity check decodes both with this)."""
        out = np.asarray(outputs[self.output], np.float32).reshape(-1)
        return Embedding(l2_normalise(out), float(np.linalg.norm(out)))

    def embed_crop(self, crop: Pixels) -> NDArray[np.float32]:
        return self.embed(crop).vector

    def is_face(self, embedding: Embedding) -> bool:
        """Whether the crop looked like a face to the embedder (norm at or above ``min_norm``)."""
        return embedding.norm >= self.min_norm
