"""``edgeface bench``: per-stage latency of the device pipeline, and a peer comparison.

Liveness (``liveness_per_frame``: the anti-spoof models and the face mesh on one face;
``liveness_per_matched_track``: a whole matched track judged) runs only on tracks that matched, so
``--daemon`` also runs the clip with liveness on, against the same runs without it.

Stages (median and p95 over repeats, milliseconds): decode (JPEG bytes -> BGR), detect
(letterbox + int8 YuNet + decoding + NMS), align, embed, attributes (age + gender + emotion
of one face), match against 1k and 100k stored embeddings; then end to end: one face in a
640x480 frame (detect + align + embed + match 1k), ``verify`` of two JPEG files, and images
per second over the bundled photos; then the photo pass (:func:`photo_pass`): ``represent()`` over
every photo of a folder (``--images DIR``; default the bundled ``tests/data``), decode included,
against OpenCV's own fp32 YuNet + SFace on the same weights (:mod:`edge.apps.peer`) when its ONNX
files are in ``build/peer``. When the ``face_recognition`` package is installed
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
from edge.apps.peer import OpenCVPipeline
from edge.errors import ConfigError
from edge.image import IMAGE_SUFFIXES, load_image, load_view
from edge.match import Gallery
from edge.resources import checkout
from edge.runtime import runtime_name

DATA = checkout() / "tests" / "data"  # the bundled photos (a checkout's; a wheel has none)
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
    age, gender, emotion = rec.stages.age, rec.stages.gender, rec.stages.emotion
    raw = photos[0].read_bytes()
    img = load_image(raw)
    face = rec.extract_faces(img)[0].detection
    crop = emb.crop(img, face)
    probe = emb.embed_crop(crop)
    g1k, g100k = _random_gallery(1_000, probe.size, emb.fingerprint), _random_gallery(100_000, probe.size, emb.fingerprint)
    frame = cv2.resize(img, (640, 480))
    thr = emb.threshold

    def attributes() -> None:
        age.age(age.crop(img, face))
        gender.classify(gender.crop(img, face))
        emotion.classify(emotion.crop(img, face))

    def frame_pipeline() -> None:
        dets = det.detect(frame)
        if dets:
            g1k.search(emb.embed_crop(emb.crop(frame, dets[0])), thr)

    decoded = [(p, load_image(p)) for p in photos]

    def all_photos() -> None:
        for _, im in decoded:
            for d in det.detect(im):
                emb.embed_crop(emb.crop(im, d))

    blaze = Recognizer(threads=threads, detector="blazeface").detector
    judge = rec.liveness_judge()
    frames_per_track = judge.params.frames

    def liveness_frame() -> None:  # one frame of a matched track: anti-spoof models + face mesh
        judge.observe(0, img, face, 0.0)
        judge.reset()

    def liveness_track() -> None:  # a whole matched track: every frame observed, then judged
        for i in range(frames_per_track):
            judge.observe(1, img, face, i / 15.0)
        judge.reset()

    stages = {
        "decode": time_it(lambda: load_image(raw), repeats),
        "detect": time_it(lambda: det.detect(img), repeats),
        "detect_blazeface": time_it(lambda: blaze.detect(img), repeats),
        "align": time_it(lambda: emb.crop(img, face), repeats),
        "embed": time_it(lambda: emb.embed_crop(crop), repeats),
        "attributes": time_it(attributes, repeats),
        "match_1k": time_it(lambda: g1k.search(probe, thr), repeats),
        "match_100k": time_it(lambda: g100k.search(probe, thr), max(5, repeats // 4)),
        "liveness_per_frame": time_it(liveness_frame, repeats),
        f"liveness_per_matched_track_{frames_per_track}_frames": time_it(liveness_track, max(5, repeats // 5)),
        "frame_640x480_detect_align_embed_match": time_it(frame_pipeline, repeats),
        "verify_two_jpeg_files": time_it(lambda: rec.verify(photos[0], photos[1]), max(5, repeats // 4)),
    }
    per_s = len(decoded) / (time_it(all_photos, 7)["median_ms"] / 1000.0)  # median of 7 passes
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

    return {"photos_per_s": len(images) / (time_it(run, 3, warmup=1)["median_ms"] / 1000.0)}  # median of 3 passes


Progress = Callable[[int, int], None]


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (recursively), sorted."""
    if not folder.is_dir():
        raise ConfigError(f"--images {folder}: not a folder; expected a folder of photos (JPEG, PNG, WEBP, BMP, TIFF)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"--images {folder}: no photos found (expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def photo_pass(files: list[Path], threads: int = 2, passes: int = 3, progress: Progress | None = None) -> dict[str, Any]:
    """``represent()`` over every photo file (decode included), against OpenCV's own fp32 pipeline on
    the same weights (:class:`edge.apps.peer.OpenCVPipeline`, largest face) when its ONNX files are
    there: images per second, median of ``passes`` passes, the two alternating; photos with a face;
    and where edgeface's time goes per photo (decode, detect, align, embed: one more pass, timed by stage)."""
    rec = Recognizer(threads=threads)
    peer = OpenCVPipeline.bundled()
    cv2.setNumThreads(threads)
    total = (passes + 1) * (2 if peer else 1) * len(files) + len(files)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    def ours() -> int:
        found = 0
        for p in files:
            found += bool(rec.represent(p, enforce_detection=False))
            tick()
        return found

    def theirs() -> int:
        found = 0
        for p in files:
            found += peer.photo(p) is not None if peer else 0
            tick()
        return found

    found = {"edgeface": ours()}  # warm-up passes, which also count the photos with a face
    if peer:
        found["opencv"] = theirs()
    times: dict[str, list[float]] = {"edgeface": [], "opencv": []}
    for _ in range(passes):
        for name, fn in (("edgeface", ours), ("opencv", theirs)):
            if name == "opencv" and not peer:
                continue
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    per_s = {k: len(files) / statistics.median(v) for k, v in times.items() if v}
    det, emb = rec.detector, rec.embedder
    stage = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}
    faces = 0
    for p in files:
        t0 = time.perf_counter()
        view = load_view(p, lambda: (det.width, det.height), rec.max_pixels)
        t1 = time.perf_counter()
        dets = det.detect_view(view)
        t2 = time.perf_counter()
        crops = [emb.crop_view(view, d) for d in dets]
        t3 = time.perf_counter()
        for c in crops:
            emb.embed(c)
        t4 = time.perf_counter()
        for k, a, b in (("decode", t0, t1), ("detect", t1, t2), ("align", t2, t3), ("embed", t3, t4)):
            stage[k] += (b - a) * 1000.0
        faces += len(dets)
        tick()
    res: dict[str, Any] = {
        "images": len(files), "threads": threads, "passes": passes, "images_with_a_face": found,
        "images_per_s": per_s, "detections": faces,
        "edgeface_ms_per_image": {k: v / len(files) for k, v in stage.items()},
    }
    if peer:
        res["speed_ratio_vs_opencv"] = per_s["edgeface"] / per_s["opencv"]
    return res


def run(repeats: int = 50, photos: list[Path] | None = None, images: Path | None = None,
        progress: Progress | None = None) -> dict[str, Any]:
    files = photos or [DATA / p for p in PHOTOS]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise ConfigError(f"benchmark photos not found: {', '.join(map(str, missing[:3]))}; run the benchmark from a checkout of "
                          "edgeface (its tests/data), or give photos of your own")
    pass_files = image_files(images or DATA)  # a wrong folder is said before the stages run
    res: dict[str, Any] = {
        "machine": {"arch": platform.machine(), "python": platform.python_version(), "runtime": runtime_name()},
        "photos": [p.name for p in files],
        "results": [bench_threads(t, files, repeats) for t in (1, 2)],
    }
    res["photo_pass"] = photo_pass(pass_files, progress=progress)
    res["photo_pass"]["folder"] = str(images or DATA)
    peer = bench_face_recognition(files)
    if peer:
        res["face_recognition"] = peer
        res["speed_ratio_vs_face_recognition"] = {r["threads"]: r["photos_per_s"] / peer["photos_per_s"] for r in res["results"]}
    return res


def _daemon_once(store: Path, port: int, threads: int, workdir: Path, *, realtime: bool = False,
                 sigterm_after_s: float | None = None, liveness: bool = False) -> dict[str, Any]:
    """One ``edgeface run`` process on the bundled clip: its status file, peak RSS and wall times."""
    import json
    import os
    import signal
    import subprocess
    import sys

    import yaml

    from edge.apps.demo import DEMO_DIR
    from edge.unit.config import apply_overrides
    from edge.unit.status import status_path

    cfg = workdir / f"bench-{threads}.yaml"
    data = apply_overrides(yaml.safe_load((DEMO_DIR / "demo.yaml").read_text()),
                           {"camera.realtime": realtime, "models.threads": threads, "liveness.enabled": liveness})
    cfg.write_text(yaml.safe_dump(data))
    status = status_path(store)
    status.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "edge.apps.cli", "run", "--config", str(cfg), "--source", str(DEMO_DIR / "short_hamilton_clip.mp4"),
           "--store", str(store), "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port)]
    errors = workdir / "stderr.txt"
    t0 = time.monotonic()
    with open(errors, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    stop_s = None
    if sigterm_after_s is not None:
        while time.monotonic() - t0 < 60 and proc.poll() is None:
            if status.exists() and json.loads(status.read_text()).get("frames", 0) > 0:
                break
            time.sleep(0.05)
        time.sleep(sigterm_after_s)
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
    _, code, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KiB on Linux)
    proc.returncode = os.waitstatus_to_exitcode(code)
    if sigterm_after_s is not None:
        stop_s = time.monotonic() - t1
    if proc.returncode != 0:
        raise RuntimeError(f"edgeface run failed ({proc.returncode}): {errors.read_text()[-2000:]}")
    st = json.loads(status.read_text())
    return {"status": st, "wall_s": time.monotonic() - t0, "peak_rss_mb": usage.ru_maxrss / 1024,
            "sigterm_to_exit_s": stop_s}


def run_daemon_bench(runs: int = 3) -> dict[str, Any]:
    """``edgeface bench --daemon``: the daemon as a process on the bundled clip (640x360, 275
    frames, every frame processed): sustained frames per second, time from process start to the
    first processed frame, peak RSS, per-stage medians; and SIGTERM-to-exit time. Medians of
    ``runs`` runs per thread count. Events go to a local mosquitto when installed."""
    import shutil
    import tempfile

    from edge.apps.broker import LocalBroker, free_port, mosquitto_binary
    from edge.apps.demo import enroll_demo_gallery

    work = Path(tempfile.mkdtemp(prefix="edgeface-bench-"))
    broker = LocalBroker(work).start() if mosquitto_binary() else None
    try:
        store = work / "bench.db"
        enroll_demo_gallery(store, Recognizer())
        port = broker.port if broker else free_port()
        results = []
        for threads, liveness in ((1, False), (2, False), (1, True), (2, True)):
            once = [_daemon_once(store, port, threads, work, liveness=liveness) for _ in range(runs)]
            sts = [o["status"] for o in once]
            results.append({
                "threads": threads,
                "liveness": liveness,
                "frames": sts[0]["frames"],
                "sustained_fps": statistics.median(s["throughput_fps"] for s in sts),
                "start_to_first_frame_s": statistics.median(s["start_to_first_frame_s"] for s in sts),
                "peak_rss_mb": max(o["peak_rss_mb"] for o in once),
                "faces_per_frame": sts[0]["faces_seen"] / max(sts[0]["frames"], 1),
                "stage_median_ms": {k: statistics.median(s["latency_ms"][k]["median"] for s in sts) for k in sts[0]["latency_ms"]},
                "stage_p95_ms": {k: statistics.median(s["latency_ms"][k]["p95"] for s in sts) for k in sts[0]["latency_ms"]},
                "events": sts[0]["events"],
            })
        stop = [_daemon_once(store, port, 2, work, realtime=True, sigterm_after_s=1.0)["sigterm_to_exit_s"] for _ in range(runs)]
        return {"machine": {"arch": platform.machine(), "python": platform.python_version(), "runtime": runtime_name()},
                "clip": "firmware_configs/demo/short_hamilton_clip.mp4 (640x360, 275 frames)", "broker": bool(broker),
                "results": results, "sigterm_to_exit_s": statistics.median(stop)}
    finally:
        if broker:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether child ``pid`` still runs (without reaping it: its peak RSS is read by wait4 later)."""
    import os

    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _console_once(threads: int, work: Path, port: int, *, console: bool) -> dict[str, Any]:
    """``edgeface run`` on the bundled clip at camera pace (30 fps, about 9 s), Alex enrolled; with
    ``console``, the console on its thread is logged into, browsed throughout and used to enrol
    Lin from his photo. Returns the process's peak RSS and what was asked of the console."""
    import os
    import subprocess
    import sys

    import yaml

    from edge.apps.broker import free_port, wait_listening
    from edge.apps.console.auth import hash_password
    from edge.apps.console.client import ConsoleClient
    from edge.apps.demo import DEMO_DIR
    from edge.store import Store
    from edge.unit.config import apply_overrides

    store = work / f"console-{threads}-{int(console)}.db"
    password = "benchmark password"
    alex = sorted((DEMO_DIR / "gallery" / "Alex_Lacamoire").iterdir())
    rec = Recognizer()
    with Store(store) as st:
        st.enroll("Alex Lacamoire", rec.enrollment_embeddings(alex), rec.embedder.fingerprint)
        st.set_console_password_hash(hash_password(password))
    web = free_port()
    data = apply_overrides(yaml.safe_load((DEMO_DIR / "demo.yaml").read_text()), {
        "camera.realtime": True, "models.threads": threads, "console.enabled": console, "console.port": web,
        "camera.source": str(DEMO_DIR / "short_hamilton_clip.mp4"), "store.path": str(store),
        "mqtt.host": "127.0.0.1", "mqtt.port": port})
    cfg = work / f"console-{threads}.yaml"
    cfg.write_text(yaml.safe_dump(data))
    errors = work / "console-stderr.txt"
    with open(errors, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edge.apps.cli", "run", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    requests = 0
    if console:
        wait_listening(web, 60, lambda: _running(proc.pid))
        client = ConsoleClient(f"http://127.0.0.1:{web}", password)
        client.enrol("Lin-Manuel Miranda", next((DEMO_DIR / "gallery" / "Lin-Manuel_Miranda").iterdir()))
        requests = 1
        while _running(proc.pid):
            try:
                requests += client.browse()
            except OSError:  # the clip ended and the console with it
                if _running(proc.pid):
                    time.sleep(0.5)
                    if _running(proc.pid):
                        raise
    _, code, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(code) != 0:
        raise RuntimeError(f"edgeface run failed: {errors.read_text()[-2000:]}")
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "console_requests": requests}


def run_console_bench(threads: tuple[int, ...] = (2, 4)) -> dict[str, Any]:
    """``edgeface bench --console``: peak RSS of the daemon alone and of the daemon with the console
    on its thread (``console.enabled``), browsed and used to enrol while the clip plays, at the
    thread counts of the Pi configs (2: rpi4-coral-usb, dev-x86; 4: rpi4-cpu, rpi5-cpu, rpi-zero2w)."""
    import shutil
    import tempfile

    from edge.apps.broker import LocalBroker, free_port, mosquitto_binary

    work = Path(tempfile.mkdtemp(prefix="edgeface-console-bench-"))
    broker = LocalBroker(work).start() if mosquitto_binary() else None
    try:
        port = broker.port if broker else free_port()
        results = []
        for t in threads:
            alone = _console_once(t, work, port, console=False)
            both = _console_once(t, work, port, console=True)
            results.append({"threads": t, "daemon_peak_rss_mb": alone["peak_rss_mb"], "with_console_peak_rss_mb": both["peak_rss_mb"],
                            "console_requests": both["console_requests"]})
        return {"machine": {"arch": platform.machine(), "python": platform.python_version(), "runtime": runtime_name()},
                "broker": bool(broker), "results": results}
    finally:
        if broker:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
