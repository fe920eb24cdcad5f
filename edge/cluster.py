"""Group face embeddings by identity: average-linkage agglomerative clustering (SciPy) on cosine
distance, cut where the groups' average similarity falls below a calibrated threshold.

Used for the console's unknown faces: each group is meant to be one stranger, named or ignored
in one action. With the announce threshold as the bound, two faces of different people end up in
one group about as often as the unit would announce a stranger as someone enrolled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.errors import EdgeFaceError, UsageError


@dataclass(frozen=True)
class Group:
    """Indices into the clustered embeddings, and the group's mean pairwise cosine similarity
    (1.0 for a single face)."""

    members: tuple[int, ...]
    cohesion: float


def group_embeddings(embeddings: Sequence[NDArray[np.float32]] | NDArray[np.float32], threshold: float) -> list[Group]:
    """Groups of ``embeddings`` (unit vectors) whose average pairwise cosine similarity is at least
    ``threshold``; largest group first, then the earliest."""
    if not 0.0 < threshold < 1.0:
        raise UsageError(f"grouping threshold must be a cosine similarity between 0 and 1, found {threshold}")
    x = np.asarray(embeddings, np.float64).reshape(len(embeddings), -1) if len(embeddings) else np.zeros((0, 0))
    n = len(x)
    if n == 0:
        return []
    if n == 1:
        return [Group((0,), 1.0)]
    try:
        from scipy.cluster.hierarchy import fcluster, linkage
    except ImportError as e:
        raise EdgeFaceError("grouping faces needs SciPy: pip install 'edgeface[console]' (32-bit Pi OS: apt-get install python3-scipy)") from e
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    z = linkage(x, method="average", metric="cosine")
    labels = fcluster(z, t=1.0 - threshold, criterion="distance")
    sims = x @ x.T
    groups = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        block = sims[np.ix_(idx, idx)]
        cohesion = 1.0 if len(idx) == 1 else float((block.sum() - len(idx)) / (len(idx) * (len(idx) - 1)))
        groups.append(Group(tuple(int(i) for i in idx), round(cohesion, 4)))
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0]))
