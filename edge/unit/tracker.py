"""IoU tracker: gives each face a track id that stays the same across frames while the box
keeps overlapping, so decisions are made per visit rather than per frame.

Greedy matching of this frame's boxes to live tracks by descending IoU (faces at a door are
few; the Hungarian method buys nothing here). A track not seen for ``max_age_s`` ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.domain import BBox


@dataclass
class _Track:
    id: int
    box: BBox
    last_seen: float


@dataclass
class IoUTracker:
    min_iou: float = 0.3
    max_age_s: float = 1.0
    _tracks: dict[int, _Track] = field(default_factory=dict)
    _next_id: int = 1

    def update(self, boxes: Sequence[BBox], timestamp: float) -> tuple[list[int], list[int]]:
        """Track ids for ``boxes`` (same order) and the ids of tracks that ended now."""
        pairs = sorted(
            ((box.iou(t.box), i, tid) for i, box in enumerate(boxes) for tid, t in self._tracks.items()),
            reverse=True,
        )
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for iou, i, tid in pairs:
            if iou < self.min_iou:
                break
            if ids[i] is None and tid not in taken:
                ids[i] = tid
                taken.add(tid)
        for i, box in enumerate(boxes):
            known = ids[i]
            if known is None:
                ids[i] = self._next_id
                self._tracks[self._next_id] = _Track(self._next_id, box, timestamp)
                self._next_id += 1
            else:
                self._tracks[known].box = box
                self._tracks[known].last_seen = timestamp
        ended = [tid for tid, t in self._tracks.items() if timestamp - t.last_seen > self.max_age_s]
        for tid in ended:
            del self._tracks[tid]
        return [int(t) for t in ids if t is not None], ended

    @property
    def live(self) -> int:
        return len(self._tracks)
