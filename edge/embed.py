"""Face embedder: aligned crop -> unit-norm float32 embedding.

The int8 model ends at the last linear layer; dequantisation and L2
normalisation run here on the host (see the manifest's ``decoding``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from edge.align import align_for
from edge.domain import Detection, Pixels
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
        self.threshold = float(m.thresholds["cosine"])

    def crop(self, image: Pixels, det: Detection) -> Pixels:
        return align_for(image, det.landmarks, self.preprocess)

    def embed_crop(self, crop: Pixels) -> NDArray[np.float32]:
        out = self.model.run(pixels_to_input(crop, self.model.manifest.input))
        return l2_normalise(out[self.output].reshape(-1))
