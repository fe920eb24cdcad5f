"""How far a rewritten or converted graph's output is from the original's."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def max_rel_diff(got: ArrayLike, ref: ArrayLike) -> float:
    """The largest absolute difference over the reference's largest magnitude (at least 1, so
    outputs near zero are compared absolutely)."""
    g, r = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(g.reshape(r.shape) - r).max()) / max(1.0, float(np.abs(r).max()))
