"""Folder galleries: one subfolder per person, embeddings cached next to the photos.

The cache (``.edgeface-gallery.npz`` inside the folder, no pickle) holds every photo's
embedding with the photo's size and modification time, and the embedder's sha256.
Only new or changed photos are embedded again; a cache made by another model is rebuilt.

A photo with several faces does not silently become its folder's person: its one face that
matches the person's single-face photos (cosine at or above ``same_person``) is taken, with a
warning; when none or several match, or the person has no single-face photo, it is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.errors import FingerprintError, GalleryError, ImageError, NoFaceError
from edge.files import owner_only_atomic
from edge.image import IMAGE_SUFFIXES
from edge.match import Gallery, template_problem

log = logging.getLogger(__name__)

CACHE_NAME = ".edgeface-gallery.npz"

Embed = Callable[[Path], list[NDArray[np.float32]]]  # photo -> embeddings of its faces, largest first


@dataclass(frozen=True)
class IndexStats:
    embedded: int
    reused: int
    skipped: tuple[str, ...]  # photos with no readable face, relative paths


def _photos(folder: Path) -> list[tuple[str, str, Path]]:
    """(relative path, identity, path) for every photo in a subfolder of ``folder``."""
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                out.append((f.relative_to(folder).as_posix(), sub.name, f))
    return out


def _read_npz(path: Path) -> tuple[dict[str, Any], NDArray[np.float32]]:
    """(meta, embeddings) of a gallery file; OSError / ValueError / KeyError when it is not one."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(bytes(z["meta"]).decode()), np.asarray(z["embeddings"], np.float32)


def _read_cache(path: Path, fingerprint: str) -> dict[str, tuple[int, int, NDArray[np.float32]]]:
    """{relative path: (size, mtime_ns, embedding)} from a cache of this embedder, else empty."""
    if not path.exists():
        return {}
    try:
        meta, emb = _read_npz(path)
    except (OSError, ValueError, KeyError) as e:
        log.warning("gallery cache %s is unreadable (%s); rebuilding it", path, e)
        return {}
    if meta.get("fingerprint") != fingerprint:
        log.warning("gallery cache %s was made by another embedder model; rebuilding it", path)
        return {}
    files = meta.get("files", [])
    if len(files) != len(emb):
        log.warning("gallery cache %s is inconsistent; rebuilding it", path)
        return {}
    return {f["path"]: (int(f["size"]), int(f["mtime_ns"]), emb[i]) for i, f in enumerate(files)}


def _write_npz(path: Path, fingerprint: str, rows: list[tuple[str, str, int, int, NDArray[np.float32]]], dim: int) -> None:
    """Write a gallery file atomically (temp file, then rename), readable by its owner only (it holds
    face embeddings); raises OSError."""
    meta = {"fingerprint": fingerprint, "files": [{"path": r, "identity": i, "size": s, "mtime_ns": m} for r, i, s, m, _ in rows]}
    emb = np.stack([e for *_, e in rows]).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
    with owner_only_atomic(path) as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), embeddings=emb)


def _write_cache(path: Path, fingerprint: str, rows: list[tuple[str, str, int, int, NDArray[np.float32]]], dim: int) -> None:
    try:
        _write_npz(path, fingerprint, rows, dim)
    except OSError as e:  # a read-only gallery still works, only slower next time
        log.warning("cannot write gallery cache %s (%s); embeddings will be computed again next time", path, e.strerror)


def save_gallery_file(path: str | Path, gallery: Gallery) -> None:
    """Export ``gallery`` as a gallery file (the format :func:`load_gallery_file` reads)."""
    p = Path(path)
    rows = [(f"{ident}/{i}", ident, 0, 0, gallery.embeddings[i]) for i, ident in enumerate(gallery.identities)]
    try:
        _write_npz(p, gallery.fingerprint, rows, int(gallery.embeddings.shape[1]) if len(gallery) else 0)
    except OSError as e:
        raise GalleryError(f"cannot write {p} ({e.strerror}); expected a writable path ending in .npz") from e


