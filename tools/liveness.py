"""Measure the liveness cues and their fusion: APCER and BPCER (ISO/IEC 30107-3) per cue, per
attack kind, on the synthetic attacks of ``python -m tools.attacks`` and the real references.

    python -m tools.liveness --attacks build/attacks [--attacks build/attacks-more] [--write]

Every item (a rendered attack video, the real Hamilton clip, the real MiniFASNet samples) is
run through the device's own stages: YuNet finds the faces, an IoU tracker follows them, and for
every frame of a track the anti-spoof models' live probability, the face mesh's points and
the eye openness are kept (cached in ``build/liveness-cache``). A *presentation* is one
``frames``-long window of a track, starting where the daemon would start (its third frame: a
match needs 3 frames): an attack item gives one presentation (its first window), the real
clip's tracks give one per non-overlapping window (the only real face video here, so its
windows are what BPCER rests on; they are not independent visits).

APCER = attack presentations judged live / attack presentations, per attack kind;
BPCER = bona fide presentations judged spoof (or undecided) / bona fide presentations.
The synthetic attacks are not real attacks: they are renderings of printed sheets and
screens, with their own biases (README "Liveness" lists them). ``--write`` stores the chosen
parameters in the anti-spoof manifest's ``liveness`` section, read by the device.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge.antispoof import AntiSpoof
from edge.calibration import upper_bound
from edge.detect import Detector
from edge.domain import Detection, Pixels
from edge.errors import ModelError
from edge.liveness import LivenessParams, fuse, judge, planar_score
from edge.manifest import find_manifest
from edge.mesh import STABLE_POINTS, FaceMesh, eye_openness, inter_ocular
from edge.tensors import Model
from edge.unit.tracker import IoUTracker
from tools.attacks import read_video
from tools.progress import progress

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "liveness-cache"
CLIP = REPO.parent / "shared" / "video" / "short_hamilton_clip.mp4"
SAMPLES = REPO.parent / "shared" / "models" / "minifasnet" / "samples"
START = 2  # the window starts at a track's third frame (index 2): the earliest a match is decided


@dataclass
class TrackObs:
    """One track's per-frame observations."""

    passive: list[list[float]]  # per frame, each anti-spoof model's live probability (Stages.passive_names order)
    points: list[np.ndarray]  # stable mesh points [K, 2], image pixels
    openness: list[float]
    iod: list[float]
    presence: list[float]


def read_frames(media: Path, limit: int = 400) -> list[Pixels]:
    """A still (one frame) or a video's first ``limit`` frames."""
    if media.suffix.lower() in (".png", ".jpg", ".jpeg"):
        img = cv2.imread(str(media))
        return [] if img is None else [img]
    return read_video(media)[:limit]


class Stages:
    def __init__(self, models_dir: Path | None = None, threads: int = 2):
        from edge.api import Recognizer

        self.models_dir = models_dir
        self.rec = Recognizer(models_dir=models_dir, threads=threads)
        self.detector: Detector = self.rec.detector
        self.passive_names = tuple(n for n in ("minifasnet_v2", "minifasnet_v1se") if _has(n, models_dir))
        self.antispoof = AntiSpoof.from_models_dir(self.passive_names, models_dir=models_dir, threads=threads)
        self.mesh = FaceMesh(Model(find_manifest("facemesh", models_dir), threads=threads))

    def observe(self, frame: Pixels, det: Detection) -> tuple[list[float], np.ndarray, float, float, float]:
        live = list(self.antispoof.score(frame, det.box).per_model)
        m = self.mesh.landmarks(frame, det)
        pts = m.points[:, :2]
        return live, pts[list(STABLE_POINTS)].copy(), eye_openness(pts), inter_ocular(pts), m.presence


def _has(name: str, models_dir: Path | None) -> bool:
    try:
        find_manifest(name, models_dir)
    except ModelError:
        return False
    return True


