"""Presentation-attack detection (anti-spoofing) with MiniFASNet models.

Each model looks at the face box scaled about its centre by its own ``scale`` (2.7 or 4.0: the
face with its surroundings, where screen borders, moiré and paper edges show), resized to a
small BGR square. Its three logits go through softmax here; class 1 is "live". As upstream
(minivision-ai/Silent-Face-Anti-Spoofing) does, several models' softmax outputs are averaged.

The crop is the one the models were trained on (upstream ``AffineCrop``): the scale is first
capped so the scaled box fits inside the image, then the box is shifted (not clipped) to lie
inside it, and its corners are truncated to whole pixels. The toolchain makes its calibration
and fidelity crops with :func:`crop_for` too.

One signal among others, not a guarantee: phone-screen replays are known to pass it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.attributes import softmax
from edge.domain import BBox, Pixels
from edge.errors import ModelError
from edge.manifest import find_manifest
from edge.tensors import Model, pixels_to_input

LIVE_CLASS = 1  # upstream's; a manifest may say otherwise (decoding.live_class)


def scaled_box(box: BBox, scale: float, width: int, height: int) -> BBox:
    """``box`` scaled by ``scale`` about its centre, the scale capped so the result fits in a
    ``width`` x ``height`` image, shifted inside it, corners truncated to integers."""
    bw, bh = box.width, box.height
    if bw <= 0 or bh <= 0:
        raise ValueError(f"expected a face box with positive width and height, found {box}")
    s = min(float(scale), (height - 1) / bh, (width - 1) / bw)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    x1, y1 = cx - bw * s / 2, cy - bh * s / 2
    x2, y2 = cx + bw * s / 2, cy + bh * s / 2
    dx = -x1 if x1 < 0 else (width - x2 if x2 > width else 0.0)
    dy = -y1 if y1 < 0 else (height - y2 if y2 > height else 0.0)
    return BBox(float(int(x1 + dx)), float(int(y1 + dy)), float(int(x2 + dx)), float(int(y2 + dy)))


def crop_for(image: Pixels, box: BBox, scale: float, size: int = 80) -> Pixels:
    """The ``size`` x ``size`` crop of ``image`` (uint8 BGR) a MiniFASNet model with ``scale`` takes."""
    h, w = image.shape[:2]
    b = scaled_box(box, scale, w, h)
    patch = image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)]
    return np.ascontiguousarray(cv2.resize(patch, (int(size), int(size))))


@dataclass(frozen=True)
class SpoofScore:
    """``live``: the mean over models of the softmax live probability (0..1); ``per_model`` in model order."""

    live: float
    per_model: tuple[float, ...]

    def is_live(self, threshold: float = 0.5) -> bool:
        return self.live >= threshold


class AntiSpoof:
    """Fused live probability of one or more MiniFASNet models (manifests with ``preprocess.kind: scaled_box``)."""

    def __init__(self, models: Sequence[Model]):
        if not models:
            raise ModelError("AntiSpoof needs at least one anti-spoofing model (e.g. models/minifasnet_v2)")
        for m in models:
            pre = m.manifest.preprocess
            if pre.get("kind") != "scaled_box":
                raise ModelError(f"{m.manifest.path}: expected preprocess kind 'scaled_box' (an anti-spoofing model), found {pre.get('kind')!r}")
        self.models = tuple(models)

    @classmethod
    def from_models_dir(cls, names: Sequence[str] = ("minifasnet_v2", "minifasnet_v1se"), models_dir: Path | None = None, threads: int = 1) -> AntiSpoof:
        """Load bundled models by name (``models/<name>/manifest.yaml``)."""
        return cls([Model(find_manifest(n, models_dir), threads=threads) for n in names])

    @staticmethod
    def live_probability(model: Model, image: Pixels, box: BBox) -> float:
        """One model's softmax live probability for the face in ``box``."""
        m = model.manifest
        crop = crop_for(image, box, float(m.preprocess["scale"]), int(m.preprocess["size"]))
        out = model.run(pixels_to_input(crop, m.input))
        return float(softmax(out[m.outputs[0].name].reshape(-1))[int(m.decoding.get("live_class", LIVE_CLASS))])

    def score(self, image: Pixels, box: BBox) -> SpoofScore:
        """Score the face in ``box`` of ``image`` (uint8 BGR, the whole frame: the crops reach beyond the box)."""
        per = tuple(self.live_probability(m, image, box) for m in self.models)
        return SpoofScore(float(np.mean(per)), per)
