"""Age, gender and emotion estimators on aligned face crops.

The int8 models output logits; softmax and the age expectation run here in float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.align import align_for
from edge.domain import Detection, Pixels
from edge.tensors import Model, pixels_to_input


def softmax(x: NDArray) -> NDArray[np.float32]:
    z = np.asarray(x, np.float32) - np.max(x, axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class ClassScores:
    label: str
    confidence: float
    scores: dict[str, float]


class _Head:
    def __init__(self, model: Model):
        self.model = model
        m = model.manifest
        self.preprocess = m.preprocess
        self.output = m.outputs[0].name

    def crop(self, image: Pixels, det: Detection) -> Pixels:
        return align_for(image, det.landmarks, self.preprocess)

    def probabilities(self, crop: Pixels) -> NDArray[np.float32]:
        out = self.model.run(pixels_to_input(crop, self.model.manifest.input))
        return softmax(out[self.output].reshape(-1))


class AgeEstimator(_Head):
    """Expected age: softmax over age classes, weighted by each class's age (manifest ``decoding.weights``)."""

    def __init__(self, model: Model):
        super().__init__(model)
        self.weights = np.asarray(model.manifest.decoding["weights"], np.float32)

    def age(self, crop: Pixels) -> float:
        return float(self.probabilities(crop) @ self.weights)

    def years(self, logits: NDArray) -> float:
        """The expected age from a run's raw class scores (this model's or its float original's)."""
        return float(softmax(np.asarray(logits, np.float32).reshape(-1)) @ self.weights)


class Classifier(_Head):
    """Gender or emotion: labels from the manifest."""

    def __init__(self, model: Model):
        super().__init__(model)
        self.labels = model.manifest.labels

    def classify(self, crop: Pixels) -> ClassScores:
        p = self.probabilities(crop)
        k = int(np.argmax(p))
        return ClassScores(self.labels[k], float(p[k]), {lab: float(v) for lab, v in zip(self.labels, p, strict=False)})
