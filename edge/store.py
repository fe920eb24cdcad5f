"""The local embedding store: one SQLite file with persons, their templates (and the face crops
they came from), the event outbox, the door audit log, the door's kill-switch state and, when the
web console is on, the event history and unknown faces to review.

WAL journal, ``synchronous=FULL`` and one transaction per write: a kill -9 or a power cut at
any moment leaves either the old or the new state. ``secure_delete`` is on: deleted rows are
overwritten with zeros, and removing a person checkpoints the WAL, so a removed person's name,
templates and crops are gone from the file's bytes, not only from its tables. Every template records the sha256 of the
embedder that made it; a gallery is only built for the embedder in use, so embeddings of two
models can never be mixed.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.errors import FingerprintError, StoreError
from edge.match import Gallery, template_problem

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    embedder_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, embedding BLOB NOT NULL,
    source TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS templates_person ON templates(person_id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL,
    topic TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS door_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, at_unix REAL NOT NULL, kind TEXT NOT NULL,
    outcome TEXT NOT NULL, reason TEXT NOT NULL, person TEXT, track_id INTEGER, event_id TEXT,
    evidence TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS door_audit_at ON door_audit(at_unix);
CREATE TABLE IF NOT EXISTS person_seen (
    person_id INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS template_crops (
    template_id INTEGER PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE, jpeg BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS unknown_faces (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, at_unix REAL NOT NULL, track_id INTEGER, event_id TEXT,
    embedder_sha256 TEXT NOT NULL, embedding BLOB NOT NULL, jpeg BLOB NOT NULL, quality REAL NOT NULL,
    ignored INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS unknown_faces_at ON unknown_faces(at_unix);
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, at_unix REAL NOT NULL, event_id TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
    person TEXT, similarity REAL, track_id INTEGER, jpeg BLOB);
CREATE INDEX IF NOT EXISTS event_log_at ON event_log(at_unix);
"""
#: How the audit log names a person who was removed (their name is gone from the store).
REMOVED_PERSON = "(removed)"


#: The longest person name the store takes (it is announced over MQTT and shown in Home Assistant).
MAX_NAME_CHARS = 100
_JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiner: part of some scripts' spelling and of emoji


def person_name(name: object) -> str:
    """``name`` without surrounding whitespace, or :class:`StoreError` when it cannot be a person's
    name: empty, longer than :data:`MAX_NAME_CHARS`, or holding a character that is not printable
    (a control character such as a newline, NUL or an ANSI escape, a tab, a line separator, a
    bidirectional override). Every name that enters the store (enrol, import, rename) passes here."""
    if not isinstance(name, str):
        raise StoreError(f"a person's name must be text, found {type(name).__name__}")
    text = name.strip()
    if not text:
        raise StoreError(f"a person's name cannot be empty or only spaces (found {name!r}); give the name to announce, e.g. 'Alice'")
    if len(text) > MAX_NAME_CHARS:
        raise StoreError(f"a person's name may have at most {MAX_NAME_CHARS} characters, found {len(text)} ({text[:20]!r}...); "
                         "use a shorter name")
    bad = sorted({c for c in text if not (c.isprintable() or c in _JOINERS)})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise StoreError(f"a person's name may hold printable characters only (letters, digits, punctuation, symbols, plain "
                         f"spaces), found {codes} in {text[:40]!r}; remove the control characters")
    return text


def check_store_path(path: str | Path, *, create: bool) -> Path:
    """``path`` when it can be a store: a file (not a folder) in a folder that exists, and one that
    exists already unless ``create``. A mistyped folder is refused instead of starting an empty store."""
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"{p} is a folder; expected a store file, e.g. {p / 'edgeface.db'}")
    if not p.parent.is_dir():
        raise StoreError(f"{p}: folder {p.parent} does not exist; check the path for a typo, or create the folder first")
    if not create and not p.exists():
        raise StoreError(f"no store at {p}; check the path (edgeface enroll or persons import make a store, and so does the daemon)")
    return p


@dataclass(frozen=True)
class Person:
    """``unusable``: templates of ``templates`` that cannot be matched (a corrupt or short blob, NaN
    values, another length): left out of the gallery, see :meth:`Store.gallery`."""

    name: str
    templates: int
    created_at: str
    unusable: int = 0


@dataclass(frozen=True)
class BadTemplate:
    """A stored template that cannot be used, and why."""

    template_id: int
    person: str
    problem: str


