"""The ``edgeface`` command."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.errors import EdgeFaceError, OutputError, UsageError
from edge.unit.status import Status


def _round(v: Any) -> Any:
    """JSON-ready: floats to 4 significant decimals (small rates keep 3 significant digits), NaN as null."""
    if isinstance(v, float):
        if v != v:
            return None
        return float(f"{v:.3g}") if 0 < abs(v) < 1e-3 else round(v, 4)
    if isinstance(v, (list, tuple)):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


IMAGE_OUT_SUFFIXES = (".png", ".jpg", ".jpeg")


def _image_out(text: str) -> Path:
    """An argparse type: a path for an image the command writes, checked before any work is done."""
    p = Path(text)
    if p.suffix.lower() not in IMAGE_OUT_SUFFIXES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an image file name ending in {', '.join(IMAGE_OUT_SUFFIXES)}, "
                                         f"found {repr(p.suffix) if p.suffix else 'no suffix'}")
    if p.is_dir() or not p.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a file in an existing folder"
                                         + (", found a folder" if p.is_dir() else f"; folder {p.parent} does not exist"))
    return p


def _recognizer(args: argparse.Namespace) -> Any:
    from edge.api import Recognizer
    from edge.image import MAX_PIXELS

    pixels = MAX_PIXELS if args.max_pixels is None else (args.max_pixels or None)
    return Recognizer(models_dir=args.models, threads=args.threads or 2, detector=args.detector or "yunet", max_pixels=pixels)


def cmd_verify(args: argparse.Namespace) -> int:
    v = _recognizer(args).verify(args.image1, args.image2, threshold=args.threshold, far=args.far)
    if args.json:
        print(json.dumps(_round({"verified": v.verified, "similarity": v.similarity, "threshold": v.threshold, "far": v.far,
                                 "boxes": [list(f.box) for f in v.faces]})))
    else:
        verdict = "same person" if v.verified else "different people"
        rate = f", false-accept rate <= {v.far:.2g}" if v.far is not None else ""
        print(f"{verdict}: similarity {v.similarity:.3f} (threshold {v.threshold:.3f}{rate})")
    return 0 if v.verified else EXIT_NO


def cmd_faces(args: argparse.Namespace) -> int:
    from edge.image import load_image

    rec = _recognizer(args)
    image = load_image(args.image, rec.max_pixels)
    faces = rec.extract_faces(image, enforce_detection=False)
    if args.draw:
        import cv2

        canvas = image.copy()
        for f in faces:
            x1, y1, x2, y2 = (int(round(v)) for v in f.box)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), 2)
            for x, y in f.landmarks:
                cv2.circle(canvas, (int(x), int(y)), 2, (0, 0, 255), -1)
        if not cv2.imwrite(str(args.draw), canvas):
            raise OutputError(f"cannot write {args.draw}; expected a writable path ending in .png or .jpg")
    if args.json:
        print(json.dumps(_round([{"box": list(f.box), "score": f.score, "landmarks": f.landmarks.tolist()} for f in faces])))
    else:
        print(f"{len(faces)} face(s)")
        for i, f in enumerate(faces):
            print(f"  {i}: box {tuple(round(v) for v in f.box)} score {f.score:.2f}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    res = _recognizer(args).analyze(args.image)
    if args.json:
        print(json.dumps(_round([a.__dict__ for a in res])))
    else:
        for i, a in enumerate(res):
            print(f"face {i} {tuple(round(v) for v in a.box)}: age {a.age:.0f}, {a.gender} ({a.gender_confidence:.2f}), {a.emotion}")
    return 0


def cmd_represent(args: argparse.Namespace) -> int:
    reps = _recognizer(args).represent(args.image)
    print(json.dumps(_round([{"box": list(r.box), "score": r.score, "embedding": r.embedding.tolist()} for r in reps])))
    return 0


def _progress(label: str) -> Any:
    """A progress line on stderr in a terminal; nothing when piped or in CI."""
    if not sys.stderr.isatty():
        return None

    def show(n: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {n}/{total}")
        if n == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def cmd_find(args: argparse.Namespace) -> int:
    rec = _recognizer(args)
    gallery = rec.load_gallery(args.gallery, progress=_progress("indexing gallery"))
    res = rec.find(args.image, gallery, threshold=args.threshold, far=args.far, top_k=args.top_k)
    if args.json:
        print(json.dumps(_round([[m.__dict__ for m in face] for face in res])))
        return 0
    for i, face in enumerate(res):
        best = face[0] if face else None
        who = f"{best.identity} ({best.similarity:.3f})" if best and best.verified else "unknown"
        others = ", ".join(f"{m.identity} {m.similarity:.3f}" for m in face[1:])
        print(f"face {i}: {who}" + (f"; next: {others}" if others else ""))
    return 0


def _labelled(args: argparse.Namespace, rec: Any, conditions: list[str]) -> Any:
    """The labelled sets' largest faces, embedded under ``conditions`` (a largest detection that is
    not a face counts as no face)."""
    from edge.labelled import embed_set, read_set

    if args.root and len(args.inputs) > 1:
        raise UsageError("--root applies to one labels file; give one, or leave --root out (each CSV's folder is its root)")
    photos = [p for src in args.inputs for p in read_set(src, args.root)]

    emb = embed_set(photos, rec.largest_embedding, conditions=conditions, fingerprint=rec.pipeline_fingerprint,
                    cache=args.cache, progress=_progress(f"embedding {len(photos)} photos x {len(conditions)} condition(s)"))
    return emb.with_face_floor(rec.embedder.min_norm)


def _conditions(text: str) -> list[str]:
    from edge.degrade import DOOR_CONDITIONS

    conds = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in conds if c not in DOOR_CONDITIONS]
    if bad or not conds:
        raise UsageError(f"--conditions {text!r}: expected a comma-separated list of {', '.join(DOOR_CONDITIONS)}")
    return ["clean"] + [c for c in conds if c != "clean"]


def _unsure(groups: list[str] | None) -> list[list[str]]:
    return [[n.strip() for n in g.split(",") if n.strip()] for g in groups or []]


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.identification:
        return _evaluate_identification(args)
    from edge.errors import NoFaceError
    from edge.evaluate import draw_det, evaluate, read_pairs

    if len(args.inputs) != 1 or not args.root:
        raise UsageError("usage: edgeface evaluate PAIRS.csv --root DIR (or --identification SET... for open-set identification)")
    rec = _recognizer(args)

    def embed(path: Path) -> Any:
        try:
            return rec.represent(path)[0].embedding
        except NoFaceError:
            return None

    point = rec.operating_point("verify", far=args.far, threshold=args.threshold)
    rep = evaluate(read_pairs(args.inputs[0]), Path(args.root), embed, point, _progress("embedding"))
    if args.det:
        draw_det({"pairs": (rep.similarities[rep.labels], rep.similarities[~rep.labels])}, args.det,
                 marks=[(f"verify {point.target or point.threshold:g}", point.threshold)], title=f"DET: {args.inputs[0]}")
    if args.json:
        out = {k: v for k, v in rep.__dict__.items() if k not in ("similarities", "labels", "tar_at_far")}
        out["tar_at_far"] = [t.__dict__ for t in rep.tar_at_far]
        print(json.dumps(_round(out)))
        return 0
    print(f"pairs {rep.pairs} ({rep.same} same, {rep.different} different); images without a face: {len(rep.no_face)}")
    rate = f"false-accept rate <= {rep.threshold_far:.2g} by the calibration" if rep.threshold_far is not None else "not calibrated"
    print(f"at threshold {rep.threshold:.4f} ({rate}): accuracy {rep.accuracy:.4f}, TAR {rep.tar_at_threshold:.4f}, "
          f"FAR {rep.far_at_threshold:.4f} on these pairs; best accuracy {rep.best_accuracy:.4f} at {rep.best_threshold:.3f}; ROC AUC {rep.roc_auc:.4f}")
    for t in rep.tar_at_far:
        shown = f"{t.tar:.4f} (threshold {t.threshold:.4f})" if t.tar is not None else f"not measurable: {t.impostors} different pairs, needs {int(3 / t.far)}"
        print(f"  TAR at FAR {t.far:g}: {shown}")
    return 0


def _point(rec: Any, purpose: str, far: float, comparisons: int) -> Any:
    return rec.operating_point(purpose, far=far, comparisons=comparisons)


def _evaluate_identification(args: argparse.Namespace) -> int:
    from edge.evaluate import identification

    rec = _recognizer(args)
    conditions = _conditions(args.conditions)
    emb = _labelled(args, rec, conditions)
    names = {p.identity for p in emb.photos if p.identity}
    sizes = sorted({len(names) if v.strip() == "all" else int(v) for v in args.sizes.split(",")})
    from edge.unit.config import DoorConfig, RecognitionConfig

    purposes = [("announce", args.far or RecognitionConfig().announce_far), ("door", args.door_far or DoorConfig().far)]
    rows = []
    for cond in conditions:
        for purpose, far in purposes:
            for corrected in (True, False) if args.uncorrected else (True,):
                point = functools.partial(_point, rec, purpose, far)
                rows += [(cond, r) for r in identification(emb, sizes=sizes, templates=args.templates, draws=args.draws, probe_condition=cond,
                                                           margin=args.margin, point=point, corrected=corrected, unsure=_unsure(args.unsure))]
    if args.json:
        print(json.dumps(_round([{"condition": c, **r.__dict__, "fpir": r.fpir, "fnir": r.fnir, "fpir_upper": r.fpir_upper} for c, r in rows])))
        return 0
    print(f"{len(emb.photos)} photos of {len(names)} identities; gallery photos clean, {args.templates} per person; "
          f"{args.draws} random galleries per size")
    print(f"{'probes':8s} {'purpose':9s} {'people':>6s} {'threshold':>9s} {'target':>8s} {'FPIR':>9s} {'(95% up)':>9s} {'strangers':>9s} {'FNIR':>7s} {'mated':>6s}  note")
    for c, r in rows:
        note = "" if r.corrected else "threshold NOT corrected for gallery size"
        print(f"{c:8s} {r.purpose:9s} {r.people:6d} {r.threshold:9.4f} {r.target or 0:8.0e} {r.fpir:9.2e} {r.fpir_upper:9.2e} "
              f"{r.non_mated:9d} {r.fnir:7.4f} {r.mated:6d}  {note}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """False-accept calibration on labelled photos: thresholds per target rate, with upper bounds."""
    from edge.calibration import calibrate, save_calibration
    from edge.evaluate import draw_det
    from edge.labelled import pair_scores

    rec = _recognizer(args)
    conditions = _conditions(args.conditions)
    emb = _labelled(args, rec, conditions)
    scores = pair_scores(emb, _unsure(args.unsure))
    cal = calibrate(scores.impostors, scores.genuines, identities=scores.identities, photos=scores.photos,
                    data=tuple(str(Path(s)) for s in args.inputs), detector=rec.detector_fingerprint)
    if args.out:
        save_calibration(args.out, cal, rec.embedder.fingerprint)
    if args.det:
        draw_det({c: (scores.genuines[c], scores.impostors[c]) for c in conditions}, args.det,
                 marks=[(f"FAR {f:g}", cal.threshold_for(f)) for f in (1e-2, 1e-3, 1e-4, 1e-5) if cal.point_for(f)],
                 title="DET per condition (gallery clean, probe as named)")
    if args.json:
        print(json.dumps(_round({**cal.to_dict(), "no_face": {c: len(emb.no_face(c)) for c in conditions}})))
        return 0
    print(f"{scores.photos} photos, {scores.identities} identities; impostor pairs "
          + ", ".join(f"{c} {n}" for c, n in cal.pairs.items()) + "; photos without a face " + ", ".join(f"{c} {len(emb.no_face(c))}" for c in conditions))
    print(f"{'target FAR':>10s} {'threshold':>9s} {'set by':>7s} {'false accepts':>13s} {'of pairs':>9s} {'95% upper':>9s}  TAR " + " / ".join(conditions))
    for p in cal.points:
        if p.far in (0.1, 0.01, 0.001, 1e-4, 1e-5, 1e-6) or p is cal.points[-1]:
            print(f"{p.far:10.1e} {p.threshold:9.4f} {p.condition:>7s} {p.false_accepts:13d} {p.pairs:9d} {p.upper:9.2e}  "
                  + " / ".join(f"{p.tar.get(c, float('nan')):.4f}" for c in conditions))
    print(f"lowest rate these pairs can back: {cal.lowest_far:.2g}" + (f"; written to {args.out}" if args.out else ""))
    return 0


def _saved_or_printed_as_json(res: dict[str, Any], args: argparse.Namespace) -> bool:
    """A benchmark's result: written to ``--out`` if given; printed as JSON with ``--json`` (then True: no table)."""
    if args.out:
        Path(args.out).write_text(json.dumps(_round(res), indent=1))
    if args.json:
        print(json.dumps(_round(res)))
    return bool(args.json)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.daemon:
        return _bench_daemon(args)
    if args.console:
        return _bench_console(args)
    from edge.apps.bench import run

    res = run(repeats=args.repeats, images=args.images, progress=_progress("benchmark photo pass"))
    if _saved_or_printed_as_json(res, args):
        return 0
    print(f"{res['machine']}; photos: {', '.join(res['photos'])}")
    names = list(res["results"][0]["stages"])
    print(f"{'stage (ms, median / p95)':42s}" + "".join(f"{str(r['threads']) + ' thread(s)':>20s}" for r in res["results"]))
    for n in names:
        print(f"{n:42s}" + "".join(f"{r['stages'][n]['median_ms']:>11.2f} / {r['stages'][n]['p95_ms']:<6.2f}" for r in res["results"]))
    print(f"{'photos per second (detect + embed all faces)':42s}" + "".join(f"{r['photos_per_s']:>20.1f}" for r in res["results"]))
    pp = res["photo_pass"]
    per_s, found = pp["images_per_s"], pp["images_with_a_face"]
    print(f"photo pass, represent() of {pp['images']} photos in {pp['folder']} (decode included, {pp['threads']} threads, "
          f"median of {pp['passes']}): edgeface {per_s['edgeface']:.1f} images/s ({found['edgeface']} with a face)")
    print("  edgeface ms per photo: " + ", ".join(f"{k} {v:.2f}" for k, v in pp["edgeface_ms_per_image"].items()))
    if "opencv" in per_s:
        print(f"  OpenCV YuNet + SFace fp32, largest face: {per_s['opencv']:.1f} images/s ({found['opencv']} with a face); "
              f"edgeface is {pp['speed_ratio_vs_opencv']:.2f}x")
    else:
        print("  no OpenCV peer: make its fp32 ONNX files with .venv-tools/bin/python -m tools.peer --models-only")
    if "face_recognition" in res:
        print(f"face_recognition (HOG + dlib ResNet): {res['face_recognition']['photos_per_s']:.2f} photos/s; edgeface is "
              + ", ".join(f"{v:.1f}x ({k} thread(s))" for k, v in res["speed_ratio_vs_face_recognition"].items()))
    else:
        print("face_recognition not installed: no peer comparison (pip install face_recognition_models dlib-bin; pip install --no-deps face_recognition)")
    return 0