def tracks_of(stages: Stages, frames: list[Pixels], min_frames: int) -> list[TrackObs]:
    """Every track of at least ``min_frames`` frames, observed on every frame."""
    tracker = IoUTracker(max_age_s=0.5)
    obs: dict[int, TrackObs] = {}
    for i, fr in enumerate(frames):
        dets = stages.detector.detect(fr)
        ids, _ = tracker.update([d.box for d in dets], i / 30.0)
        for d, tid in zip(dets, ids, strict=True):
            live, pts, openness, iod, presence = stages.observe(fr, d)
            t = obs.setdefault(tid, TrackObs([], [], [], [], []))
            t.passive.append(live)
            t.points.append(pts)
            t.openness.append(openness)
            t.iod.append(iod)
            t.presence.append(presence)
    return [t for t in obs.values() if len(t.passive) >= min_frames]


def _cache_key(media: Path, models_dir: Path | None) -> str:
    h = hashlib.sha256()
    h.update(str(media.resolve()).encode())
    h.update(str(media.stat().st_mtime_ns if media.exists() else 0).encode())
    for name in ("minifasnet_v2", "minifasnet_v1se", "facemesh", "yunet"):
        if _has(name, models_dir):
            h.update(find_manifest(name, models_dir).sha256.encode())
    return h.hexdigest()[:24]


def cached_tracks(stages: Stages, media: Path, min_frames: int) -> list[TrackObs]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{_cache_key(media, stages.models_dir)}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return [TrackObs(t["passive"], [np.asarray(p, np.float32) for p in t["points"]], t["openness"], t["iod"], t["presence"])
                for t in raw]
    tracks = tracks_of(stages, read_frames(media), 1)
    path.write_text(json.dumps([{**asdict(t), "points": [p.tolist() for p in t.points]} for t in tracks]))
    return [t for t in tracks if len(t.passive) >= min_frames]


@dataclass(frozen=True)
class Presentation:
    name: str
    kind: str  # live, or the attack kind
    synthetic: bool
    track: TrackObs
    start: int


def presentations(stages: Stages, attack_dirs: list[Path], frames: int) -> list[Presentation]:
    items: list[tuple[str, str, bool, Path, bool]] = []  # name, kind, synthetic, media, bona fide windows
    for d in attack_dirs:
        for line in (d / "index.jsonl").read_text().splitlines():
            it = json.loads(line)
            if not it["synthetic"]:
                continue  # the real references are added below, once
            items.append((it["name"], it["kind"], True, d / it["media"] if not Path(it["media"]).is_absolute() else Path(it["media"]), False))
    items.append(("hamilton_clip", "live", False, CLIP, True))
    for f, kind in (("image_T1.jpg", "live_photo"), ("image_F1.jpg", "real_recapture"), ("image_F2.jpg", "real_recapture")):
        items.append((f, kind, False, SAMPLES / f, False))
    out: list[Presentation] = []
    for name, kind, synthetic, media, windows in progress(items, "liveness: items", len(items)):
        single = media.suffix.lower() in (".jpg", ".jpeg", ".png")
        tracks = cached_tracks(stages, media, 1 if single else START + 3)
        if not tracks:
            log.warning("%s: no face tracked; left out", name)
            continue
        if windows:
            for k, t in enumerate(tracks):
                for s in range(START, len(t.passive) - frames + 1, frames):
                    out.append(Presentation(f"{name}#{k}@{s}", kind, synthetic, t, s))
        else:
            t = max(tracks, key=lambda t: len(t.passive))
            out.append(Presentation(name, kind, synthetic, t, 0 if single else START))
    return out


@dataclass(frozen=True)
class Evidence:
    """What each cue measured on one presentation (independent of the thresholds)."""

    passive: float | None
    residual: float | None  # median homography residual / inter-ocular over pairs that moved enough (None: no such pair)
    blink: float | None
    frames: int


def evidence(p: Presentation, params: LivenessParams) -> Evidence:
    t, s, n = p.track, p.start, params.frames
    passive = [float(np.mean(row)) for row in t.passive[s : s + n]]  # the models' mean, as edge.antispoof fuses them
    r = judge(passive, t.points[s : s + n], t.iod[s : s + n], t.openness[s : s + n], replace(params, min_frames=1))
    return Evidence(r.cues.passive, r.cues.residual, r.cues.blink, r.cues.frames)