@dataclass(frozen=True)
class AuditEntry:
    """One door decision or door command. ``kind``: ``decision`` (a match judged by the door policy)
    or ``command`` (kill switch); ``outcome``: ``opened``/``refused`` (decisions) or
    ``enabled``/``disabled``/``refused`` (commands); ``reason``: why (edge.unit.doorpolicy.Reason, or
    the command's source / why it was refused); ``evidence``: similarity, thresholds, liveness."""

    at: str  # ISO 8601 UTC
    at_unix: float
    kind: str
    outcome: str
    reason: str
    person: str | None = None
    track_id: int | None = None
    event_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def now(cls, kind: str, outcome: str, reason: str, **kw: Any) -> AuditEntry:
        t = datetime.now(UTC)
        return cls(t.isoformat(timespec="milliseconds"), t.timestamp(), kind, outcome, reason, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "outcome": self.outcome, "reason": self.reason, "person": self.person,
                "track_id": self.track_id, "event_id": self.event_id, "evidence": self.evidence}


@dataclass(frozen=True)
class UnknownFace:
    """The face crop (JPEG) and embedding of a track decided ``unknown``, kept for review in the
    console. ``quality``: the embedding's norm (higher: a clearer face)."""

    at: str
    at_unix: float
    embedding: NDArray[np.float32]
    jpeg: bytes
    quality: float
    track_id: int | None = None
    event_id: str | None = None
    id: int | None = None  # set when read from the store