def _bench_console(args: argparse.Namespace) -> int:
    from edge.apps.bench import run_console_bench

    res = run_console_bench()
    if _saved_or_printed_as_json(res, args):
        return 0
    print(f"{res['machine']}; the bundled clip at camera pace; events to {'a local mosquitto' if res['broker'] else 'the outbox (no broker)'}")
    for r in res["results"]:
        print(f"{r['threads']} thread(s): peak RSS daemon alone {r['daemon_peak_rss_mb']:.0f} MB; daemon with the console "
              f"(console.enabled: one process, {r['console_requests']} requests and an enrolment served during the run) "
              f"{r['with_console_peak_rss_mb']:.0f} MB")
    return 0


def _bench_daemon(args: argparse.Namespace) -> int:
    from edge.apps.bench import run_daemon_bench

    res = run_daemon_bench(runs=args.runs)
    if _saved_or_printed_as_json(res, args):
        return 0
    print(f"{res['machine']}; {res['clip']}; events to {'a local mosquitto' if res['broker'] else 'the outbox (no broker)'}")
    for r in res["results"]:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stage_median_ms"].items())
        print(f"{r['threads']} thread(s){', liveness on' if r.get('liveness') else ''}: {r['sustained_fps']:.1f} frames/s sustained over {r['frames']} frames; start to first frame "
              f"{r['start_to_first_frame_s']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB; {r['faces_per_frame']:.1f} faces/frame; per-frame median ms: {stages}; events {r['events']}")
    print(f"SIGTERM to exit (with 'offline' published): {res['sigterm_to_exit_s']:.2f} s (median of {args.runs})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a device config without starting anything; secrets are shown masked."""
    from edge.unit.camera import mask_url
    from edge.unit.config import load_config

    cfg = load_config(args.config)
    dumped = cfg.model_dump(mode="json")
    if dumped["mqtt"].get("password") is not None:
        dumped["mqtt"]["password"] = "**********"
    dumped["camera"]["source"] = mask_url(dumped["camera"]["source"])
    if args.json:
        print(json.dumps(dumped))
    else:
        print(f"{args.config}: valid config for device {cfg.device_id!r}")
        print(f"  camera {mask_url(cfg.camera.source)} {cfg.camera.width}x{cfg.camera.height} @ {cfg.camera.fps:g} fps; "
              f"models {cfg.models.detector}+{cfg.models.embedder} on {'Edge TPU ' + cfg.models.edgetpu if cfg.models.edgetpu else 'CPU'}, {cfg.models.threads} thread(s)")
        print(f"  store {cfg.store.path}; MQTT {cfg.mqtt.host}:{cfg.mqtt.port}{' (TLS)' if cfg.mqtt.tls else ''} topics {cfg.mqtt.topic_prefix}/{cfg.device_id}/...")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from edge.apps.people import enrol
    from edge.store import Store, check_store_path, person_name

    person_name(args.name)  # name and store path checked before any photo is read
    check_store_path(args.store, create=True)
    rec = _recognizer(args)
    faces = rec.enrollment_faces(args.images)  # all photos checked before the store is touched
    with Store(args.store) as store:
        name, n, total = enrol(rec, store, args.name, faces, [str(p) for p in args.images], force=args.force)
    print(f"enrolled {n} photo(s) of {name} ({total} template(s) in {args.store})")
    return 0


_PERSONS_ARGS = {"list": "", "remove": " NAME", "rename": " OLD NEW", "export": " FILE.npz", "import": " FILE.npz"}


def cmd_persons(args: argparse.Namespace) -> int:
    from edge.gallery import load_gallery_file, save_gallery_file
    from edge.store import Store, check_store_path

    usage = _PERSONS_ARGS[args.action]
    if len(args.names) != len(usage.split()):
        raise EdgeFaceError(f"usage: edgeface persons --store PATH {args.action}{usage}")
    check_store_path(args.store, create=args.action == "import")  # only an import may start a store
    embedder = _recognizer(args).embedder if args.action in ("export", "import") else None
    imported = None
    if embedder is not None and args.action == "import":  # the file is checked before the store is touched
        imported = load_gallery_file(args.names[0], embedder.fingerprint, embedder.dim)
    with Store(args.store, create=imported is not None) as store:
        if args.action == "list":
            people = store.persons()
            if args.json:
                print(json.dumps([p.__dict__ for p in people]))
            for p in [] if args.json else people:
                bad = f" ({p.unusable} unusable: remove and re-enrol)" if p.unusable else ""
                print(f"{p.name}\t{p.templates} template(s){bad}\tsince {p.created_at}")
            if not people and not args.json:
                print("no one is enrolled; add people with: edgeface enroll --store PATH --name NAME PHOTO...")
        elif imported is not None:
            added, skipped = store.import_gallery(imported, f"import:{Path(args.names[0]).name}")
            print(f"imported {added} template(s) of {len(set(imported.identities))} person(s) from {args.names[0]}"
                  + (f"; {skipped} already in {args.store}, skipped" if skipped else ""))
        elif embedder is not None:
            g = store.gallery(embedder.fingerprint, embedder.dim)
            save_gallery_file(args.names[0], g)
            print(f"exported {len(set(g.identities))} person(s), {len(g)} template(s) to {args.names[0]}")
        elif args.action == "remove":
            store.remove(args.names[0])
            print(f"removed {args.names[0]} and all their templates")
        else:
            store.rename(*args.names)
            print(f"renamed {args.names[0]} to {args.names[1]}")
    return 0


def _config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {"camera.source": args.source, "store.path": args.store, "mqtt.host": args.mqtt_host,
             "mqtt.port": args.mqtt_port, "device_id": args.device_id, "models.threads": args.threads,
             "models.dir": args.models, "models.detector": args.detector}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in pairs.items() if v is not None}


