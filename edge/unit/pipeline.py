"""Per frame: detect -> track -> align -> quality gates -> embed -> face-ness -> match -> decide
-> liveness (tracks that matched).

No I/O and no threads: the daemon feeds frames and acts on the decisions. Work is skipped
where it cannot change a decision: faces that fail a quality gate are not embedded, and a
track already settled (matched, and the door done or not in question; or decided on its
``max_frames`` good frames) is not embedded again. A face whose embedding says it is not a face
(norm below the embedder's ``min_norm``: an animal, an object) counts as a failed gate.

With a liveness judge, a track's match is held back until the judge has seen enough frames of
it: then the match comes out with its liveness result, or as a ``spoof`` decision (never a
door), and the track's later door decision carries the same result. :meth:`Pipeline.flush`
releases what is still held when the source ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.detect import Detector
from edge.domain import Detection, Frame, Pixels
from edge.embed import Embedder
from edge.errors import FingerprintError
from edge.liveness import LivenessJudge, LivenessResult
from edge.match import Gallery, Match
from edge.quality import Quality, QualityGates, assess
from edge.unit.decide import Decider, Decision, DecisionPolicy, Thresholds
from edge.unit.tracker import IoUTracker

#: ``(frame image, detection) -> attributes`` for event payloads (age, gender, emotion).
AttributeFn = Callable[[Pixels, Detection], dict[str, Any]]


@dataclass(frozen=True)
class FaceResult:
    track_id: int
    detection: Detection
    quality: Quality
    person: str | None  # the track's matched person, else this frame's best match at/above the announce threshold
    similarity: float | None  # this frame's best similarity; None when the face was not embedded
    confirmed: bool = False  # ``person`` is the track's decided match (K of N), not one frame's guess


@dataclass(frozen=True)
class Decided:
    """A decision with what an event may carry: the aligned crop and the embedding (published
    only when configured) and attributes (when enabled)."""

    decision: Decision
    crop: Pixels  # the aligned face in BGR order (for an image), whatever order the embedder takes
    embedding: NDArray[np.float32] | None
    attributes: dict[str, Any] | None
    liveness: LivenessResult | None = None  # with a liveness judge: the track's result (match, door, spoof)
    quality: float | None = None  # the crop's embedding norm (face-ness; higher: a clearer face)


@dataclass(frozen=True)
class FrameResult:
    index: int
    timestamp: float
    faces: tuple[FaceResult, ...]
    decided: tuple[Decided, ...]
    timings_ms: dict[str, float]  # detect, align, embed, match (this frame's totals)

    @property
    def present(self) -> tuple[str, ...]:
        """Recognised people in this frame: tracks with a decided match only."""
        return tuple(sorted({f.person for f in self.faces if f.confirmed and f.person is not None}))


class Pipeline:
    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        gallery: Gallery,
        thresholds: Thresholds,
        *,
        gates: QualityGates | None = None,
        policy: DecisionPolicy | None = None,
        door_people: frozenset[str] = frozenset(),
        attributes: AttributeFn | None = None,
        liveness: LivenessJudge | None = None,
        track_max_age_s: float = 1.0,
    ):
        """``thresholds``: for ``gallery`` (they depend on its size, see :meth:`set_gallery`);
        ``door_people``: who may open the door (with ``thresholds.door`` set); ``liveness``: judges
        matched tracks (None: matches come out at once, without a liveness result)."""
        self.detector = detector
        self.embedder = embedder
        self.gates = gates or QualityGates()
        self.attributes = attributes
        self.tracker = IoUTracker(max_age_s=track_max_age_s)
        self.decider = Decider(policy or DecisionPolicy(), thresholds, frozenset(door_people))
        self.liveness = liveness
        self._held: dict[int, list[Decided]] = {}  # track -> decisions waiting for its liveness result
        self._judged: dict[int, LivenessResult] = {}
        self._clearest: dict[int, tuple[float, Pixels, NDArray[np.float32]]] = {}  # track -> its clearest face so far (for unknown)
        self.gallery = gallery
        self.set_gallery(gallery, thresholds)

    @property
    def thresholds(self) -> Thresholds:
        return self.decider.thresholds

    def set_gallery(self, gallery: Gallery, thresholds: Thresholds) -> None:
        """Swap in a new gallery (enrolment, removal, rename) with the thresholds for its size;
        live tracks are decided afresh."""
        if len(gallery) and gallery.fingerprint != self.embedder.fingerprint:
            raise FingerprintError(f"the gallery was built by embedder {gallery.fingerprint[:12]}…, the pipeline's is "
                                   f"{self.embedder.fingerprint[:12]}…; re-enrol with this model")  # the store refuses this first
        self.gallery = gallery
        self.decider.thresholds = thresholds
        self.decider.reset_matches()
        self._held.clear()
        self._judged.clear()
        if self.liveness is not None:
            self.liveness.reset()

    def _score(self, vector: NDArray[np.float32]) -> list[Match]:
        return self.gallery.search(vector, self.decider.thresholds.announce, top_k=2)

    def process(self, frame: Frame) -> FrameResult:
        t0 = time.perf_counter()
        detections = self.detector.detect(frame.image)
        t_detect = time.perf_counter() - t0
        ids, ended = self.tracker.update([d.box for d in detections], frame.timestamp)
        self.decider.end(ended)
        for tid in ended:
            self._clearest.pop(tid, None)
        decided: list[Decided] = self._release(ended)
        t_align = t_embed = t_match = t_live = 0.0
        faces: list[FaceResult] = []
        for det, tid in zip(detections, ids, strict=True):
            t1 = time.perf_counter()
            crop = self.embedder.crop(frame.image, det)
            quality = assess(det, crop, self.gates)
            t_align += time.perf_counter() - t1
            if tid in self._held:
                t_live += self._observe(tid, frame, det, decided)
            matched = self._shown(tid)
            if not quality.ok or self.decider.settled(tid):
                faces.append(FaceResult(tid, det, quality, matched, None, matched is not None))
                continue
            t2 = time.perf_counter()
            emb = self.embedder.embed(crop)
            t3 = time.perf_counter()
            t_embed += t3 - t2
            if not self.embedder.is_face(emb):
                faces.append(FaceResult(tid, det, replace(quality, problem="not_a_face"), matched, None, matched is not None))
                continue
            hits = self._score(emb.vector)
            t_match += time.perf_counter() - t3
            best = hits[0] if hits else None
            person = best.identity if best and best.verified else None
            similarity = best.similarity if best else None
            if not self.decider.unknown_sent(tid) and emb.norm > self._clearest.get(tid, (-1.0,))[0]:
                self._clearest[tid] = (emb.norm, crop, emb.vector)
            decision = self.decider.observe(tid, det.box, frame.timestamp, emb.vector, hits, self._score)
            if decision is not None:
                attrs = self.attributes(frame.image, det) if self.attributes and decision.type != "door" else None
                # a stranger is shown (and kept for review) by the track's clearest face
                norm, shown, vector = self._clearest.pop(tid) if decision.type == "unknown" else (emb.norm, crop, emb.vector)
                d = Decided(decision, self.embedder.bgr(shown), vector, attrs, quality=norm)
                if self.liveness is None or decision.type == "unknown":
                    decided.append(d)
                elif tid in self._judged:
                    decided.append(replace(d, liveness=self._judged[tid]))
                else:
                    first = tid not in self._held
                    self._held.setdefault(tid, []).append(d)
                    if first:  # this frame is the first the judge sees
                        t_live += self._observe(tid, frame, det, decided)
            confirmed = self._shown(tid)
            faces.append(FaceResult(tid, det, quality, confirmed or person, similarity, confirmed is not None))
        timings = {"detect": t_detect * 1e3, "align": t_align * 1e3, "embed": t_embed * 1e3, "match": t_match * 1e3}
        if self.liveness is not None:
            timings["liveness"] = t_live * 1e3
        return FrameResult(frame.index, frame.timestamp, tuple(faces), tuple(decided), timings)

    def _observe(self, track_id: int, frame: Frame, det: Detection, decided: list[Decided]) -> float:
        """Show a held track's frame to the liveness judge; its decisions go to ``decided`` once it is
        judged. Returns the seconds it took."""
        assert self.liveness is not None
        t = time.perf_counter()
        result = self.liveness.observe(track_id, frame.image, det, frame.timestamp)
        if result is not None:
            decided += self._judge(track_id, result)
        return time.perf_counter() - t

    def _shown(self, track_id: int) -> str | None:
        """The track's match as far as others may know it: not while liveness is judging it,
        never when it was judged a spoof."""
        if track_id in self._held:
            return None
        judged = self._judged.get(track_id)
        if judged is not None and judged.verdict == "spoof":
            return None
        return self.decider.matched(track_id)

    def _judge(self, track_id: int, result: LivenessResult) -> list[Decided]:
        """The held decisions of a track, now with its liveness result; a spoof turns the match
        into a ``spoof`` decision and drops its door decisions."""
        self._judged[track_id] = result
        out: list[Decided] = []
        for d in self._held.pop(track_id, []):
            if result.verdict == "spoof":
                if d.decision.type == "match":
                    out.append(replace(d, decision=replace(d.decision, type="spoof", door=False), liveness=result))
                continue
            out.append(replace(d, liveness=result))
        return out

    def _release(self, ended: list[int] | tuple[int, ...]) -> list[Decided]:
        out: list[Decided] = []
        for tid in ended:
            if tid in self._held and self.liveness is not None:
                out += self._judge(tid, self.liveness.finish(tid))
            self._judged.pop(tid, None)
        return out

    def flush(self) -> list[Decided]:
        """Judge and release every held decision (the source ended)."""
        return self._release(list(self._held))
