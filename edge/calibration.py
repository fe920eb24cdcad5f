"""False-accept calibration: from impostor similarities to thresholds that back a stated rate.

A threshold is chosen for a target false-accept rate (FAR) only where the data can support it:
the one-sided 95% Clopper-Pearson upper bound of the FAR measured at that threshold must be at
or under the target. With ``n`` impostor pairs that needs ``n >= ~3 / FAR`` (zero false accepts
in ``n`` pairs bound the rate by ~3/n), so a rate the pair count cannot back is never stated.
Impostor pairs are grouped by condition (clean photos, and a clean gallery photo against a
degraded probe: night, motion, low resolution); a threshold holds in every condition, so it
is the highest of the conditions' thresholds.

Identification (one probe against a gallery of ``T`` templates) multiplies the chances: the
rate that a stranger matches anyone is at most ``T`` times the per-comparison rate (a union
bound), so :meth:`FarCalibration.operating_point` divides the target by ``T``.

Pure numpy; the manifest's ``calibration`` section is this module's :meth:`FarCalibration.to_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from edge.errors import ConfigError, ModelError
from edge.yamlfile import read_yaml

CONFIDENCE = 0.95
#: Target rates the calibration records (per comparison): 10 steps per decade, 1e-1 down to what the data backs.
GRID = tuple(float(f"{10 ** (-e / 10):.2g}") for e in range(10, 101))


def _log_binom_pmf(ks: NDArray[np.float64], n: int, p: float) -> NDArray[np.float64]:
    """log P(X = k) for X ~ Binomial(n, p), for each k in ``ks`` (0 < p < 1)."""
    lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
    return lgamma(n + 1.0) - lgamma(ks + 1.0) - lgamma(n - ks + 1.0) + ks * math.log(p) + (n - ks) * math.log1p(-p)


def _log_cdf(k: int, n: int, p: float) -> float:
    """log P(X <= k) for X ~ Binomial(n, p)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 0.0 if k >= n else -math.inf
    terms = _log_binom_pmf(np.arange(k + 1, dtype=np.float64), n, p)
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()))


