"""Labelled photo sets for calibration and evaluation: who is in each photo, embedded under door conditions.

A set is a CSV with columns ``file`` (relative to ``root``) and ``identity`` (optionally ``role``:
``id``/``inferred`` rows are identities, ``noid`` rows are faces of nobody else in the set and
serve as impostors against every identity, other roles such as ``variant``, ``multi`` or
``noface`` are left out), or a folder with one subfolder of photos per identity. Each photo
contributes its largest face. Pairs are scored per condition: clean photo against clean photo,
and (for each degradation in :data:`edge.degrade.DOOR_CONDITIONS`) a degraded probe against
every other clean photo, as a door camera's frame meets an enrolment photo.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.degrade import DOOR_CONDITIONS
from edge.domain import Embedding
from edge.errors import DatasetError, ImageError
from edge.image import IMAGE_SUFFIXES, ImageInput, load_image

log = logging.getLogger(__name__)

IDENTITY_ROLES = ("id", "inferred")
UNLABELLED_ROLES = ("noid",)

#: One photo in, the embedding of its largest detection out (None: nothing detected).
EmbedFn = Callable[[ImageInput], Embedding | None]

#: Bumped when the way photos are embedded changes (2: clean photos are read from their files, as
#: users give them, so large JPEGs are decoded at reduced size), so that old caches are not reused.
EMBEDDING_REVISION = 2


@dataclass(frozen=True)
class Photo:
    """``identity`` None: a face of nobody labelled in the set (an impostor for every identity,
    never paired with another unlabelled face, which might be the same stranger)."""

    path: Path
    identity: str | None
    group: str  # the set (and sub-folder) it came from, for per-group reports


def read_labels(csv_path: str | Path, root: str | Path | None = None) -> list[Photo]:
    """Photos of a labels CSV (columns ``file``, ``identity``, optional ``role``)."""
    p = Path(csv_path)
    base = Path(root) if root else p.parent
    try:
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"{p}: cannot read the labels file ({e.strerror})") from e
    if not rows or not {"file", "identity"} <= set(rows[0]):
        found = sorted(k for k in rows[0] if k) if rows else "no rows"
        raise DatasetError(f"{p}: expected a CSV with columns file and identity (optional: role), found {found}")
    out = []
    for n, r in enumerate(rows, 2):
        if r.get("file") is None or r.get("identity") is None:
            raise DatasetError(f"{p}, line {n}: expected values for file and identity, found a short row {r}; fix or remove the line")
        role = (r.get("role") or "id").strip()
        if role not in IDENTITY_ROLES + UNLABELLED_ROLES:
            continue
        identity = r["identity"].strip() if role in IDENTITY_ROLES else None
        if role in IDENTITY_ROLES and not identity:
            raise DatasetError(f"{p}, line {n}: a photo with role {role!r} needs an identity")
        parts = Path(r["file"]).parts  # images/<set>/<identity>/<file> names a sub-set
        group = p.parent.name + (f"/{parts[-3]}" if len(parts) >= 4 else "")
        out.append(Photo(base / r["file"], identity, group if identity is not None else f"{p.parent.name}/unlabelled"))
    return out


def read_folder(folder: str | Path) -> list[Photo]:
    """Photos of a folder with one subfolder per identity."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: expected a folder with one subfolder of photos per person, or a labels CSV")
    out = [
        Photo(f, sub.name, root.name)
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for f in sorted(sub.rglob("*"))
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not out:
        raise DatasetError(f"{root}: no photos found; expected subfolders named after people, holding their photos")
    return out


def read_set(source: str | Path, root: str | Path | None = None) -> list[Photo]:
    """A labels CSV (with ``root``, default its folder) or a folder of identity subfolders."""
    p = Path(source)
    return read_labels(p, root) if p.is_file() else read_folder(p)


@dataclass(frozen=True)
class Embedded:
    """Embeddings of ``photos`` per condition: ``vectors[c]`` is [N, D] (zero rows where
    ``found[c]`` is False: no face), ``norms[c]`` the embeddings' lengths before normalisation."""

    photos: tuple[Photo, ...]
    vectors: dict[str, NDArray[np.float32]]
    found: dict[str, NDArray[np.bool_]]
    norms: dict[str, NDArray[np.float32]]

    @classmethod
    def from_rows(cls, photos: Sequence[Photo], rows: dict[str, list[Embedding | None]]) -> Embedded:
        """From one embedding (or None: no face) per photo and condition."""
        dim = next((len(e.vector) for r in rows.values() for e in r if e is not None), 0)
        if not dim:
            raise DatasetError("no face was found in any photo; check the paths (--root) and the photos")
        vectors = {c: np.stack([e.vector if e is not None else np.zeros(dim, np.float32) for e in r]).astype(np.float32) for c, r in rows.items()}
        found = {c: np.array([e is not None for e in r]) for c, r in rows.items()}
        norms = {c: np.array([e.norm if e is not None else 0.0 for e in r], np.float32) for c, r in rows.items()}
        return cls(tuple(photos), vectors, found, norms)

    def no_face(self, condition: str) -> list[Path]:
        return [p.path for p, ok in zip(self.photos, self.found[condition], strict=True) if not ok]

    def subset(self, keep: NDArray[np.bool_]) -> Embedded:
        """Only the photos where ``keep`` is True."""
        idx = np.nonzero(keep)[0]
        return Embedded(tuple(self.photos[i] for i in idx), {c: v[idx] for c, v in self.vectors.items()},
                        {c: f[idx] for c, f in self.found.items()}, {c: n[idx] for c, n in self.norms.items()})

    def with_face_floor(self, min_norm: float) -> Embedded:
        """The same, with detections whose norm is below ``min_norm`` counted as no face."""
        return Embedded(self.photos, self.vectors, {c: f & (self.norms[c] >= min_norm) for c, f in self.found.items()}, self.norms)


def _cache_key(photos: Sequence[Photo], conditions: Sequence[str], seed: int, fingerprint: str) -> str:
    h = hashlib.sha256(json.dumps([fingerprint, list(conditions), seed, EMBEDDING_REVISION]).encode())
    for p in photos:
        st = p.path.stat()
        h.update(f"{p.path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def embed_set(photos: Sequence[Photo], embed: EmbedFn, *, conditions: Iterable[str] = ("clean",), seed: int = 0,
              fingerprint: str = "", cache: Path | None = None, progress: Callable[[int, int], None] | None = None) -> Embedded:
    """Embed every photo under every condition (degradations with a fixed ``seed``). ``cache``: an
    .npz file reused when photos, conditions, seed and ``fingerprint`` (the models) are unchanged."""
    conds = list(conditions)
    unknown = [c for c in conds if c not in DOOR_CONDITIONS]
    if unknown:
        raise DatasetError(f"unknown condition(s) {unknown}; choose from {list(DOOR_CONDITIONS)}")
    key = _cache_key(photos, conds, seed, fingerprint) if cache else ""
    if cache and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return Embedded(tuple(photos), {c: z[f"v_{c}"] for c in conds}, {c: z[f"f_{c}"] for c in conds}, {c: z[f"n_{c}"] for c in conds})
        except (OSError, ValueError, KeyError) as e:
            log.warning("embedding cache %s unusable (%s); embedding again", cache, e)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Embedding | None]] = {c: [] for c in conds}
    frames = any(c != "clean" for c in conds)  # a degraded condition needs the decoded array
    for n, photo in enumerate(photos, 1):
        try:
            image = load_image(photo.path) if frames else None
        except ImageError as e:
            log.warning("%s", e)
            for c in conds:
                rows[c].append(None)
            continue
        for c in conds:
            # clean: the photo's file, as a user gives it (a large JPEG is decoded at reduced size);
            # the others: a camera frame of it, an array (the daemon's path)
            if c == "clean":
                try:
                    rows[c].append(embed(photo.path))
                except ImageError as e:
                    log.warning("%s", e)
                    rows[c].append(None)
            else:
                assert image is not None  # decoded above: ``frames`` holds
                rows[c].append(embed(DOOR_CONDITIONS[c](image, rng)))
        if progress:
            progress(n, len(photos))
    emb = Embedded.from_rows(photos, rows)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"key": np.array(key), **{f"v_{c}": v for c, v in emb.vectors.items()},
                                  **{f"f_{c}": f for c, f in emb.found.items()}, **{f"n_{c}": n for c, n in emb.norms.items()}}
        np.savez(cache, **arrays)
    return emb


