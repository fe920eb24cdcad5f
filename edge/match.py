"""Matching: one probe embedding against the whole gallery as one matrix product."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edge.errors import FingerprintError, ModelError

#: How far from unit length a template may be (embedders write unit-norm float32 vectors).
NORM_TOLERANCE = 1e-3


def template_problem(v: NDArray, dim: int | None = None) -> str | None:
    """Why ``v`` cannot be a template (a 1-D unit-length float vector of ``dim`` values, no NaN
    or infinity), or None when it can."""
    a = np.asarray(v)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.floating):
        return f"expected a 1-D float vector, found {a.dtype} of shape {a.shape}"
    if dim is not None and a.size != dim:
        return f"expected {dim} values, found {a.size}"
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        return f"{bad} of its {a.size} values are NaN or infinite"
    norm = float(np.linalg.norm(a.astype(np.float64)))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        return f"expected unit length, found length {norm:.4g}"
    return None


@dataclass(frozen=True)
class Match:
    """Best similarity of a probe to one identity's templates; ``verified`` = at or above threshold."""

    identity: str
    similarity: float
    verified: bool


@dataclass(frozen=True)
class Gallery:
    """Templates (unit-norm rows of ``embeddings``), each labelled with an identity, all made by
    the embedder whose model sha256 is ``fingerprint``."""

    identities: tuple[str, ...]
    embeddings: NDArray[np.float32]  # [N, D]
    fingerprint: str
    _names: NDArray[np.str_] = field(init=False, repr=False, compare=False)
    _sorted: NDArray[np.float32] = field(init=False, repr=False, compare=False)
    _starts: NDArray[np.int64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.embeddings.ndim != 2 or len(self.identities) != self.embeddings.shape[0]:
            raise ValueError(f"expected one identity per embedding row, found {len(self.identities)} and {self.embeddings.shape}")
        # Rows grouped by identity once, so a search is one matrix product and one reduceat.
        names, inverse = np.unique(np.asarray(self.identities, dtype=str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        starts = np.r_[0, np.nonzero(np.diff(inverse[order]))[0] + 1] if len(order) else np.zeros(0, np.int64)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_sorted", np.ascontiguousarray(self.embeddings[order], dtype=np.float32))
        object.__setattr__(self, "_starts", starts)

    def __len__(self) -> int:
        return len(self.identities)

    def search(self, probe: NDArray[np.float32], threshold: float, top_k: int = 5, fingerprint: str | None = None) -> list[Match]:
        """The ``top_k`` identities closest to ``probe`` (best template per identity), best first."""
        if fingerprint is not None and fingerprint != self.fingerprint:
            raise FingerprintError(
                f"the gallery was built by embedder {self.fingerprint[:12]}…, the probe by {fingerprint[:12]}…; "
                "embeddings of different models cannot be compared. Rebuild the gallery with the current model."
            )
        if not len(self):
            return []
        if probe.shape[-1] != self.embeddings.shape[1]:
            raise ModelError(f"probe has {probe.shape[-1]} dimensions, the gallery {self.embeddings.shape[1]}")
        sims = self._sorted @ probe.astype(np.float32)
        best = np.maximum.reduceat(sims, self._starts)
        k = min(top_k, best.size)
        top = np.argpartition(-best, k - 1)[:k]
        top = top[np.argsort(-best[top])]
        return [Match(str(self._names[i]), float(best[i]), bool(best[i] >= threshold)) for i in top]
