"""Presentation-attack detection per track: is this a live face, or a photo or screen held up?

Three independent cues over the frames of a track that matched, each a score in [0, 1]
(1 = live) or ``None`` when it cannot tell:

- ``passive``: MiniFASNet's live probability per frame (one frame's texture: print, moiré,
  screen borders), averaged over the frames seen.
- ``planar``: a photo or a screen moves as a plane, so one homography explains how its face
  landmarks move between two frames; a head turning in 3-D does not (the nose moves against
  the cheeks: parallax). The residual of the best homography between frame pairs, over the
  inter-ocular distance, is the evidence; it says nothing when the face hardly moved.
- ``blink``: eye openness (eye aspect ratio from the dense landmarks) dips and recovers.
  Positive evidence only: a live person need not blink within a visit, and a screen replay of
  a video can blink.

:func:`fuse` combines what the cues said into one score and a verdict. The parameters are
measured (``python -m tools.liveness``, README "Liveness"); they are not guarantees: the attacks
they were measured on are synthetic, not real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from edge.domain import Detection, Pixels
from edge.errors import ModelError
from edge.yamlfile import read_yaml

Verdict = Literal["live", "spoof", "undecided"]

#: ``(frame, detection) -> live probability`` (edge.antispoof).
PassiveFn = Callable[[Pixels, Detection], float]
#: ``(frame, detection) -> (rigid landmarks [K, 2] in frame pixels, eye openness, inter-ocular distance)`` (edge.mesh).
MeshFn = Callable[[Pixels, Detection], tuple[NDArray[np.float32], float, float]]


@dataclass(frozen=True)
class LivenessParams:
    """How a track is judged. ``threshold``: the fused score a live track reaches. ``planar_*``:
    the homography residual (over the inter-ocular distance) at which the planar cue says 0.5,
    and the spread of its logistic; ``min_motion``: the landmark motion (same unit) a frame pair
    needs before its residual counts. ``blink_drop``: openness below this fraction of the
    track's median is a closed eye."""

    threshold: float = 0.5
    frames: int = 20
    min_frames: int = 3  # fewer frames (the track ended early): undecided
    max_wait_s: float = 3.0
    planar_mid: float = 0.02
    planar_spread: float = 0.006
    min_motion: float = 0.05
    blink_drop: float = 0.6
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # passive, planar, blink
    passive_models: tuple[str, ...] = ("minifasnet_v2", "minifasnet_v1se")  # whose live probabilities are averaged


def load_params(path: Path) -> tuple[LivenessParams, dict[str, Any]]:
    """The measured parameters (``models/liveness.yaml``, written by ``python -m tools.liveness
    --write``) and what they were measured on. Unknown keys are refused."""
    data = read_yaml(path, ModelError, what="liveness parameters", missing="rebuild them with python -m tools.liveness --write")
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ModelError(f"{path}: expected a mapping with a 'params' mapping")
    known = {f.name for f in fields(LivenessParams)}
    raw = data["params"]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ModelError(f"{path}: unknown liveness parameter(s) {unknown}; expected some of {sorted(known)}")
    try:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        params = LivenessParams(**values)
    except TypeError as e:
        raise ModelError(f"{path}: bad liveness parameters: {e}") from e
    return params, {k: v for k, v in data.items() if k != "params"}


@dataclass(frozen=True)
class Cues:
    passive: float | None = None
    planar: float | None = None
    blink: float | None = None
    residual: float | None = None  # the planar cue's evidence: median homography residual / inter-ocular
    motion: float | None = None  # the largest landmark motion between the pairs used
    frames: int = 0

    def to_dict(self) -> dict[str, float | int | None]:
        r = {k: None if v is None else round(float(v), 4) for k, v in
             (("passive", self.passive), ("planar", self.planar), ("blink", self.blink), ("residual", self.residual),
              ("motion", self.motion))}
        return {**r, "frames": self.frames}


@dataclass(frozen=True)
class LivenessResult:
    verdict: Verdict
    score: float | None  # the fused live score; None when no cue could tell
    cues: Cues

    def to_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "score": None if self.score is None else round(self.score, 4), "cues": self.cues.to_dict()}


