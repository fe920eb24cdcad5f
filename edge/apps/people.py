"""Enrolling a person into a store, as the CLI (``edgeface enroll``) and the web console do it:
every photo passes the enrolment checks before anything is stored, and a face that already matches
someone else at the door's threshold is refused unless forced."""

from __future__ import annotations

from collections.abc import Sequence

from edge.api import Face, Recognizer
from edge.enrol import duplicate_of
from edge.errors import EnrollmentError
from edge.image import encode_jpeg
from edge.store import Store, person_name
from edge.unit.config import DoorConfig


def enrol(rec: Recognizer, store: Store, name: str, faces: Sequence[Face], sources: Sequence[str], *,
          force: bool = False, door_far: float | None = None) -> tuple[str, int, int]:
    """Add one template per face of ``name`` (from :meth:`Recognizer.enrollment_faces`, which checks
    every photo before the store is opened), their aligned crops kept for the console.
    Returns (the name as stored, templates added, templates the person has now)."""
    name = person_name(name)
    embeddings = [f.embedding.vector for f in faces]
    gallery = store.gallery(rec.embedder.fingerprint, rec.embedder.dim)
    door = rec.operating_point("door", far=DoorConfig().far if door_far is None else door_far, comparisons=len(gallery) + len(embeddings))
    dup = duplicate_of(embeddings, gallery, name, door.threshold)
    if dup and not force:
        raise EnrollmentError(
            f"not enrolled: these photos match {dup[0]!r}, who is already enrolled (similarity {dup[1]:.3f}, at or above the "
            f"door's threshold {door.threshold:.3f}): the same person under two names, or a look-alike the unit could confuse. "
            f"Enrol anyway (edgeface enroll --force; in the console, tick 'even if the photos match'), or remove {dup[0]!r} first"
        )
    crops = [encode_jpeg(rec.embedder.bgr(f.crop), 90) for f in faces]
    n = store.enroll(name, embeddings, rec.embedder.fingerprint, list(sources), crops)
    total = next(p.templates for p in store.persons() if p.name == name)
    return name, n, total
