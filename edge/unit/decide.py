"""Decisions per visit: who is at the door, from a track's recent good frames.

A track is a ``match`` for a person when, of its last ``window_frames`` good-quality frames,
(1) at least ``min_hits`` had that person as their best gallery match at or above the announce
threshold (K of N), and (2) the mean of those frames' embeddings matches that person at or above
the same threshold, by at least ``margin`` over the second-best person. Measured on 800
synthetic visits (README "Decisions"): a stranger's visit then passes about twice as often as
one photo pair at the same threshold (see :data:`VISIT_FACTOR`; any single frame: 4.5-7.5x).

The door is a separate, stricter decision: a match of a person who may open the door
(``door_people``) whose mean embedding also reaches the door threshold (and K of N at it)
gives ``door=True`` on the match, or a ``door`` decision (no new announcement) when it is
reached later in the track (the person came closer) or within the cooldown. A track becomes ``unknown`` (once) after ``unknown_after_frames`` good
frames without a match, and is decided on its first ``max_frames`` good frames only: that is the
visit length :data:`VISIT_FACTOR` was measured on (a longer track would give a stranger more chances). A person matched within the last ``cooldown_s`` seconds (counted from
the last frame that confirmed them, so someone lingering stays quiet) produces no new match
event. Pure logic: time comes from frame timestamps; the gallery is reached through ``Scorer``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge.domain import BBox
from edge.embed import l2_normalise
from edge.match import Match

#: embedding -> the two best people (best template each), best first; [] with an empty gallery.
Scorer = Callable[[NDArray[np.float32]], list[Match]]

#: A visit is decided over sliding windows, each a chance for a stranger. Measured with
#: ``python -m tools.visits --visits 1500`` (1,494 synthetic 40-frame visits, 2.2 million stranger
#: comparisons): with this module's rule a stranger's visit passed 1.8x as often as one photo pair
#: at the thresholds for 1e-3 and 1e-4 per comparison, and 2.6x at the one for 1e-5 (47 visits
#: against 18 pairs); deciding on any single frame: 4.5-7.5x. The daemon divides its per-visit rates
#: by 3, and decides a track on its first ``max_frames`` (40) good frames, the length measured.
VISIT_FACTOR = 3.0


@dataclass(frozen=True)
class DecisionPolicy:
    window_frames: int = 10
    min_hits: int = 3
    cooldown_s: float = 30.0
    unknown_after_frames: int = 15
    margin: float = 0.0
    max_frames: int = 40  # a track is decided on its first max_frames good frames (the visits VISIT_FACTOR was measured on)


@dataclass(frozen=True)
class Thresholds:
    """Cosine thresholds for the current gallery: ``announce`` a name, open the ``door`` (None: no door)."""

    announce: float
    door: float | None = None


@dataclass(frozen=True)
class Decision:
    type: Literal["match", "unknown", "door", "spoof"]  # spoof: a match that liveness judged a presentation attack
    track_id: int
    person: str | None
    similarity: float | None  # match/door: the track's mean embedding to ``person``; unknown: best to anyone (None: empty gallery)
    box: BBox
    timestamp: float  # the deciding frame's timestamp
    door: bool = False  # this decision opens the door (the person may, and the door threshold is reached)


@dataclass
class _TrackState:
    frames: deque[tuple[NDArray[np.float32], str | None, float]]  # (embedding, best person, similarity)
    good_frames: int = 0
    best_any: float | None = None
    matched: str | None = None
    door_done: bool = False
    unknown_sent: bool = False


def _best(hits: list[Match]) -> tuple[str | None, float | None, float]:
    """(best person, their similarity, lead over the second best) of a scorer's answer."""
    if not hits:
        return None, None, 0.0
    lead = hits[0].similarity - hits[1].similarity if len(hits) > 1 else 2.0
    return hits[0].identity, hits[0].similarity, lead