def load_gallery_file(path: str | Path, fingerprint: str, dim: int | None = None) -> Gallery:
    """A gallery file (a folder's ``.edgeface-gallery.npz``, or an export from another unit).
    Refused when it was made by another embedder model than ``fingerprint``, or when any of its
    templates is unusable (:func:`edge.match.template_problem`: NaN, not ``dim`` values, not unit length)."""
    p = Path(path)
    expected = f"expected a {CACHE_NAME} or an export written by edgeface persons export"
    if p.is_dir():
        raise GalleryError(f"{p} is a folder; {expected}")
    try:
        with open(p, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # what np.savez writes; anything else np.load would try to unpickle
                raise GalleryError(f"{p}: not an edgeface gallery file (not a .npz archive); {expected}")
        meta, emb = _read_npz(p)
    except FileNotFoundError:
        raise GalleryError(f"{p}: no such gallery file") from None
    except (OSError, ValueError, KeyError) as e:
        raise GalleryError(f"{p}: not an edgeface gallery file ({e}); {expected}") from e
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("identity"), str) for f in files):
        raise GalleryError(f"{p}: not an edgeface gallery file (its list of identities is missing or malformed); {expected}")
    if meta.get("fingerprint") != fingerprint:
        raise FingerprintError(
            f"{p} was made by embedder model {str(meta.get('fingerprint'))[:12]}…, this one is {fingerprint[:12]}…; "
            "embeddings of different models cannot be compared. Re-index the gallery's photos with this model."
        )
    if emb.ndim != 2 or emb.shape[0] != len(files):
        raise GalleryError(f"{p}: {len(files)} identities but embeddings of shape {emb.shape}; the file is damaged, export it again")
    bad = [(i, f["identity"], why) for i, f in enumerate(files) if (why := template_problem(emb[i], dim))]
    if bad:
        i, who, why = bad[0]
        raise GalleryError(f"{p}: {len(bad)} of its {len(files)} templates are unusable (the first, #{i + 1} of {who!r}: {why}); "
                           "the file was refused as a whole. Export the gallery again from the unit that made it")
    return Gallery(tuple(f["identity"] for f in files), emb, fingerprint)


def index_folder(folder: str | Path, embed: Embed, fingerprint: str, dim: int, same_person: float,
                 progress: Callable[[int, int], None] | None = None) -> tuple[Gallery, IndexStats]:
    """Build (or refresh) the gallery of ``folder``; ``embed`` gives a photo's face embeddings."""
    root = Path(folder)
    if not root.is_dir():
        raise GalleryError(f"{root}: expected a gallery folder with one subfolder of photos per person")
    photos = _photos(root)
    if not photos:
        raise GalleryError(f"{root}: no photos found; expected subfolders named after people, holding their photos")
    cache_path = root / CACHE_NAME
    cached = _read_cache(cache_path, fingerprint)
    rows: list[tuple[str, str, int, int, NDArray[np.float32]]] = []
    groups: list[tuple[str, str, int, int, list[NDArray[np.float32]]]] = []
    embedded = reused = 0
    skipped = []
    for n, (rel, identity, path) in enumerate(photos, 1):
        st = path.stat()
        hit = cached.get(rel)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            rows.append((rel, identity, st.st_size, st.st_mtime_ns, hit[2]))
            reused += 1
        else:
            try:
                faces = embed(path)
            except (NoFaceError, ImageError) as e:
                log.warning("gallery photo %s skipped: %s", rel, e)
                skipped.append(rel)
                faces = []
            if len(faces) == 1:
                rows.append((rel, identity, st.st_size, st.st_mtime_ns, faces[0]))
                embedded += 1
            elif faces:
                groups.append((rel, identity, st.st_size, st.st_mtime_ns, faces))
        if progress:
            progress(n, len(photos))
    for rel, identity, size, mtime, faces in groups:
        chosen = _face_of(identity, faces, [r[4] for r in rows if r[1] == identity], same_person)
        if chosen is None:
            log.warning("gallery photo %s skipped: it shows %d faces and not exactly one of them matches %s's "
                        "single-face photos; crop it to this person's face", rel, len(faces), identity)
            skipped.append(rel)
            continue
        log.warning("gallery photo %s shows %d faces; took the one that matches %s's other photos", rel, len(faces), identity)
        rows.append((rel, identity, size, mtime, chosen))
        embedded += 1
    if embedded or len(rows) != len(cached) or not cache_path.exists():
        _write_cache(cache_path, fingerprint, rows, dim)
    gallery = Gallery(tuple(r[1] for r in rows), np.stack([r[4] for r in rows]) if rows else np.zeros((0, dim), np.float32), fingerprint)
    return gallery, IndexStats(embedded, reused, tuple(skipped))


def _face_of(identity: str, faces: list[NDArray[np.float32]], references: list[NDArray[np.float32]], same_person: float) -> NDArray[np.float32] | None:
    """The one face of a group photo that matches the person's references, else None."""
    if not references:
        return None
    sims = np.stack(faces) @ np.stack(references).T
    matching = np.nonzero(sims.max(axis=1) >= same_person)[0]
    return faces[int(matching[0])] if len(matching) == 1 else None