def verdict(e: Evidence, params: LivenessParams, cue: str = "fused") -> str:
    """The verdict from one cue alone, or fused (the same arithmetic as edge.liveness.judge)."""
    planar = None if e.residual is None else planar_score(e.residual, params)
    if cue == "blink":
        return "live" if e.blink else "spoof"
    parts = {"passive": (e.passive, None, None), "planar": (None, planar, None), "fused": (e.passive, planar, e.blink)}[cue]
    score = fuse(*parts, params)
    single = e.frames == 1 and cue in ("passive", "fused")  # a still photo: one frame is all there is
    if score is None or (e.frames < params.min_frames and not single):
        return "undecided"
    return "live" if score >= params.threshold else "spoof"


def rates(pres: list[Presentation], ev: list[Evidence], params: LivenessParams, cue: str) -> dict[str, dict[str, Any]]:
    by: dict[str, list[str]] = defaultdict(list)
    for p, e in zip(pres, ev, strict=True):
        by[p.kind].append(verdict(e, params, cue))
    out: dict[str, dict[str, Any]] = {}
    for kind, vs in sorted(by.items()):
        bona = kind.startswith("live")
        wrong = sum(1 for v in vs if v != "live") if bona else sum(1 for v in vs if v == "live")
        out[kind] = {"rate": "BPCER" if bona else "APCER", "errors": wrong, "n": len(vs), "value": wrong / len(vs),
                     "upper95": round(upper_bound(wrong, len(vs)), 4), "undecided": sum(1 for v in vs if v == "undecided")}
    return out


def table(pres: list[Presentation], ev: list[Evidence], params: LivenessParams) -> str:
    kinds = sorted({p.kind for p in pres})
    lines = ["| cue | " + " | ".join(f"{k} ({'BPCER' if k.startswith('live') else 'APCER'})" for k in kinds) + " |",
             "|---|" + "---|" * len(kinds)]
    for cue in ("passive", "planar", "blink", "fused"):
        r = rates(pres, ev, params, cue)
        lines.append(f"| {cue} | " + " | ".join(f"{r[k]['errors']}/{r[k]['n']} (≤{r[k]['upper95']:.2f})"
                                               + (f" ({r[k]['undecided']} undecided)" if r[k]["undecided"] else "") for k in kinds) + " |")
    return "\n".join(lines)


def choose(pres: list[Presentation], ev: list[Evidence], base: LivenessParams, max_bpcer: float) -> LivenessParams:
    """The fused threshold, planar midpoint and cue weights with the lowest worst-kind APCER whose BPCER on
    the real clip's windows is at most ``max_bpcer`` (ties: the lowest threshold, i.e. the most lenient to live faces)."""
    best: tuple[float, float, float, LivenessParams] | None = None
    for mid in (0.010, 0.0125, 0.015, 0.0175, 0.02, 0.025):
        for w_planar in (0.5, 1.0, 2.0):
            for thr in np.arange(0.20, 0.81, 0.025):
                p = replace(base, planar_mid=mid, planar_spread=mid / 4, threshold=float(round(thr, 3)),
                            weights=(1.0, w_planar, base.weights[2]))
                r = rates(pres, ev, p, "fused")
                if r.get("live", {"value": 1.0})["value"] > max_bpcer:
                    continue
                ap = [v["value"] for v in r.values() if v["rate"] == "APCER"]
                key = (max(ap, default=0.0), float(np.mean(ap)) if ap else 0.0, float(thr))
                if best is None or key < best[:3]:
                    best = (*key, p)
    if best is None:
        raise SystemExit(f"no parameters reach BPCER <= {max_bpcer} on the real clip's windows")
    return best[3]