@dataclass(frozen=True)
class PairScores:
    """Cosine similarities of impostor and genuine pairs per condition ("clean": clean vs clean,
    each pair once; other conditions: every degraded probe against every other clean photo)."""

    impostors: dict[str, NDArray[np.float32]]
    genuines: dict[str, NDArray[np.float32]]
    identities: int
    photos: int


def _codes(photos: Sequence[Photo], unsure: Sequence[Sequence[str]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per photo: an identity code (-1: unlabelled) and an "unsure group" code (-1: none)."""
    names = sorted({p.identity for p in photos if p.identity is not None})
    index = {n: i for i, n in enumerate(names)}
    ident = np.array([index[p.identity] if p.identity is not None else -1 for p in photos], np.int64)
    group_of = {name: g for g, names_ in enumerate(unsure) for name in names_}
    grp = np.array([group_of.get(p.identity, -1) if p.identity is not None else -1 for p in photos], np.int64)
    return ident, grp


def pair_scores(emb: Embedded, unsure: Sequence[Sequence[str]] = (), block: int = 512) -> PairScores:
    """Impostor and genuine similarities per condition. ``unsure``: groups of identities that may
    be one person (their cross pairs are left out). Two unlabelled faces are never paired."""
    ident, grp = _codes(emb.photos, unsure)
    clean = emb.vectors["clean"]
    ok_clean = emb.found["clean"]
    imp: dict[str, list[NDArray[np.float32]]] = {c: [] for c in emb.vectors}
    gen: dict[str, list[NDArray[np.float32]]] = {c: [] for c in emb.vectors}
    n = len(emb.photos)
    cols = np.arange(n)
    for c, vecs in emb.vectors.items():
        ok = emb.found[c]
        for start in range(0, n, block):
            rows = np.arange(start, min(n, start + block))
            sims = vecs[rows] @ clean.T
            valid = ok[rows][:, None] & ok_clean[None, :]
            valid &= (cols[None, :] > rows[:, None]) if c == "clean" else (cols[None, :] != rows[:, None])
            a, b = ident[rows][:, None], ident[None, :]
            valid &= (a >= 0) | (b >= 0)  # never two unlabelled faces
            ga, gb = grp[rows][:, None], grp[None, :]
            valid &= ~((ga >= 0) & (ga == gb) & (a != b))
            same = (a == b) & (a >= 0)
            imp[c].append(sims[valid & ~same].astype(np.float32))
            gen[c].append(sims[valid & same].astype(np.float32))
    identities = len({p.identity for p in emb.photos if p.identity is not None})
    return PairScores({c: np.concatenate(v) for c, v in imp.items()}, {c: np.concatenate(v) for c, v in gen.items()}, identities, n)