def cmd_run(args: argparse.Namespace) -> int:
    """The daemon: runs until the source ends, or SIGTERM / Ctrl-C (publishing 'offline' first)."""
    import signal
    import threading

    from edge.unit.config import load_config
    from edge.unit.daemon import Daemon

    cfg = load_config(args.config, _config_overrides(args))
    logging.basicConfig(stream=sys.stdout, force=True, level=logging.DEBUG if args.verbose else cfg.logging.level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    console = None
    if cfg.console.enabled:  # the web console on a thread beside the daemon
        from edge.apps.console.server import Background

        console = Background(cfg).start()
    try:
        stats = Daemon(cfg, on_event=show if args.print_events else None).run(stop)
    finally:
        if console is not None:
            console.stop()
    logging.getLogger("edge.unit.daemon").info("stopped after %d frames; events %s", stats.frames, stats.events)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """What the daemon last wrote to its status file: fps, latency, queue state."""
    import os
    import time

    from edge.apps.cli_door import store_path
    from edge.store import check_store_path
    from edge.unit.status import read_status, status_path

    store = check_store_path(store_path(args), create=True)  # its folder must exist
    path = status_path(store)
    if not path.exists():
        nothing = "" if store.exists() else f"; there is no store at {store} either: check --store or the config's store.path"
        raise EdgeFaceError(f"no status at {path}: the daemon has not run with store {store} (start it with edgeface run){nothing}")
    st = read_status(path)
    age = time.time() - st.updated_unix
    alive = True
    try:
        os.kill(st.pid, 0)
    except OSError:
        alive = False
    state = st.state
    if state == "running" and (not alive or age > 30):
        state = "not responding" if alive else "dead (did not stop cleanly)"
    st = st.model_copy(update={"state": state})
    print(json.dumps(st.model_dump()) if args.json else "\n".join(_status_lines(st, age)))
    return 0 if st.state in ("running", "stopped") else EXIT_NO


def _status_lines(st: Status, age: float) -> list[str]:
    """``edgeface status``'s text."""
    cam = st.camera
    return [
        f"{st.device_id}: {st.state} (pid {st.pid}, updated {age:.0f} s ago, up {st.uptime_s:.0f} s)",
        f"  camera {cam.source}: {st.frames} frames, {st.fps:.1f} fps now, {cam.dropped_frames} dropped, {cam.reconnects} reconnects",
        "  latency ms (median / p95): " + ", ".join(f"{k} {v.median:.1f} / {v.p95:.1f}" for k, v in st.latency_ms.items()),
        f"  events {st.events}; outbox {st.outbox_pending} waiting; MQTT {'connected' if st.mqtt_connected else 'NOT connected'}",
        f"  present now: {', '.join(st.present) or 'nobody'}; last recognised: {st.last_person or '-'}",
    ]


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.apps.demo import run_demo

    logging.basicConfig(stream=sys.stdout, force=True, level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    run_demo(args.workdir, broker=not args.no_broker, threads=args.threads or 2)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from edge.manifest import MODELS_DIR, load_manifest

    root = Path(args.models) if args.models else MODELS_DIR
    bad = 0
    for p in sorted(root.glob("*/manifest.yaml")):
        m = load_manifest(p)
        try:
            m.verify_file()
            state = "ok"
        except EdgeFaceError as e:
            state, bad = f"BAD: {e}", bad + 1
        print(f"{m.name:10s} {m.task:9s} {m.model_path.stat().st_size if m.model_path.exists() else 0:>9d} B  input {m.input.shape} {m.input.dtype}  {state}")
    return 1 if bad else 0


EXIT_NO = 3
EXIT_CODES = f"""exit status:
  0  success (verify: the same person)
  1  error (one line on stderr: what was expected, what was found, what to do)
  2  usage error (an unknown option, a missing argument)
  {EXIT_NO}  the answer is no: verify: different people; status: the daemon is not running cleanly"""


def _add_global_options(g: Any, default: Any = None) -> None:
    """``--models``, ``--threads``, ``--detector``, ``--max-pixels``, ``-v``. On the subcommands their default is
    ``argparse.SUPPRESS``, so a value given before the command is not overwritten by a missing one after it."""
    g.add_argument("--models", default=default, help="folder of model folders (default: the bundled models/)")
    g.add_argument("--threads", type=int, default=default, help="CPU threads for inference (default 2; for run: the config's models.threads)")
    g.add_argument("--detector", choices=["yunet", "blazeface"], default=default,
                   help="face detector (default yunet; for run: the config's models.detector). BlazeFace: MediaPipe's "
                        "short-range model, for faces close to the camera")
    g.add_argument("--max-pixels", type=int, default=default, metavar="N",
                   help="refuse images of more pixels, before decoding them (default 40000000; 0: no limit)")
    g.add_argument("-v", "--verbose", action="store_true", default=False if default is None else default)


def build_parser() -> argparse.ArgumentParser:
    from edge import __version__
    from edge.apps import cli_console, cli_door

    ap = argparse.ArgumentParser(prog="edgeface", description="Face recognition on int8 TFLite models, for door units.",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"edgeface {__version__}")
    _add_global_options(ap.add_argument_group("global options (before or after the command)"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("verify", help=f"do two photos show the same person? (exit 0 same, {EXIT_NO} different, 1 error)",
                       epilog=f"exit status: 0 the same person, {EXIT_NO} different people, 1 error, 2 usage error")
    p.add_argument("image1")
    p.add_argument("image2")
    p.add_argument("--threshold", type=float, help="raw cosine threshold (expert; default: calibrated for --far)")
    p.add_argument("--far", type=float, help="false-accept rate the threshold is calibrated for (default: the embedder manifest's, 1e-3)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("find", help="who is this? search a gallery: a folder (one subfolder of photos per person), a .npz export or a store")
    p.add_argument("image")
    p.add_argument("--gallery", required=True, help="a folder with one subfolder of photos per person, a gallery file (.npz, from "
                                                    "persons export) or an edgeface store (.db)")
    p.add_argument("--threshold", type=float, help="raw cosine threshold (expert; default: calibrated for --far)")
    p.add_argument("--far", type=float, help="chance that a stranger matches anyone in the gallery (default 1e-3); "
                                             "divided by the gallery's template count for the threshold")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find)
    p = sub.add_parser("faces", help="find faces; optionally draw them")
    p.add_argument("image")
    p.add_argument("--draw", type=_image_out, help="write the image with boxes and landmarks here (.png, .jpg)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_faces)
    p = sub.add_parser("analyze", help="age, gender and emotion of each face")
    p.add_argument("image")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("represent", help="embedding of each face, as JSON")
    p.add_argument("image")
    p.set_defaults(func=cmd_represent)
    p = sub.add_parser("evaluate", help="verification on labelled pairs (PAIRS.csv: file_a, file_b, same), or open-set identification")
    p.add_argument("inputs", nargs="+", help="a pairs CSV; with --identification: labels CSVs (file, identity[, role]) or folders of identity subfolders")
    p.add_argument("--root", help="folder the file names are relative to (pairs: required; labels: default the CSV's folder)")
    p.add_argument("--det", type=_image_out, help="write the DET curve here (.png, .jpg)")
    p.add_argument("--far", type=float, help="verification: the false-accept rate to judge at (default 1e-3); identification: the announce rate "
                                             "per stranger (default: the daemon's, 1e-4)")
    p.add_argument("--threshold", type=float, help="verification: a raw cosine threshold instead of --far")
    p.add_argument("--identification", action="store_true", help="FPIR / FNIR against gallery size instead of pairs")
    p.add_argument("--door-far", type=float, help="identification: the door's rate per stranger (default: the daemon's, 1e-5)")
    p.add_argument("--sizes", default="1,5,all", help="identification: gallery sizes in people (default 1,5,all)")
    p.add_argument("--templates", type=int, default=1, help="identification: photos enrolled per person (default 1)")
    p.add_argument("--draws", type=int, default=20, help="identification: random galleries per size (default 20)")
    p.add_argument("--margin", type=float, default=0.0, help="identification: best must beat second-best person by this much")
    p.add_argument("--uncorrected", action="store_true", help="identification: also show thresholds not corrected for gallery size")
    p.add_argument("--conditions", default="clean", help="probe conditions, comma-separated: clean,night,motion,lowres (default clean)")
    p.add_argument("--unsure", action="append", metavar="ID,ID,...", help="identification: identities that may be one person; repeatable")
    p.add_argument("--cache", type=Path, help="embedding cache file (.npz), reused while photos and models are unchanged")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("calibrate", help="false-accept calibration on labelled photos: the threshold for each target rate, with its upper bound")
    p.add_argument("inputs", nargs="+", help="labels CSVs (file, identity[, role]) or folders with one subfolder of photos per person")
    p.add_argument("--root", help="folder a single labels CSV's file names are relative to (default: its folder)")
    p.add_argument("--conditions", default="clean,night,motion,lowres", help="conditions to calibrate under (default all: clean,night,motion,lowres)")
    p.add_argument("--unsure", action="append", metavar="ID,ID,...", help="identities that may be one person (their cross pairs are left out); repeatable")
    p.add_argument("--out", type=Path, help="write the calibration here (YAML; the device config's models.calibration)")
    p.add_argument("--det", type=_image_out, help="write the DET curves per condition here (.png, .jpg)")
    p.add_argument("--cache", type=Path, help="embedding cache file (.npz), reused while photos and models are unchanged")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("bench", help="per-stage latency on the bundled photos (and face_recognition, if installed)")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--daemon", action="store_true", help="benchmark the daemon process on the bundled clip instead (fps, start, RSS)")
    p.add_argument("--console", action="store_true",
                   help="peak memory of the daemon with the web console on its thread, browsed while the bundled clip plays")
    p.add_argument("--images", type=Path, help="the photo pass over this folder of photos (recursive) instead of the bundled ones")
    p.add_argument("--runs", type=int, default=3, help="with --daemon: runs per setting (medians reported)")
    p.add_argument("--out", type=Path, help="also write the results here (JSON)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("check", help="validate a device config (firmware_configs/*.yaml) without starting anything")
    p.add_argument("config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("enroll", help="add a person's photos to a store (one large, sharp, frontal, whole face per photo; "
                                      "refused if it matches someone already enrolled)")
    p.add_argument("--store", required=True, type=Path, help="SQLite store file (created if missing)")
    p.add_argument("--name", required=True)
    p.add_argument("images", nargs="+")
    p.add_argument("--force", action="store_true", help="enrol even if the photos match someone already enrolled")
    p.set_defaults(func=cmd_enroll)
    p = sub.add_parser("persons", help="list, remove or rename enrolled people")
    p.add_argument("--store", required=True, type=Path)
    p.add_argument("action", choices=["list", "remove", "rename", "export", "import"],
                   help="export FILE.npz / import FILE.npz move a gallery between units (same embedder model only)")
    p.add_argument("names", nargs="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_persons)
    p = sub.add_parser("run", help="run the door-unit daemon (camera -> recognition -> MQTT events)")
    p.add_argument("--config", required=True, help="device config (firmware_configs/*.yaml)")
    p.add_argument("--source", help="override camera.source: picamera2, /dev/videoN, a URL, a video file or an image folder")
    p.add_argument("--store", type=Path, help="override store.path")
    p.add_argument("--mqtt-host", help="override mqtt.host")
    p.add_argument("--mqtt-port", type=int, help="override mqtt.port")
    p.add_argument("--device-id", help="override device_id")
    p.add_argument("--print-events", action="store_true", help="also print each event (JSON) on stdout")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="the running daemon's fps, latency and queue state")
    cli_door.add_store_options(p, "the device config the daemon runs with", "or its store path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("demo", help="the daemon on the bundled clip and photos, with a local mosquitto when installed")
    p.add_argument("--workdir", type=Path, help="keep the demo's store here (default: a temporary folder, removed)")
    p.add_argument("--no-broker", action="store_true", help="do not start mosquitto; events stay in the outbox")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("models", help="list the models and check their sha256")
    p.set_defaults(func=cmd_models)
    cli_door.register(sub)
    cli_console.register(sub)
    for p in sub.choices.values():  # the same options after the command too (given there, they win)
        _add_global_options(p.add_argument_group("global options (before or after the command)"), argparse.SUPPRESS)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"edgeface: error: {e}", file=sys.stderr)
        return 2
    except EdgeFaceError as e:
        print(f"edgeface: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