def alone(pres: list[Presentation], ev: list[Evidence], base: LivenessParams, cue: str, max_bpcer: float) -> LivenessParams:
    """One cue on its own, at its own operating point: the lowest worst-kind APCER with BPCER <= ``max_bpcer``."""
    best: tuple[float, float, LivenessParams] | None = None
    grid = ([replace(base, threshold=float(round(t, 3))) for t in np.arange(0.05, 0.96, 0.025)] if cue == "passive" else
            [replace(base, planar_mid=float(m), planar_spread=float(m) / 4, threshold=0.5) for m in np.arange(0.006, 0.06, 0.001)])
    for p in grid:
        r = rates(pres, ev, p, cue)
        if r.get("live", {"value": 1.0})["value"] > max_bpcer:
            continue
        ap = [v["value"] for v in r.values() if v["rate"] == "APCER"]
        key = (max(ap, default=0.0), float(np.mean(ap)) if ap else 0.0)
        if best is None or key < best[:2]:
            best = (*key, p)
    return best[2] if best else base


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.liveness", description=__doc__.split("\n\n")[0])
    ap.add_argument("--attacks", type=Path, action="append", required=True, help="a folder written by python -m tools.attacks")
    ap.add_argument("--holdout", type=Path, action="append", default=[],
                    help="attack folders judged with the chosen parameters but not used to choose them")
    ap.add_argument("--frames", type=int, default=LivenessParams.frames)
    ap.add_argument("--max-bpcer", type=float, default=0.05)
    ap.add_argument("--write", action="store_true", help="store the chosen parameters and the rates in models/liveness.yaml")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "liveness.json")
    ap.add_argument("--models", type=Path, help="folder of model folders (default: the bundled models/)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stages = Stages(args.models)
    pres = presentations(stages, args.attacks, args.frames)
    base = replace(LivenessParams(), frames=args.frames, passive_models=stages.passive_names)
    ev = [evidence(p, base) for p in pres]
    chosen = choose(pres, ev, base, args.max_bpcer)
    print(f"presentations: {len(pres)}; by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(_count(pres).items())))
    print(f"chosen: threshold {chosen.threshold}, planar_mid {chosen.planar_mid}, frames {chosen.frames}")
    print(f"weights (passive, planar, blink) {chosen.weights}")
    print("fused, and each cue at the fused parameters:")
    print(table(pres, ev, chosen))
    for cue in ("passive", "planar"):
        own = alone(pres, ev, base, cue, args.max_bpcer)
        r = rates(pres, ev, own, cue)
        print(f"{cue} alone at its own operating point (threshold {own.threshold}, planar_mid {own.planar_mid:.3f}): "
              + ", ".join(f"{k} {v['rate']} {v['errors']}/{v['n']}" for k, v in r.items()))
    held: list[Presentation] = []
    hev: list[Evidence] = []
    if args.holdout:
        held = [p for p in presentations(stages, args.holdout, args.frames) if p.synthetic]
        hev = [evidence(p, base) for p in held]
        print("held out (not used to choose):")
        print(table(held, hev, chosen))
    report = {"params": asdict(chosen), "counts": _count(pres), **{cue: rates(pres, ev, chosen, cue) for cue in ("passive", "planar", "blink", "fused")},
              "evidence": [{"name": p.name, "kind": p.kind, **asdict(e)} for p, e in zip(pres, ev, strict=True)]}
    args.out.write_text(json.dumps(report, indent=1))
    if args.write:
        out = {"params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(chosen).items()},
               "measured_with": {name: find_manifest(name, args.models).sha256 for name in ("yunet", *chosen.passive_models, "facemesh")},
               "max_bpcer": args.max_bpcer, "counts": _count(pres),
               "rates": {cue: rates(pres, ev, chosen, cue) for cue in ("passive", "planar", "blink", "fused")},
               "held_out": {"folders": [str(h) for h in args.holdout], "counts": _count(held),
                            "rates": {cue: rates(held, hev, chosen, cue) for cue in ("passive", "planar", "blink", "fused")}} if held else None,
               "note": "APCER on synthetic renderings of printed sheets and screens (python -m tools.attacks), not real attacks; "
                       "BPCER on windows of the one real face video here; see README 'Liveness'"}
        path = REPO / "models" / "liveness.yaml"
        path.write_text("# Written by python -m tools.liveness --write: the fusion parameters the device uses (edge/liveness.py)\n"
                        + yaml.safe_dump(out, sort_keys=False, default_flow_style=None, width=120))
        print(f"wrote {path}")
    return 0


def _count(pres: list[Presentation]) -> dict[str, int]:
    c: dict[str, int] = defaultdict(int)
    for p in pres:
        c[p.kind] += 1
    return dict(c)


if __name__ == "__main__":
    raise SystemExit(main())
