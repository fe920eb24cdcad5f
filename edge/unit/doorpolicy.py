"""Who may open this door, and when: the written policy every door decision is judged by.

Pure logic: the daemon asks :meth:`DoorPolicy.judge` with the decision's evidence and the
unit's local time, and writes the answer to the audit log whatever it is. The checks, in the
order their reason is reported: liveness said spoof (reported first: it is what the household
needs to know), the door is disabled (kill switch), the person is not allowed at this door,
not at this time, liveness could not decide (when required), the face did not reach the door's
stricter threshold. Only when none applies is the door opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Literal

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Reason = Literal["opened", "door_disabled", "not_allowed", "outside_hours", "spoof", "liveness_undecided", "below_threshold"]
LivenessVerdict = Literal["live", "spoof", "undecided"]


def parse_hours(text: str) -> tuple[time, time]:
    """``"07:00-22:00"`` -> (start, end); ``24:00`` is the end of the day; an end before the
    start crosses midnight (``"22:00-06:00"``)."""
    try:
        a, b = (s.strip() for s in text.split("-"))
        start = time.fromisoformat(a)
        end = time.max if b == "24:00" else time.fromisoformat(b)
    except ValueError:
        raise ValueError(f"hours {text!r}: expected HH:MM-HH:MM, e.g. 07:00-22:00 (24:00 for the end of the day)") from None
    if start == end:
        raise ValueError(f"hours {text!r}: start and end are the same; for the whole day write 00:00-24:00")
    return start, end


@dataclass(frozen=True)
class Rule:
    """``people`` may open on ``days`` (0 = Monday) between ``start`` (inclusive) and ``end``
    (exclusive; ``time.max`` = until midnight). With ``end < start`` the window crosses
    midnight and belongs to the day it starts on."""

    people: frozenset[str]
    days: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time = time.max

    def covers(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # crosses midnight: the evening part today, or the morning part of a window that began yesterday
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)


@dataclass(frozen=True)
class DoorVerdict:
    opened: bool
    reason: Reason


@dataclass(frozen=True)
class DoorPolicy:
    rules: tuple[Rule, ...]
    timezone: tzinfo | None = None  # None: the unit's local zone
    liveness_required: bool = True

    @classmethod
    def always(cls, people: Iterable[str], *, liveness_required: bool = True, timezone: tzinfo | None = None) -> DoorPolicy:
        return cls((Rule(frozenset(people)),), timezone, liveness_required)

    @property
    def people(self) -> frozenset[str]:
        """Everyone some rule lets in at some time."""
        return frozenset().union(*(r.people for r in self.rules)) if self.rules else frozenset()

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.timezone) if self.timezone is not None else when.astimezone()

    def judge(self, person: str, *, door_threshold_reached: bool, liveness: LivenessVerdict | None, enabled: bool,
              when: datetime) -> DoorVerdict:
        """The door decision for a match of ``person`` at ``when`` (timezone-aware).
        ``liveness``: the track's verdict, or None when liveness does not run."""
        if liveness == "spoof":
            return DoorVerdict(False, "spoof")
        if not enabled:
            return DoorVerdict(False, "door_disabled")
        theirs = [r for r in self.rules if person in r.people]
        if not theirs:
            return DoorVerdict(False, "not_allowed")
        local = self.local(when)
        if not any(r.covers(local) for r in theirs):
            return DoorVerdict(False, "outside_hours")
        if self.liveness_required and liveness != "live":
            return DoorVerdict(False, "liveness_undecided")
        if not door_threshold_reached:
            return DoorVerdict(False, "below_threshold")
        return DoorVerdict(True, "opened")
