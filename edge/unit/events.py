"""The unit's typed values on their way out: an :class:`Event` per published decision and the
:class:`Presence` state (who is in view). edge.unit.mqtt turns them into the wire format (its
JSON is the MQTT contract); the daemon works with these values, never with a wire dict."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from edge.domain import Pixels
from edge.liveness import LivenessResult
from edge.unit.pipeline import Decided


def utc_now_ms() -> str:
    """Now as ISO 8601 UTC with milliseconds and a ``Z`` (the events' timestamps)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One published decision. ``box`` is (x1, y1, x2, y2) in pixels of the deciding frame;
    ``similarity`` the cosine the decision rests on (None: nobody enrolled); ``crop`` and
    ``embedding`` go out only when the config asks for them (privacy)."""

    event_id: str
    type: Literal["match", "unknown", "spoof"]
    person: str | None
    similarity: float | None
    timestamp: str  # ISO 8601 UTC, milliseconds, Z
    device_id: str
    track_id: int
    box: tuple[float, float, float, float]
    liveness: LivenessResult | None = None
    attributes: dict[str, Any] | None = None
    crop: Pixels | None = field(default=None, repr=False, compare=False)
    embedding: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, d: Decided, device_id: str) -> Event:
        dec = d.decision
        if dec.type == "door":
            raise ValueError("a door decision is audited, not published as an event")
        return cls(uuid.uuid4().hex, dec.type, dec.person, None if dec.similarity is None else round(float(dec.similarity), 4),
                   utc_now_ms(), device_id, dec.track_id, tuple(round(v, 1) for v in dec.box.as_tuple()),  # type: ignore[arg-type]
                   d.liveness, d.attributes, d.crop, d.embedding)


@dataclass(frozen=True)
class Presence:
    """Who is in view now: any face, the enrolled people recognised, and the last person announced
    (kept across restarts)."""

    face_present: bool = False
    present: tuple[str, ...] = ()
    last_person: str | None = None