@dataclass
class Decider:
    policy: DecisionPolicy = DecisionPolicy()
    thresholds: Thresholds = Thresholds(announce=1.0)
    door_people: frozenset[str] = frozenset()
    _tracks: dict[int, _TrackState] = field(default_factory=dict)
    _last_confirmed: dict[str, float] = field(default_factory=dict)

    def matched(self, track_id: int) -> str | None:
        """The person a track was matched to, if any."""
        t = self._tracks.get(track_id)
        return t.matched if t else None

    def settled(self, track_id: int) -> bool:
        """Whether more frames of this track cannot change anything (its ``max_frames`` good
        frames were decided on, or it is matched and the door is done or not in question): the
        pipeline stops embedding it."""
        t = self._tracks.get(track_id)
        if t is None:
            return False
        if t.good_frames >= self.policy.max_frames:
            return True
        if t.matched is None:
            return False
        return t.door_done or self.thresholds.door is None or t.matched not in self.door_people

    def unknown_sent(self, track_id: int) -> bool:
        t = self._tracks.get(track_id)
        return bool(t and t.unknown_sent)

    def _passes(self, t: _TrackState, name: str, threshold: float, score: Scorer) -> float | None:
        """The mean embedding's similarity to ``name`` when the window supports ``name`` at
        ``threshold``: K of N frames on their own, and the mean, with the margin; else None."""
        p = self.policy
        if sum(1 for _, n, s in t.frames if n == name and s >= threshold) < p.min_hits:
            return None
        mean = l2_normalise(np.mean([e for e, _, _ in t.frames], axis=0))
        who, sim, lead = _best(score(mean))
        if who != name or sim is None or sim < threshold or lead < p.margin:
            return None
        return sim

    def observe(self, track_id: int, box: BBox, timestamp: float, embedding: NDArray[np.float32], hits: list[Match],
                score: Scorer) -> Decision | None:
        """One good-quality frame of a track: its embedding and ``hits`` = ``score(embedding)``."""
        p = self.policy
        th = self.thresholds
        t = self._tracks.setdefault(track_id, _TrackState(deque(maxlen=p.window_frames)))
        if t.good_frames >= p.max_frames:
            return None  # decided on enough frames: more would give a stranger more chances than were measured
        who, sim, lead = _best(hits)
        hit = who if sim is not None and sim >= th.announce and lead >= p.margin else None
        t.frames.append((embedding, hit, -1.0 if sim is None else sim))
        t.good_frames += 1
        if sim is not None:
            t.best_any = sim if t.best_any is None else max(t.best_any, sim)
        if t.matched is not None:
            if hit == t.matched:
                self._last_confirmed[t.matched] = timestamp
            return self._door_upgrade(track_id, t, box, timestamp, score)
        votes = Counter(n for _, n, _ in t.frames if n is not None)
        if votes:
            name, count = votes.most_common(1)[0]
            agreed = self._passes(t, name, th.announce, score) if count >= p.min_hits else None
            if agreed is not None:
                t.matched = name
                door_sim = self._door_sim(t, name, score)
                t.door_done = door_sim is not None
                last = self._last_confirmed.get(name)
                self._last_confirmed[name] = timestamp
                if last is not None and timestamp - last < p.cooldown_s:  # the same visit, or a repeat within the cooldown
                    return Decision("door", track_id, name, door_sim, box, timestamp, True) if door_sim is not None else None
                return Decision("match", track_id, name, agreed, box, timestamp, door_sim is not None)
        if not t.unknown_sent and t.good_frames >= p.unknown_after_frames:
            t.unknown_sent = True
            return Decision("unknown", track_id, None, t.best_any, box, timestamp)
        return None

    def _door_sim(self, t: _TrackState, name: str, score: Scorer) -> float | None:
        """The mean embedding's similarity to ``name`` if the window opens the door for them."""
        door = self.thresholds.door
        if door is None or name not in self.door_people:
            return None
        return self._passes(t, name, door, score)

    def _door_upgrade(self, track_id: int, t: _TrackState, box: BBox, timestamp: float, score: Scorer) -> Decision | None:
        """A matched track whose later frames reach the door threshold (the person came closer)."""
        if t.door_done or t.matched is None:
            return None
        sim = self._door_sim(t, t.matched, score)
        if sim is None:
            return None
        t.door_done = True
        return Decision("door", track_id, t.matched, sim, box, timestamp, True)

    def end(self, track_ids: list[int]) -> None:
        for tid in track_ids:
            self._tracks.pop(tid, None)

    def reset_matches(self) -> None:
        """Forget per-track matches (after the gallery changed: a renamed or removed person
        must not stay attached to a live track)."""
        for t in self._tracks.values():
            t.matched = None
            t.door_done = False
            t.frames.clear()
            t.good_frames = 0
