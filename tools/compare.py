"""How far a rewritten or converted graph's output is from the original's."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def max_rel_diff(got: ArrayLike, ref: ArrayLike) -> float:
    """The largest absolute difference over the reference's largest magnitude (at least 1, so
    outputs near zero are compared absolutely)."""
    g, r = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(g.reshape(r.shape) - r).max()) / max(1.0, float(np.abs(r).max()))


def equalisation_scale(range_a: np.ndarray, range_b: np.ndarray) -> np.ndarray:
    """Cross-layer equalisation's per-channel factor s = sqrt(r_a / r_b): dividing channel c of the
    first layer's output by s and multiplying the next layer's input c by s evens both layers'
    weight ranges (same function); 1 where either range is 0."""
    ok = (range_a > 0) & (range_b > 0)
    return np.where(ok, np.sqrt(range_a / np.maximum(range_b, 1e-12)), 1.0).astype(np.float32)
