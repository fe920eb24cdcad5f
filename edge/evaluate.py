"""Verification quality on labelled pairs: accuracy, ROC AUC, TAR at fixed FAR, ROC plot."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.errors import EdgeFaceError


@dataclass(frozen=True)
class PairReport:
    pairs: int
    same: int
    different: int
    no_face: tuple[str, ...]  # images without a face (their pairs are left out)
    threshold: float
    accuracy: float  # at ``threshold``
    best_threshold: float
    best_accuracy: float
    roc_auc: float
    tar_at_far: dict[str, float]  # "1e-2", "1e-3" -> TAR (NaN when too few different pairs)
    similarities: NDArray[np.float32]
    labels: NDArray[np.bool_]


def read_pairs(path: str | Path) -> list[tuple[str, str, bool]]:
    p = Path(path)
    try:
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise EdgeFaceError(f"{p}: cannot read pairs file ({e.strerror})") from e
    need = {"file_a", "file_b", "same"}
    if not rows or not need <= set(rows[0]):
        raise EdgeFaceError(f"{p}: expected a CSV with columns file_a, file_b, same (1 or 0), found {sorted(rows[0]) if rows else 'no rows'}")
    return [(r["file_a"], r["file_b"], r["same"].strip() in ("1", "true", "True")) for r in rows]


def roc(sims: NDArray, labels: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """(false accept rates, true accept rates, thresholds), thresholds descending."""
    order = np.argsort(-sims, kind="stable")
    s, y = sims[order], labels[order]
    tp, fp = np.cumsum(y), np.cumsum(~y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each distinct threshold
    tar = np.r_[0.0, tp[last] / max(1, y.sum())]
    far = np.r_[0.0, fp[last] / max(1, (~y).sum())]
    return far, tar, np.r_[np.inf, s[last]]


def evaluate(pairs: list[tuple[str, str, bool]], root: Path, embed: Callable[[Path], NDArray[np.float32] | None], threshold: float,
             progress: Callable[[int, int], None] | None = None) -> PairReport:
    """``embed`` returns a file's embedding, or None when it has no face."""
    cache: dict[str, NDArray[np.float32] | None] = {}
    files = sorted({f for a, b, _ in pairs for f in (a, b)})
    for n, f in enumerate(files, 1):
        cache[f] = embed(root / f)
        if progress:
            progress(n, len(files))
    usable = [(a, b, s) for a, b, s in pairs if cache[a] is not None and cache[b] is not None]
    if not usable:
        raise EdgeFaceError("no pair has a face in both images; check --root")
    sims = np.asarray([float(cache[a] @ cache[b]) for a, b, _ in usable], np.float32)  # type: ignore[operator]
    labels = np.asarray([s for *_, s in usable], bool)
    far, tar, thr = roc(sims, labels)
    auc = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))
    accs = [(float(np.mean((sims >= t) == labels)), float(t)) for t in thr[1:]]
    best_acc, best_t = max(accs)
    tar_at = {}
    for name, target in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        n_diff = int((~labels).sum())
        ok = far <= target
        # Measurable only with at least 1/FAR different pairs; NaN otherwise.
        tar_at[name] = float(tar[ok].max()) if n_diff >= 1 / target else float("nan")
    return PairReport(
        pairs=len(usable), same=int(labels.sum()), different=int((~labels).sum()),
        no_face=tuple(f for f in files if cache[f] is None), threshold=threshold,
        accuracy=float(np.mean((sims >= threshold) == labels)), best_threshold=best_t, best_accuracy=best_acc,
        roc_auc=auc, tar_at_far=tar_at, similarities=sims, labels=labels,
    )


def draw_roc(report: PairReport, path: str | Path, size: int = 480) -> None:
    """ROC curve (FAR on a log axis from 1e-3 to 1) as a PNG, drawn with OpenCV."""
    far, tar, _ = roc(report.similarities, report.labels)
    img = np.full((size, size, 3), 255, np.uint8)
    m = 50
    x0, y0, x1, y1 = m, size - m, size - 15, 15

    def px(f: float, t: float) -> tuple[int, int]:
        lf = (np.log10(max(f, 1e-3)) + 3) / 3
        return int(x0 + lf * (x1 - x0)), int(y0 - t * (y0 - y1))

    cv2.rectangle(img, (x0, y1), (x1, y0), (0, 0, 0), 1)
    for e in (-3, -2, -1, 0):
        x = px(10.0**e, 0)[0]
        cv2.line(img, (x, y0), (x, y0 + 5), (0, 0, 0), 1)
        cv2.putText(img, f"1e{e}", (x - 15, y0 + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for t in (0.0, 0.5, 1.0):
        y = px(1e-3, t)[1]
        cv2.putText(img, f"{t:.1f}", (10, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    pts = np.array([px(f, t) for f, t in zip(far, tar, strict=True)], np.int32)
    cv2.polylines(img, [pts], False, (200, 60, 0), 2)
    cv2.putText(img, f"ROC  AUC {report.roc_auc:.3f}  pairs {report.pairs}", (x0 + 10, y1 + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "false accept rate (log)", (x0 + 120, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), img):
        raise EdgeFaceError(f"cannot write {path}; expected a writable .png path")
