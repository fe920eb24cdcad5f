"""The images the shipped models were calibrated and checked on.

``tools/data/images/`` holds downscaled copies (long side <= 800 px, JPEG) of the
photos in the project's shared face set, with ``index.csv`` giving, per file, the
source path, identity, role and split:

* ``calib``: images used to calibrate int8 ranges (faces with no identity label,
  group photos, and the no-face scenes);
* ``fidelity``: the labelled identity photos used in ``pairs.csv``; never used
  for calibration, only to measure int8 against float.

``python -m tools.dataset --shared ../shared/faces`` re-creates the folder.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.image import load_image

DATA = Path(__file__).resolve().parent / "data"
IMAGES = DATA / "images"
INDEX = DATA / "index.csv"
PAIRS = DATA / "pairs.csv"
MAX_SIDE = 800


@dataclass(frozen=True)
class Item:
    file: str  # relative to tools/data/images
    source: str  # path inside the shared face set
    identity: str
    role: str
    split: str


def _split(role: str) -> str | None:
    if role == "id":
        return "fidelity"
    if role in ("noid", "multi", "noface", "inferred"):
        return "calib"
    return None  # variants are re-encodings of identity photos: left out of both sets


def prepare(shared: Path) -> int:
    """Copy and downscale the shared face set into tools/data (run once; the result is committed)."""
    with open(shared / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    if IMAGES.exists():
        shutil.rmtree(IMAGES)
    IMAGES.mkdir(parents=True)
    items = []
    for r in rows:
        split = _split(r["role"])
        if split is None:
            continue
        img = load_image(shared / r["file"])
        h, w = img.shape[:2]
        s = min(1.0, MAX_SIDE / max(h, w))
        if s < 1.0:
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        name = r["file"].replace("images/", "").replace("/", "__").rsplit(".", 1)[0] + ".jpg"
        cv2.imwrite(str(IMAGES / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        items.append(Item(name, r["file"], r["identity"], r["role"], split))
    with open(INDEX, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["file", "source", "identity", "role", "split", "source_sha256"])
        for it in items:
            digest = hashlib.sha256((shared / it.source).read_bytes()).hexdigest()
            wr.writerow([it.file, it.source, it.identity, it.role, it.split, digest])
    by_source = {it.source: it.file for it in items}
    with open(shared / "pairs.csv") as f, open(PAIRS, "w", newline="") as g:
        wr = csv.writer(g)
        wr.writerow(["file_a", "file_b", "same"])
        for r in csv.DictReader(f):
            if r["file_a"] in by_source and r["file_b"] in by_source:
                wr.writerow([by_source[r["file_a"]], by_source[r["file_b"]], r["same"]])
    return len(items)


def items(split: str | None = None) -> list[Item]:
    with open(INDEX) as f:
        out = [Item(r["file"], r["source"], r["identity"], r["role"], r["split"]) for r in csv.DictReader(f)]
    return [i for i in out if split is None or i.split == split]


def pairs() -> list[tuple[str, str, bool]]:
    with open(PAIRS) as f:
        return [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(f)]


def load(item: Item | str) -> np.ndarray:
    return load_image(IMAGES / (item.file if isinstance(item, Item) else item))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, required=True, help="the shared face set (folder with labels.csv)")
    n = prepare(ap.parse_args().shared)
    print(f"wrote {n} images to {IMAGES}")