def _logistic(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def planar_residual(a: NDArray[np.float32], b: NDArray[np.float32], iod: float) -> tuple[float, float]:
    """(RMS residual of the least-squares homography a -> b, RMS motion), both over ``iod``
    (the inter-ocular distance in pixels)."""
    import cv2

    if iod < 1.0:
        return float("nan"), 0.0
    h, _ = cv2.findHomography(a.astype(np.float64), b.astype(np.float64), 0)
    if h is None:
        return float("nan"), 0.0
    pa = np.concatenate([a, np.ones((len(a), 1))], axis=1) @ h.T
    proj = pa[:, :2] / pa[:, 2:3]
    residual = float(np.sqrt(np.mean(np.sum((proj - b) ** 2, axis=1)))) / iod
    motion = float(np.sqrt(np.mean(np.sum((b - a) ** 2, axis=1)))) / iod
    return residual, motion


def planar_cue(points: list[NDArray[np.float32]], iods: list[float], p: LivenessParams) -> tuple[float | None, float | None, float | None]:
    """(score, median residual, max motion) over frame pairs that moved at least ``min_motion``."""
    residuals: list[float] = []
    best_motion = 0.0
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            r, m = planar_residual(points[i], points[j], 0.5 * (iods[i] + iods[j]))
            best_motion = max(best_motion, m)
            if m >= p.min_motion and np.isfinite(r):
                residuals.append(r)
    if not residuals:
        return None, None, best_motion if n > 1 else None
    med = float(np.median(residuals))
    return planar_score(med, p), med, best_motion


def planar_score(residual: float, p: LivenessParams) -> float:
    """The planar cue's live score for a median homography residual: 0.5 at ``planar_mid``."""
    return _logistic((residual - p.planar_mid) / p.planar_spread)


def blink_cue(openness: list[float], p: LivenessParams) -> float | None:
    """1.0 when the eyes closed and opened again over the frames, else None (no evidence)."""
    if len(openness) < 3:
        return None
    o = np.asarray(openness, np.float64)
    base = float(np.median(o))
    if base <= 0:
        return None
    closed = o < p.blink_drop * base
    idx = np.flatnonzero(closed)
    if idx.size == 0 or idx[0] == 0 or idx[-1] == len(o) - 1:
        return None  # no dip, or not both an open eye before and after it
    return 1.0


def fuse(passive: float | None, planar: float | None, blink: float | None, p: LivenessParams) -> float | None:
    """Weighted mean of the cues that could tell; a blink only raises the score."""
    parts = [(s, w) for s, w in zip((passive, planar), p.weights[:2], strict=True) if s is not None]
    if not parts:
        return None
    score = sum(s * w for s, w in parts) / sum(w for _, w in parts)
    if blink is not None:
        score = (score * sum(w for _, w in parts) + blink * p.weights[2]) / (sum(w for _, w in parts) + p.weights[2])
    return float(score)


@dataclass
class _Observed:
    started: float
    passive: list[float] = field(default_factory=list)
    points: list[NDArray[np.float32]] = field(default_factory=list)
    openness: list[float] = field(default_factory=list)
    iods: list[float] = field(default_factory=list)


class LivenessJudge:
    """Watches tracks that matched and judges each once: :meth:`observe` every frame of the track
    until it returns a result (after ``params.frames`` frames or ``max_wait_s``), :meth:`finish`
    when the track ends earlier."""

    def __init__(self, passive: PassiveFn | None, mesh: MeshFn | None, params: LivenessParams | None = None):
        if passive is None and mesh is None:
            raise ValueError("liveness needs at least one cue (the anti-spoof model or the face mesh)")
        self.passive = passive
        self.mesh = mesh
        self.params = params or LivenessParams()
        self._tracks: dict[int, _Observed] = {}

    def observe(self, track_id: int, image: Pixels, det: Detection, timestamp: float) -> LivenessResult | None:
        t = self._tracks.setdefault(track_id, _Observed(timestamp))
        if self.passive is not None:
            t.passive.append(float(self.passive(image, det)))
        if self.mesh is not None:
            pts, open_, iod = self.mesh(image, det)
            t.points.append(pts)
            t.openness.append(float(open_))
            t.iods.append(float(iod))
        n = max(len(t.passive), len(t.points))
        if n >= self.params.frames or timestamp - t.started >= self.params.max_wait_s:
            return self.finish(track_id)
        return None

    def finish(self, track_id: int) -> LivenessResult:
        t = self._tracks.pop(track_id, None) or _Observed(0.0)
        return judge(t.passive, t.points, t.iods, t.openness, self.params)

    def reset(self) -> None:
        self._tracks.clear()


def judge(passive: list[float], points: list[NDArray[np.float32]], iods: list[float], openness: list[float],
          p: LivenessParams) -> LivenessResult:
    """The verdict on one track's observations (also used offline by the measurement tool)."""
    ps = float(np.mean(passive)) if passive else None
    pl, residual, motion = planar_cue(points, iods, p) if points else (None, None, None)
    bl = blink_cue(openness, p) if openness else None
    cues = Cues(ps, pl, bl, residual, motion, max(len(passive), len(points)))
    score = fuse(ps, pl, bl, p)
    if score is None or cues.frames < p.min_frames:
        return LivenessResult("undecided", None, cues)
    return LivenessResult("live" if score >= p.threshold else "spoof", score, cues)
