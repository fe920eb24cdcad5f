"""Decisions per visit: who is at the door, from a track's recent frames.

A track becomes a ``match`` for a person when, of its last ``window_frames`` good-quality
frames, at least ``min_hits`` had that person as the best gallery match above the threshold.
It becomes ``unknown`` (once) after ``unknown_after_frames`` good-quality frames without a
match. A person matched within the last ``cooldown_s`` seconds (counted from the last frame
that confirmed them, so someone lingering stays quiet) produces no new event. Faces that fail
the quality gates are tracked but never counted. Pure logic: time comes from frame timestamps.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from edge.domain import BBox


@dataclass(frozen=True)
class DecisionPolicy:
    window_frames: int = 10
    min_hits: int = 3
    cooldown_s: float = 30.0
    unknown_after_frames: int = 15


@dataclass(frozen=True)
class Decision:
    type: Literal["match", "unknown"]
    track_id: int
    person: str | None
    similarity: float | None  # best similarity to ``person`` (match) or to anyone (unknown); None: empty gallery
    box: BBox
    timestamp: float  # the deciding frame's timestamp


@dataclass
class _TrackState:
    window: deque[tuple[str | None, float]]
    good_frames: int = 0
    best_any: float | None = None
    matched: str | None = None
    unknown_sent: bool = False


@dataclass
class Decider:
    policy: DecisionPolicy = DecisionPolicy()
    _tracks: dict[int, _TrackState] = field(default_factory=dict)
    _last_confirmed: dict[str, float] = field(default_factory=dict)

    def matched(self, track_id: int) -> str | None:
        """The person a track was matched to, if any (the pipeline stops embedding it)."""
        t = self._tracks.get(track_id)
        return t.matched if t else None

    def unknown_sent(self, track_id: int) -> bool:
        t = self._tracks.get(track_id)
        return bool(t and t.unknown_sent)

    def observe(self, track_id: int, box: BBox, timestamp: float, person: str | None, similarity: float | None) -> Decision | None:
        """One good-quality frame of a track: ``person`` is the best match at or above the
        threshold (None if below), ``similarity`` the best similarity to anyone (None when
        nobody is enrolled)."""
        p = self.policy
        t = self._tracks.setdefault(track_id, _TrackState(deque(maxlen=p.window_frames)))
        t.window.append((person, -1.0 if similarity is None else similarity))
        t.good_frames += 1
        if similarity is not None:
            t.best_any = similarity if t.best_any is None else max(t.best_any, similarity)
        if t.matched is not None:
            if person == t.matched:
                self._last_confirmed[person] = timestamp
            return None
        hits = Counter(name for name, _ in t.window if name is not None)
        if hits:
            name, count = hits.most_common(1)[0]
            if count >= p.min_hits:
                t.matched = name
                last = self._last_confirmed.get(name)
                self._last_confirmed[name] = timestamp
                if last is not None and timestamp - last < p.cooldown_s:
                    return None  # the same visit (or a repeat within the cooldown): stay quiet
                best = max(s for n, s in t.window if n == name)
                return Decision("match", track_id, name, best, box, timestamp)
        if not t.unknown_sent and t.good_frames >= p.unknown_after_frames:
            t.unknown_sent = True
            return Decision("unknown", track_id, None, t.best_any, box, timestamp)
        return None

    def end(self, track_ids: list[int]) -> None:
        for tid in track_ids:
            self._tracks.pop(tid, None)

    def reset_matches(self) -> None:
        """Forget per-track matches (after the gallery changed: a renamed or removed person
        must not stay attached to a live track)."""
        for t in self._tracks.values():
            t.matched = None
            t.window.clear()