def upper_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen ``k`` times in ``n`` trials: the
    ``p`` with P(X <= k | n, p) = 1 - confidence. k = 0 gives 1 - (1 - confidence)^(1/n) (~3/n)."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = math.log(1.0 - confidence)
    if k == 0:
        return -math.expm1(alpha / n)
    lo, hi = k / n, 1.0
    for _ in range(80):  # bisection on the (decreasing in p) CDF, in log space
        mid = (lo + hi) / 2
        if _log_cdf(k, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def max_false_accepts(n: int, target: float, confidence: float = CONFIDENCE) -> int:
    """The most false accepts in ``n`` impostor pairs whose upper bound is still <= ``target``;
    -1 when even zero is not enough (``n`` too small to back ``target``)."""
    alpha = math.log(1.0 - confidence)
    if n * math.log1p(-target) > alpha:  # P(X = 0) > alpha: zero false accepts do not bound the rate by target
        return -1
    mean, sd = n * target, math.sqrt(n * target * (1 - target))
    ks = np.arange(int(mean + 10 * sd + 10), dtype=np.float64)
    logs = _log_binom_pmf(ks, n, target)
    cdf = np.cumsum(np.exp(logs - logs.max())) * math.exp(float(logs.max()))
    return int(np.searchsorted(cdf, math.exp(alpha), side="right")) - 1


def _threshold_above(sorted_desc: NDArray[np.float32], k: int) -> float:
    """A cosine threshold (4 decimals) that at most ``k`` of the scores reach."""
    if k >= len(sorted_desc):
        return -1.0
    return math.floor(float(sorted_desc[k]) * 1e4 + 1) / 1e4


@dataclass(frozen=True)
class Point:
    """One calibrated threshold: accepting at cosine >= ``threshold`` keeps the false-accept rate
    per comparison at or under ``far`` (95% upper bound) in every condition. ``condition`` is the
    one that set the threshold; ``false_accepts`` of its ``pairs`` impostor pairs reach it,
    giving the upper bound ``upper``. ``tar``: genuine pairs accepted, per condition."""

    far: float
    threshold: float
    condition: str
    false_accepts: int
    pairs: int
    upper: float
    tar: Mapping[str, float]


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold for one purpose (announce, door, verify). ``target`` is the rate asked for per
    decision; with ``comparisons`` templates, each decision a visit of up to ``visit_factor`` times
    the chances of one comparison, the per-comparison rate is target / (comparisons x visit_factor).
    ``bound`` is what the calibration guarantees for the decision (that product x the point's upper
    bound); ``backed`` is False when the calibration cannot go as low as asked and its strictest
    point is used instead (then bound > target). ``source``: "calibration" or "cosine_threshold"."""

    purpose: str
    target: float | None
    comparisons: int
    threshold: float
    bound: float | None
    backed: bool
    source: str
    visit_factor: float = 1.0

    def describe(self) -> str:
        rate = "not calibrated" if self.bound is None else f"false-accept bound {self.bound:.2g}"
        asked = "" if self.target is None else f" (asked {self.target:.2g}{'' if self.backed else ', NOT backed by the calibration'})"
        visit = f" x visit factor {self.visit_factor:g}" if self.visit_factor != 1.0 else ""
        return f"{self.purpose} at cosine {self.threshold:.4f}: {rate} per decision over {self.comparisons} template(s){visit}{asked}"


@dataclass(frozen=True)
class FarCalibration:
    """Thresholds for target false-accept rates, measured on ``pairs`` impostor pairs per condition
    from ``identities`` identities (``photos`` photos)."""

    points: tuple[Point, ...]  # far descending
    pairs: Mapping[str, int]  # impostor pairs per condition
    genuine: Mapping[str, int]  # genuine pairs per condition
    identities: int
    photos: int
    confidence: float = CONFIDENCE
    data: tuple[str, ...] = ()  # what the photos were (for the report)
    detector: str = ""  # sha256 of the detector whose faces were measured ("": not recorded)

    def measured_with(self, detector_sha256: str) -> bool:
        """Whether these thresholds were measured on faces found by this detector (alignment, and so
        every similarity, depends on its landmarks)."""
        return not self.detector or self.detector == detector_sha256

    @property
    def lowest_far(self) -> float:
        """The smallest per-comparison rate this calibration can state."""
        return self.points[-1].far

    def point_for(self, far: float) -> Point | None:
        """The calibrated point with the largest rate at or under ``far`` (None: below the lowest)."""
        for p in self.points:
            if p.far <= far * (1 + 1e-9):
                return p
        return None

    def threshold_for(self, far: float) -> float:
        """The cosine threshold for a per-comparison false-accept rate; refuses a rate the data cannot back."""
        p = self.point_for(far)
        if p is None:
            raise ConfigError(
                f"a false-accept rate of {far:.2g} per comparison cannot be backed by this calibration: "
                f"{min(self.pairs.values())} impostor pairs support rates down to {self.lowest_far:.2g}. "
                "Ask for a higher rate, or calibrate on more photos (edgeface calibrate)."
            )
        return p.threshold

    def upper_at(self, threshold: float) -> float | None:
        """Upper bound of the per-comparison rate at ``threshold``: that of the strictest point at
        or below it (None when ``threshold`` is below every calibrated point)."""
        below = [p for p in self.points if p.threshold <= threshold]
        return min(p.far for p in below) if below else None

    def operating_point(self, purpose: str, target: float, comparisons: int, visit_factor: float = 1.0) -> OperatingPoint:
        """The threshold that keeps a decision against ``comparisons`` templates at ``target``
        (a visit's decision having ``visit_factor`` times the chances of one comparison)."""
        n = max(1, int(comparisons))
        trials = n * visit_factor
        p = self.point_for(target / trials)
        if p is None:
            strictest = self.points[-1]
            return OperatingPoint(purpose, target, n, strictest.threshold, trials * strictest.far, False, "calibration", visit_factor)
        return OperatingPoint(purpose, target, n, p.threshold, trials * p.far, True, "calibration", visit_factor)

    def override(self, purpose: str, threshold: float, comparisons: int, visit_factor: float = 1.0) -> OperatingPoint:
        """An expert's raw cosine threshold, with the rate it gives where the calibration knows it."""
        n = max(1, int(comparisons))
        up = self.upper_at(threshold)
        return OperatingPoint(purpose, None, n, float(threshold), None if up is None else n * visit_factor * up, True, "cosine_threshold", visit_factor)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "far",
            "method": "per condition, the lowest cosine threshold whose one-sided Clopper-Pearson upper bound of the "
                      "false-accept rate is <= far; the highest over conditions",
            "confidence": self.confidence,
            "photos": self.photos,
            "identities": self.identities,
            "impostor_pairs": dict(self.pairs),
            "genuine_pairs": dict(self.genuine),
            "data": list(self.data),
            "detector_sha256": self.detector,
            "points": [
                {"far": p.far, "threshold": p.threshold, "condition": p.condition, "false_accepts": p.false_accepts,
                 "pairs": p.pairs, "upper": float(f"{p.upper:.3g}"), "tar": {k: round(v, 4) for k, v in p.tar.items()}}
                for p in self.points
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> FarCalibration:
        try:
            points = tuple(
                Point(float(p["far"]), float(p["threshold"]), str(p["condition"]), int(p["false_accepts"]), int(p["pairs"]),
                      float(p["upper"]), {str(k): float(v) for k, v in p["tar"].items()})
                for p in d["points"]
            )
            cal = cls(points, {str(k): int(v) for k, v in d["impostor_pairs"].items()}, {str(k): int(v) for k, v in d["genuine_pairs"].items()},
                      int(d["identities"]), int(d["photos"]), float(d["confidence"]), tuple(str(x) for x in d.get("data", ())),
                      str(d.get("detector_sha256", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where}: the calibration section is malformed ({e!r}); recalibrate (edgeface calibrate)") from e
        if not points or any(a.far <= b.far or a.threshold > b.threshold for a, b in zip(points, points[1:], strict=False)):
            raise ModelError(f"{where}: calibration points must have falling rates and rising thresholds; recalibrate")
        return cal


def calibrate(
    impostors: Mapping[str, NDArray[np.float32]],
    genuines: Mapping[str, NDArray[np.float32]],
    *,
    identities: int,
    photos: int,
    confidence: float = CONFIDENCE,
    grid: tuple[float, ...] = GRID,
    data: tuple[str, ...] = (),
    detector: str = "",
) -> FarCalibration:
    """Thresholds for every rate of ``grid`` that every condition's impostor scores can back.

    ``impostors`` / ``genuines``: cosine similarities of different-person / same-person pairs,
    per condition (e.g. "clean", "night"). Raises :class:`ConfigError` when not even the highest
    rate of the grid can be backed."""
    if not impostors or any(len(v) == 0 for v in impostors.values()):
        raise ConfigError("calibration needs impostor pairs (photos of at least two identities) in every condition")
    ordered = {c: np.sort(np.asarray(v, np.float32))[::-1] for c, v in impostors.items()}
    gen = {c: np.asarray(v, np.float32) for c, v in genuines.items()}
    points = []
    for far in grid:
        best: tuple[float, str] | None = None
        for c, s in ordered.items():
            k = max_false_accepts(len(s), far, confidence)
            if k < 0:
                best = None
                break
            t = _threshold_above(s, k)
            if best is None or t > best[0]:
                best = (t, c)
        if best is None:
            break
        t, c = best
        s = ordered[c]
        fa = int(np.count_nonzero(s >= t))
        tar = {g: float(np.mean(v >= t)) for g, v in gen.items() if len(v)}
        points.append(Point(far, t, c, fa, len(s), upper_bound(fa, len(s), confidence), tar))
    if not points:
        n = min(len(v) for v in impostors.values())
        raise ConfigError(f"{n} impostor pairs cannot back even a false-accept rate of {grid[0]:g}; calibrate on more photos and identities")
    return FarCalibration(tuple(points), {c: len(v) for c, v in ordered.items()}, {c: len(v) for c, v in gen.items()},
                          identities, photos, confidence, data, detector)


def load_calibration(path: str | Path) -> FarCalibration:
    """A calibration file written by ``edgeface calibrate --out`` (its ``calibration`` section)."""
    p = Path(path)
    raw = read_yaml(p, ConfigError, what="calibration file", missing=f"write one with edgeface calibrate --out {p}")
    section = raw.get("calibration") if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{p}: expected a YAML file with a calibration: section (edgeface calibrate --out), found {type(raw).__name__}")
    return FarCalibration.from_dict(section, str(p))


def save_calibration(path: str | Path, cal: FarCalibration, fingerprint: str) -> None:
    """Write ``cal`` for the embedder whose model sha256 is ``fingerprint``."""
    Path(path).write_text(yaml.safe_dump({"embedder_sha256": fingerprint, "calibration": cal.to_dict()}, sort_keys=False,
                                         default_flow_style=None, width=140))