@dataclass(frozen=True)
class LoggedEvent:
    """An event as the console's history shows it, with the face's thumbnail (JPEG) when kept."""

    at: str
    at_unix: float
    event_id: str
    type: str
    person: str | None
    similarity: float | None
    track_id: int | None
    jpeg: bytes | None = None
    id: int | None = None


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    event_id: str
    topic: str
    payload: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Open the store at ``path`` (with ``create``, the default, a new one in an existing folder).
    Use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool = False, timeout_s: float = 10.0):
        """``read_only``: open an existing store for searching only (nothing is written, not even
        edgeface's tables into a file that is not a store: that is refused)."""
        self.path = check_store_path(path, create=create and not read_only)
        if read_only:
            self._open_read_only(timeout_s)
            return
        try:
            if not self.path.exists():  # faces and names: readable by the service user only (SQLite gives -wal/-shm the same mode)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed in the file, not only unlinked
            with self._tx():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise StoreError(f"{self.path}: store schema {row[0]}, this edgeface reads schema {SCHEMA_VERSION}; upgrade edgeface")
        except OSError as e:
            raise StoreError(f"{self.path}: cannot create the store ({e.strerror}); check the folder exists and is writable") from e
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the store ({e}); expected an edgeface SQLite store or a new path") from e

    def _open_read_only(self, timeout_s: float) -> None:
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not an edgeface store ({e}); expected a store made by edgeface enroll") from e
        if row is None or int(row[0]) != SCHEMA_VERSION:
            self._db.close()
            raise StoreError(f"{self.path}: not an edgeface store of schema {SCHEMA_VERSION} (found {row[0] if row else 'none'}); "
                             "expected a store made by edgeface enroll")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; sqlite errors become StoreError with the fix."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite already rolled back after e.g. SQLITE_FULL
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if self._db.in_transaction:  # e.g. COMMIT itself failed: leave the connection usable
                self._db.execute("ROLLBACK")
            hint = "free disk space" if "full" in str(e) else "check the file's permissions and that no other process holds it"
            raise StoreError(f"{self.path}: write failed ({e}); nothing was changed. {hint}") from e

    # --- persons and templates -------------------------------------------------------------

    def enroll(self, name: str, embeddings: Sequence[NDArray[np.float32]], fingerprint: str, sources: Sequence[str] | None = None,
               crops: Sequence[bytes | None] | None = None) -> int:
        """Add templates for ``name`` (created if new), all in one transaction; ``crops``: each
        template's face as JPEG (shown in the console). Returns how many."""
        if not embeddings:
            raise StoreError(f"no templates given for {name.strip()!r}")
        srcs = list(sources) if sources is not None else [None] * len(embeddings)
        return self.add_templates([(name, e, s) for e, s in zip(embeddings, srcs, strict=True)], fingerprint, crops=crops)

    def import_gallery(self, gallery: Gallery, source: str) -> tuple[int, int]:
        """Add every template of ``gallery`` (e.g. exported from another unit), in one transaction.
        A template the store already holds for that person (the same bytes) is skipped, so
        importing a file twice changes nothing. Returns (added, skipped)."""
        rows = [(n, e, source) for n, e in zip(gallery.identities, gallery.embeddings, strict=True)]
        added = self.add_templates(rows, gallery.fingerprint, skip_present=True)
        return added, len(rows) - added

    def add_templates(self, rows: Sequence[tuple[str, NDArray[np.float32], str | None]], fingerprint: str, *,
                      skip_present: bool = False, crops: Sequence[bytes | None] | None = None) -> int:
        """``(name, embedding, source)`` rows; people are created as needed; all or nothing. Every
        name passes :func:`person_name`, every embedding :func:`edge.match.template_problem` (and has
        the length of the store's other templates). ``skip_present``: leave out a template the person
        already has. Returns how many were added."""
        checked = [(person_name(n), np.asarray(e, np.float32).reshape(-1), s) for n, e, s in rows]
        jpegs = list(crops) if crops is not None else [None] * len(checked)
        if len(jpegs) != len(checked):
            raise StoreError(f"{len(checked)} templates but {len(jpegs)} crops given; nothing was stored")
        with self._tx() as db:
            return self._add_templates(db, checked, fingerprint, skip_present, jpegs)

    def _add_templates(self, db: sqlite3.Connection, checked: Sequence[tuple[str, NDArray[np.float32], str | None]], fingerprint: str,
                       skip_present: bool, jpegs: Sequence[bytes | None]) -> int:
        added = 0
        other = db.execute("SELECT DISTINCT embedder_sha256 FROM templates WHERE embedder_sha256 != ?", (fingerprint,)).fetchone()
        if other:
            raise StoreError(
                f"{self.path} holds templates of embedder {other[0][:12]}…, not of the model in use ({fingerprint[:12]}…); "
                "re-enrol everyone with this model (edgeface persons remove, then edgeface enroll)"
            )
        row = db.execute("SELECT dim, COUNT(*) AS n FROM templates GROUP BY dim ORDER BY n DESC LIMIT 1").fetchone()
        dim = int(row[0]) if row else (checked[0][1].size if checked else None)
        for i, (name, v, src) in enumerate(checked):
            problem = template_problem(v, dim)
            if problem:
                raise StoreError(f"template {i + 1} of {len(checked)} ({name!r}) cannot be stored: {problem}; nothing was stored. "
                                 "Templates are the embedder's unit-length vectors (edgeface enroll, or a gallery export)")
            db.execute("INSERT OR IGNORE INTO persons (name, created_at) VALUES (?, ?)", (name, _now()))
            pid = db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()[0]
            blob = v.tobytes()
            if skip_present and db.execute("SELECT 1 FROM templates WHERE person_id = ? AND embedding = ?", (pid, blob)).fetchone():
                continue
            cur = db.execute(
                "INSERT INTO templates (person_id, embedder_sha256, dim, embedding, source, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (pid, fingerprint, v.size, blob, src, _now()),
            )
            if jpegs[i] is not None:
                db.execute("INSERT INTO template_crops VALUES (?, ?)", (cur.lastrowid, jpegs[i]))
            added += 1
        return added

    def persons(self) -> list[Person]:
        rows = self._db.execute(
            "SELECT p.name, COUNT(t.id), p.created_at FROM persons p LEFT JOIN templates t ON t.person_id = p.id GROUP BY p.id ORDER BY p.name"
        ).fetchall()
        unusable = Counter(b.person for b in self._templates()[1])
        return [Person(n, int(c), ts, unusable[n]) for n, c, ts in rows]

    def remove(self, name: str) -> None:
        """Forget ``name``: their templates and template crops, when they were last seen, their
        events in the history (with thumbnails) and in the outbox not yet delivered; the door audit
        keeps its entries with the name replaced by :data:`REMOVED_PERSON`. Then the WAL is
        checkpointed, so with ``secure_delete`` the bytes are gone from the files."""
        with self._tx() as db:
            if db.execute("DELETE FROM persons WHERE name = ?", (name,)).rowcount == 0:
                raise StoreError(f"no person named {name!r} in {self.path}; see edgeface persons list")
            db.execute("DELETE FROM meta WHERE key = 'last_person' AND value = ?", (name,))
            db.execute("DELETE FROM event_log WHERE person = ?", (name,))
            db.execute("DELETE FROM outbox WHERE json_extract(payload, '$.person') = ?", (name,))
            db.execute("UPDATE door_audit SET person = ? WHERE person = ?", (REMOVED_PERSON, name))
        self.checkpoint()

    def checkpoint(self) -> bool:
        """Copy the WAL into the database file and empty it (what was deleted leaves the WAL too).
        False when another connection's read kept part of it (it goes at the next checkpoint)."""
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("%s: the WAL could not be emptied now (another process is reading); it is at the next checkpoint", self.path)
        return not busy

    def rename(self, old: str, new: str) -> None:
        new = person_name(new)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM persons WHERE name = ?", (new,)).fetchone():
                raise StoreError(f"{new!r} already exists; remove or rename it first")
            if db.execute("UPDATE persons SET name = ? WHERE name = ?", (new, old)).rowcount == 0:
                raise StoreError(f"no person named {old!r} in {self.path}; see edgeface persons list")
            db.execute("UPDATE meta SET value = ? WHERE key = 'last_person' AND value = ?", (new, old))

    def _templates(self, dim: int | None = None) -> tuple[list[tuple[str, NDArray[np.float32]]], list[BadTemplate]]:
        """(usable (name, vector) rows, unusable templates). Usable: a blob of exactly
        ``dim`` float32 values (default: the length most templates have) passing
        :func:`edge.match.template_problem`."""
        rows = self._db.execute(
            "SELECT t.id, p.name, t.dim, t.embedding FROM templates t JOIN persons p ON p.id = t.person_id ORDER BY t.id"
        ).fetchall()
        if dim is None:
            lengths = Counter(n for _, _, n, blob in rows if isinstance(blob, bytes) and len(blob) == 4 * n)
            dim = lengths.most_common(1)[0][0] if lengths else None
        good: list[tuple[str, NDArray[np.float32]]] = []
        bad: list[BadTemplate] = []
        for tid, name, n, blob in rows:
            if not isinstance(blob, bytes) or len(blob) != 4 * n or (dim is not None and n != dim):
                size = len(blob) if isinstance(blob, bytes) else 0
                bad.append(BadTemplate(tid, name, f"holds {size} bytes, expected {4 * (dim or n)} ({dim or n} float32 values)"))
                continue
            v = np.frombuffer(blob, np.float32)
            problem = template_problem(v, dim)
            if problem:
                bad.append(BadTemplate(tid, name, problem))
            else:
                good.append((name, v))
        return good, bad

    def bad_templates(self, dim: int | None = None) -> list[BadTemplate]:
        """Stored templates that cannot be matched (see :meth:`gallery`)."""
        return self._templates(dim)[1]

    def gallery(self, fingerprint: str, dim: int | None = None) -> Gallery:
        """All usable templates as a :class:`Gallery`; refuses a store made with another embedder.
        A template that cannot be used (a corrupt or short blob, NaN values, another length than
        ``dim``, default the length most templates have) is left out with a warning naming the
        template and the person: it could never match, and everyone else stays recognised."""
        others = [r[0] for r in self._db.execute("SELECT DISTINCT embedder_sha256 FROM templates WHERE embedder_sha256 != ?", (fingerprint,))]
        if others:
            raise FingerprintError(
                f"{self.path} holds templates of another embedder model ({', '.join(o[:12] + '…' for o in others)}); "
                f"the model in use is {fingerprint[:12]}…. Re-enrol everyone with this model."
            )
        good, bad = self._templates(dim)
        for b in bad:
            log.warning("%s: template %d of %r is unusable (%s) and left out; re-enrol them: edgeface persons remove %r, "
                        "then edgeface enroll", self.path, b.template_id, b.person, b.problem, b.person)
        if not good:
            return Gallery((), np.zeros((0, dim or 0), np.float32), fingerprint)
        return Gallery(tuple(name for name, _ in good), np.stack([v for _, v in good]), fingerprint)

    def data_version(self) -> int:
        """Changes when another connection commits (the daemon's cue to reload the gallery)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def template_crops(self) -> dict[str, list[int]]:
        """Each person's template ids that have a face crop (for the console's pictures)."""
        rows = self._db.execute("SELECT p.name, c.template_id FROM template_crops c JOIN templates t ON t.id = c.template_id "
                                "JOIN persons p ON p.id = t.person_id ORDER BY c.template_id").fetchall()
        out: dict[str, list[int]] = {}
        for name, tid in rows:
            out.setdefault(str(name), []).append(int(tid))
        return out

    def _jpeg(self, query: str, key: int) -> bytes | None:
        row = self._db.execute(query, (key,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def template_crop(self, template_id: int) -> bytes | None:
        return self._jpeg("SELECT jpeg FROM template_crops WHERE template_id = ?", template_id)

    # --- unknown faces and the event history (kept only when the console is on) ----------------

    def unknown_put(self, face: UnknownFace, fingerprint: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO unknown_faces (at, at_unix, track_id, event_id, embedder_sha256, embedding, jpeg, quality) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (face.at, face.at_unix, face.track_id, face.event_id, fingerprint,
                              np.asarray(face.embedding, np.float32).reshape(-1).tobytes(), face.jpeg, float(face.quality)))
            return int(cur.lastrowid or 0)

    def unknown_faces(self, fingerprint: str, *, ignored: bool = False) -> list[UnknownFace]:
        """Unknown faces made with embedder ``fingerprint``, oldest first (``ignored``: those set aside instead)."""
        rows = self._db.execute("SELECT id, at, at_unix, track_id, event_id, embedding, quality FROM unknown_faces "
                                "WHERE embedder_sha256 = ? AND ignored = ? ORDER BY at_unix, id", (fingerprint, int(ignored))).fetchall()
        return [UnknownFace(at, at_unix, np.frombuffer(blob, np.float32).copy(), b"", q, track, ev, fid)
                for fid, at, at_unix, track, ev, blob, q in rows]

    def unknown_crop(self, face_id: int) -> bytes | None:
        return self._jpeg("SELECT jpeg FROM unknown_faces WHERE id = ?", face_id)

    def name_unknown(self, face_ids: Sequence[int], name: str, fingerprint: str, *, templates: int = 5) -> int:
        """Enrol a group of unknown faces as ``name``: the ``templates`` clearest of them become
        templates (with their crops), and the whole group leaves the unknown faces; one
        transaction. Returns how many templates were added."""
        ids = sorted({int(i) for i in face_ids})
        if not ids:
            raise StoreError("no unknown faces given to name; pick a group on the unknown faces page")
        marks = ",".join("?" * len(ids))
        with self._tx() as db:
            rows = db.execute(f"SELECT embedding, jpeg, at FROM unknown_faces WHERE id IN ({marks}) AND embedder_sha256 = ? "
                              f"ORDER BY quality DESC LIMIT ?", (*ids, fingerprint, templates)).fetchall()
            if not rows:
                raise StoreError("those unknown faces are no longer stored (named, ignored or past their retention); reload the page")
            checked = [(person_name(name), np.frombuffer(blob, np.float32), f"unknown face of {at}") for blob, _, at in rows]
            added = self._add_templates(db, checked, fingerprint, False, [bytes(j) for _, j, _ in rows])
            db.execute(f"DELETE FROM unknown_faces WHERE id IN ({marks})", ids)
        return added

    def ignore_unknown(self, face_ids: Sequence[int]) -> int:
        """Set unknown faces aside (not shown as groups to name; deleted at their retention)."""
        ids = [int(i) for i in face_ids]
        with self._tx() as db:
            return int(db.execute(f"UPDATE unknown_faces SET ignored = 1 WHERE id IN ({','.join('?' * len(ids))})", ids).rowcount) if ids else 0

    def event_log_put(self, e: LoggedEvent) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO event_log (at, at_unix, event_id, type, person, similarity, track_id, jpeg) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (e.at, e.at_unix, e.event_id, e.type, e.person, e.similarity, e.track_id, e.jpeg))

    def event_log(self, limit: int = 200, since_unix: float | None = None) -> list[LoggedEvent]:
        """The newest ``limit`` events of the history (since ``since_unix``), newest first, without thumbnails."""
        rows = self._db.execute("SELECT id, at, at_unix, event_id, type, person, similarity, track_id, jpeg IS NOT NULL FROM event_log "
                                "WHERE at_unix >= ? ORDER BY at_unix DESC, id DESC LIMIT ?", (since_unix or 0.0, limit)).fetchall()
        return [LoggedEvent(at, at_unix, ev, t, p, s, tr, b"" if has else None, i) for i, at, at_unix, ev, t, p, s, tr, has in rows]

    def event_crop(self, event_row: int) -> bytes | None:
        return self._jpeg("SELECT jpeg FROM event_log WHERE id = ?", event_row)

    def prune_history(self, *, events_before_unix: float, unknown_before_unix: float) -> tuple[int, int]:
        """Retention: delete history events and unknown faces older than the given times; returns how many of each."""
        with self._tx() as db:
            ev = db.execute("DELETE FROM event_log WHERE at_unix < ?", (events_before_unix,)).rowcount
            uf = db.execute("DELETE FROM unknown_faces WHERE at_unix < ?", (unknown_before_unix,)).rowcount
        return int(ev), int(uf)

    # --- event outbox -------------------------------------------------------------------------

    def outbox_put(self, event_id: str, topic: str, payload: str, max_events: int, audit: AuditEntry | None = None) -> int:
        """Store an event before publishing it (and its door audit entry, in the same
        transaction). When the outbox is full the oldest entries are dropped (returned count,
        for the log). A repeated ``event_id`` is stored once."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO outbox (event_id, topic, payload, created_at) VALUES (?, ?, ?, ?)", (event_id, topic, payload, _now()))
            if audit is not None:
                self._insert_audit(db, audit)
            n = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            drop = max(0, n - max_events)
            if drop:
                db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (drop,))
        return drop

    def outbox_pending(self, limit: int = 100) -> list[OutboxEntry]:
        rows = self._db.execute("SELECT seq, event_id, topic, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxEntry(*r) for r in rows]

    def outbox_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def outbox_ack(self, seq: int) -> None:
        """Remove an event once the broker acknowledged it (QoS 1 PUBACK)."""
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    # --- door audit log and kill switch ---------------------------------------------------------

    @staticmethod
    def _insert_audit(db: sqlite3.Connection, a: AuditEntry) -> None:
        db.execute("INSERT INTO door_audit (at, at_unix, kind, outcome, reason, person, track_id, event_id, evidence) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (a.at, a.at_unix, a.kind, a.outcome, a.reason, a.person, a.track_id, a.event_id,
                    json.dumps(a.evidence, separators=(",", ":"))))

    def audit_put(self, entry: AuditEntry) -> None:
        """An audit entry without an event (a door decision later in a visit, a command)."""
        with self._tx() as db:
            self._insert_audit(db, entry)

    def audit(self, since_unix: float | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first (the newest ``limit`` when given)."""
        q = "SELECT at, at_unix, kind, outcome, reason, person, track_id, event_id, evidence FROM door_audit"
        args: list[Any] = []
        if since_unix is not None:
            q += " WHERE at_unix >= ?"
            args.append(since_unix)
        q += " ORDER BY id DESC"
        if limit is not None:
            q += " LIMIT ?"
            args.append(limit)
        rows = self._db.execute(q, args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8])) for r in reversed(rows)]

    def prune_audit(self, before_unix: float) -> int:
        """Delete audit entries older than ``before_unix`` (retention); returns how many."""
        with self._tx() as db:
            return int(db.execute("DELETE FROM door_audit WHERE at_unix < ?", (before_unix,)).rowcount)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str, audit: AuditEntry | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            if audit is not None:
                self._insert_audit(db, audit)

    def last_person(self) -> str | None:
        """The last person announced (kept across restarts for Home Assistant's 'last person')."""
        return self._meta("last_person")

    def set_last_person(self, name: str) -> None:
        self._set_meta("last_person", name)

    def last_seen(self) -> dict[str, str]:
        """When each person was last matched (ISO 8601 UTC), for Home Assistant's 'last seen';
        follows renames, goes with the person."""
        rows = self._db.execute("SELECT p.name, s.at FROM person_seen s JOIN persons p ON p.id = s.person_id").fetchall()
        return {str(n): str(at) for n, at in rows}

    def set_seen(self, name: str, at: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO person_seen SELECT id, ? FROM persons WHERE name = ?", (at, name))

    def announced(self) -> list[str] | None:
        """The people whose Home Assistant entities were last announced (so entities of people
        removed while the daemon was stopped are removed at its next start); ``None`` before this
        store's unit ever announced its discovery."""
        raw = self._meta("ha_people")
        return None if raw is None else [str(n) for n in json.loads(raw)]

    def set_announced(self, names: Sequence[str]) -> None:
        self._set_meta("ha_people", json.dumps(sorted(set(names))))

    def door_enabled(self) -> bool:
        """The kill switch: False once disabled, until enabled again (survives restarts)."""
        return self._meta("door_enabled") != "0"

    def set_door_enabled(self, enabled: bool, audit: AuditEntry | None = None) -> None:
        self._set_meta("door_enabled", "1" if enabled else "0", audit)

    def console_password_hash(self) -> str | None:
        """The web console's password, as the salted hash ``edgeface console --set-password`` stored."""
        return self._meta("console_password")

    def set_console_password_hash(self, hashed: str) -> None:
        self._set_meta("console_password", hashed)

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

