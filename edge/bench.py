"""``edgeface bench``: per-stage latency of the device pipeline, and a peer comparison.

Stages (median and p95 over repeats, milliseconds): decode (JPEG bytes -> BGR), detect
(letterbox + int8 YuNet + decoding + NMS), align, embed, attributes (age + gender + emotion
of one face), match against 1k and 100k stored embeddings; then end to end: one face in a
640x480 frame (detect + align + embed + match 1k), ``verify`` of two JPEG files, and images
per second over the bundled photos. When the ``face_recognition`` package is installed
(development only, never a dependency), its HOG detector + dlib ResNet encoder run on the
same photos for a speed ratio.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.api import Recognizer
from edge.image import load_image
from edge.match import Gallery
from edge.runtime import runtime_name

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PHOTOS = ["face_recognition__obama.jpg", "face_recognition__obama2.jpg", "face_recognition__biden.jpg", "insightface__1423.jpg", "insightface__7242.jpg", "insightface__t1.jpg"]


def time_it(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median and p95 wall time of ``fn`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000.0)
    ts.sort()
    return {"median_ms": statistics.median(ts), "p95_ms": ts[min(len(ts) - 1, int(0.95 * len(ts)))]}


def _random_gallery(n: int, dim: int, fingerprint: str) -> Gallery:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(n, dim)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return Gallery(tuple(f"person{i // 5}" for i in range(n)), e, fingerprint)


def bench_threads(threads: int, photos: list[Path], repeats: int) -> dict[str, Any]:
    rec = Recognizer(threads=threads)
    det, emb = rec.detector, rec.embedder
    age, gender, emotion = rec._get("age"), rec._get("gender"), rec._get("emotion")
    raw = photos[0].read_bytes()
    img = load_image(raw)
    face = rec.extract_faces(img)[0].detection
    crop = emb.crop(img, face)
    probe = emb.embed_crop(crop)
    g1k, g100k = _random_gallery(1_000, probe.size, emb.fingerprint), _random_gallery(100_000, probe.size, emb.fingerprint)
    frame = cv2.resize(img, (640, 480))
    thr = emb.threshold

    def attributes() -> None:
        age.age(age.crop(img, face))  # type: ignore[attr-defined]
        gender.classify(gender.crop(img, face))  # type: ignore[attr-defined]
        emotion.classify(emotion.crop(img, face))  # type: ignore[attr-defined]

    def frame_pipeline() -> None:
        dets = det.detect(frame)
        if dets:
            g1k.search(emb.embed_crop(emb.crop(frame, dets[0])), thr)

    decoded = [(p, load_image(p)) for p in photos]

    def all_photos() -> None:
        for _, im in decoded:
            for d in det.detect(im):
                emb.embed_crop(emb.crop(im, d))

    stages = {
        "decode": time_it(lambda: load_image(raw), repeats),
        "detect": time_it(lambda: det.detect(img), repeats),
        "align": time_it(lambda: emb.crop(img, face), repeats),
        "embed": time_it(lambda: emb.embed_crop(crop), repeats),
        "attributes": time_it(attributes, repeats),
        "match_1k": time_it(lambda: g1k.search(probe, thr), repeats),
        "match_100k": time_it(lambda: g100k.search(probe, thr), max(5, repeats // 4)),
        "frame_640x480_detect_align_embed_match": time_it(frame_pipeline, repeats),
        "verify_two_jpeg_files": time_it(lambda: rec.verify(photos[0], photos[1]), max(5, repeats // 4)),
    }
    t = time.perf_counter()
    all_photos()
    per_s = len(decoded) / (time.perf_counter() - t)
    return {"threads": threads, "stages": stages, "photos_per_s": per_s}


def bench_face_recognition(photos: list[Path]) -> dict[str, Any] | None:
    try:
        import face_recognition
    except ImportError:
        return None
    images = [face_recognition.load_image_file(str(p)) for p in photos]

    def run() -> None:
        for im in images:
            locs = face_recognition.face_locations(im, model="hog")
            face_recognition.face_encodings(im, locs)

    run()
    t = time.perf_counter()
    run()
    return {"photos_per_s": len(images) / (time.perf_counter() - t)}


def run(repeats: int = 50, photos: list[Path] | None = None) -> dict[str, Any]:
    files = photos or [DATA / p for p in PHOTOS]
    res: dict[str, Any] = {
        "machine": {"arch": platform.machine(), "python": platform.python_version(), "runtime": runtime_name()},
        "photos": [p.name for p in files],
        "results": [bench_threads(t, files, repeats) for t in (1, 2)],
    }
    peer = bench_face_recognition(files)
    if peer:
        res["face_recognition"] = peer
        res["speed_ratio_vs_face_recognition"] = {r["threads"]: r["photos_per_s"] / peer["photos_per_s"] for r in res["results"]}
    return res
