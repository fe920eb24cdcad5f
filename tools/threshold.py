"""The embedder's false-accept calibration: thresholds that back stated rates, written into its manifest.

    python -m tools.threshold                  # calibrate models/sface on tools/far_sets.yaml, write manifest + report
    python -m tools.threshold --no-write       # measure only

Every cross-identity pair of the labelled photos listed in ``tools/far_sets.yaml`` (read in
place, never copied into the project) is scored with the device's own pipeline: clean against
clean, and a clean gallery photo against a probe under each door condition (night, motion,
low resolution). :func:`edge.calibration.calibrate` turns these into thresholds per target rate
with 95% upper bounds. Also measured and reported:

* the face-ness floor (``thresholds.min_norm``): no detection on tools/negatives.py's photos
  may reach it (else the run fails), and how many real faces fall below it;
* a held-out check: calibrated on half of the identities, the rates measured on the other half;
* DET curves per condition (``models/<name>_det.png``) and ``models/CALIBRATION.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edge.api import Recognizer
from edge.calibration import FarCalibration, calibrate, upper_bound
from edge.errors import EdgeFaceError
from edge.evaluate import draw_det, tar_at_far
from edge.labelled import Embedded, PairScores, embed_set, pair_scores, read_set
from edge.manifest import load_manifest
from tools import negatives
from tools.progress import progress

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
SETS = REPO / "tools" / "far_sets.yaml"
REPORTED = (1e-2, 1e-3, 1e-4, 1e-5)


def _half(identity: str | None) -> int:
    """A fixed split of identities in two halves (unlabelled faces go with half 0)."""
    return 0 if identity is None else hashlib.sha256(identity.encode()).digest()[0] & 1


def faceness(rec: Recognizer, emb: Embedded, floor: float) -> dict[str, Any]:
    """Detections on the negative photos and their norms; real largest faces below the floor."""
    neg = []
    for name, img in progress(list(negatives.images()), "negative photos"):
        for d in rec.detector.detect(img):
            neg.append((name, d.score, rec.embedder.embed(rec.embedder.crop(img, d)).norm))
    passed = [n for n in neg if n[2] >= floor]
    lost = {c: int(np.sum(emb.found[c] & (emb.norms[c] < floor))) for c in emb.found}
    found = {c: int(emb.found[c].sum()) for c in emb.found}
    return {
        "negative_images": len(list(negatives.SOURCES)),
        "negative_detections": len(neg),
        "negative_max_norm": round(max((n[2] for n in neg), default=0.0), 3),
        "negatives_passing": [f"{n[0]} (score {n[1]:.2f}, norm {n[2]:.2f})" for n in passed],
        "negative_detections_list": [f"{n[0]}: score {n[1]:.2f}, norm {n[2]:.2f}" for n in sorted(neg, key=lambda n: -n[2])[:10]],
        "faces_below_floor": lost,
        "faces_detected": found,
    }


def held_out(emb: Embedded, unsure: list[list[str]]) -> list[dict[str, Any]]:
    """Calibrate on one half of the identities, measure the rates on the other."""
    halves = np.array([_half(p.identity) for p in emb.photos])
    out = []
    for a, b in ((0, 1), (1, 0)):
        sa, sb = pair_scores(emb.subset(halves == a), unsure), pair_scores(emb.subset(halves == b), unsure)
        cal = calibrate(sa.impostors, sa.genuines, identities=sa.identities, photos=sa.photos)
        for far in REPORTED:
            p = cal.point_for(far)
            if p is None or p.far != far:
                continue
            for c, imp in sb.impostors.items():
                k = int(np.count_nonzero(imp >= p.threshold))
                out.append({"calibrated_on": f"half {a}", "measured_on": f"half {b}", "far": far, "threshold": p.threshold, "condition": c,
                            "false_accepts": k, "pairs": len(imp), "far_measured": k / len(imp), "upper": upper_bound(k, len(imp))})
    return out


def report(path: Path, name: str, cal: FarCalibration, scores: PairScores, face: dict[str, Any], hold: list[dict[str, Any]],
           emb: Embedded, det_png: str, default_far: float, floor: float) -> None:
    groups: dict[str, int] = {}
    for photo in emb.photos:
        groups[photo.group] = groups.get(photo.group, 0) + 1
    conds = list(cal.pairs)
    L = [f"# {name}: false-accept calibration", "",
         "Written by `python -m tools.threshold` (device pipeline: int8 YuNet + int8 SFace, largest face per photo). "
         "Photos are read in place from the sets in `tools/far_sets.yaml` and never copied into the project.", "",
         f"{cal.photos} photos ({', '.join(f'{g} {n}' for g, n in sorted(groups.items()))}), {cal.identities} identities. "
         "Impostor pairs: every pair of photos of different identities (unlabelled faces against labelled ones only; "
         "identities marked unsure left out); per condition: " + ", ".join(f"{c} {n:,}" for c, n in cal.pairs.items()) + ". "
         "Genuine pairs: " + ", ".join(f"{c} {n:,}" for c, n in cal.genuine.items()) + ". "
         "`clean`: clean photo against clean photo; the others: a probe under that condition against every other clean photo "
         "(a door camera's frame against an enrolment photo).", "",
         f"A threshold for rate *f* is the lowest cosine at which the one-sided {cal.confidence:.0%} Clopper-Pearson upper bound of the "
         "false-accept rate is at most *f*, in every condition (the highest of the conditions' thresholds). "
         f"The lowest rate these pairs can back is {cal.lowest_far:.2g}. Pairs share photos, so they are not independent trials: "
         "the bounds are those of independent pairs; the held-out check below is the better test of how the thresholds carry over.", "",
         f"The manifest's `thresholds.cosine` is the point for {default_far:g} (1:1 verification); the daemon divides its configured "
         "per-visit rates by the number of enrolled templates and looks the result up in these points.", "",
         "| target FAR per comparison | cosine threshold | set by | false accepts / pairs there | 95% upper bound | TAR " + " / ".join(conds) + " |",
         "|---|---|---|---|---|---|"]
    for p in cal.points:
        if p.far in REPORTED or p is cal.points[-1] or p.far in (1e-6, 3.2e-3, 3.2e-4, 3.2e-5):
            L.append(f"| {p.far:.2g} | {p.threshold:.4f} | {p.condition} | {p.false_accepts} / {p.pairs:,} | {p.upper:.2g} | "
                     + " / ".join(f"{p.tar.get(c, float('nan')):.4f}" for c in conds) + " |")
    L += ["", f"![DET per condition]({det_png})", "", "## TAR at FAR, per condition (pairs of that condition alone)", "",
          "| condition | impostor pairs | " + " | ".join(f"TAR at {f:g}" for f in REPORTED) + " |", "|---|---|" + "---|" * len(REPORTED)]
    for c in conds:
        row = tar_at_far(scores.genuines[c], scores.impostors[c], REPORTED)
        L.append(f"| {c} | {len(scores.impostors[c]):,} | " + " | ".join("n/a" if t.tar is None else f"{t.tar:.4f} ({t.threshold:.3f})" for t in row) + " |")
    L += ["", "## Held-out check", "", "Identities split in two fixed halves (by a hash of the name); calibrated on one, "
          "measured on the other at the calibrated threshold.", "",
          "| calibrated on | target | threshold | measured on | condition | false accepts / pairs | measured FAR | 95% upper |", "|---|---|---|---|---|---|---|---|"]
    for h in hold:
        L.append(f"| {h['calibrated_on']} | {h['far']:g} | {h['threshold']:.4f} | {h['measured_on']} | {h['condition']} | "
                 f"{h['false_accepts']} / {h['pairs']:,} | {h['far_measured']:.2g} | {h['upper']:.2g} |")
    L += ["", "## Face-ness floor", "",
          f"`thresholds.min_norm` = {floor}: a detection whose embedding (before normalisation) is shorter is not a face. "
          f"On {face['negative_images']} photos without a person (tools/negatives.py, each also re-framed 8 times) the detector made "
          f"{face['negative_detections']} detections, the longest embedding {face['negative_max_norm']}; "
          f"{len(face['negatives_passing'])} reach the floor.", "",
          "Largest real faces below the floor (counted as no face): "
          + ", ".join(f"{c} {face['faces_below_floor'][c]} of {face['faces_detected'][c]}" for c in conds) + ".", "",
          "Detections on the negative photos, longest embeddings first:", ""]
    L += [f"- {d}" for d in face["negative_detections_list"]] + [""]
    L += ["## Photos without a face (after the floor)", "", ", ".join(f"{c} {len(emb.no_face(c))}" for c in conds), ""]
    path.write_text("\n".join(L))


class _Row(dict):
    """A calibration point: written on one line."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Row, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))


def write_manifest(path: Path, cal: FarCalibration, default_far: float) -> float:
    raw = yaml.safe_load(path.read_text())
    t = cal.threshold_for(default_far)
    raw["thresholds"]["cosine"] = t
    raw["thresholds"]["cosine_target_far"] = default_far
    section = cal.to_dict()
    section["points"] = [_Row(p) for p in section["points"]]
    raw["calibration"] = section
    path.write_text(yaml.dump(raw, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=200))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.threshold", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=Path, default=SETS, help="the labelled sets (default tools/far_sets.yaml)")
    ap.add_argument("--model", default="sface", help="embedder model folder under models/ (default sface)")
    ap.add_argument("--cache", type=Path, default=REPO / "build" / "far-embeddings.npz", help="embedding cache")
    ap.add_argument("--no-write", action="store_true", help="measure and report to stdout only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        spec = yaml.safe_load(args.sets.read_text())
        models = REPO / "models"
        man_path = models / args.model / "manifest.yaml"
        man = load_manifest(man_path)
        floor = float(man.thresholds["min_norm"])
        default_far = float(spec["default_far"])
        unsure = [list(g) for s in spec["sets"] for g in s.get("unsure", [])]
        photos = [p for s in spec["sets"] for p in read_set(REPO / s["labels"])]
        rec = Recognizer(models_dir=models, embedder=args.model, min_face_quality=0)
        raw = embed_set(photos, rec.largest_embedding, conditions=spec["conditions"], fingerprint=rec.pipeline_fingerprint,
                        cache=args.cache, progress=lambda n, t: None if n % 200 and n != t else log.info("embedded %d of %d photos", n, t))
        face = faceness(rec, raw, floor)
        if face["negatives_passing"]:
            raise EdgeFaceError(f"the face-ness floor {floor} lets non-faces through: {face['negatives_passing']}; raise thresholds.min_norm")
        emb = raw.with_face_floor(floor)
        scores = pair_scores(emb, unsure)
        cal = calibrate(scores.impostors, scores.genuines, identities=scores.identities, photos=scores.photos,
                        data=tuple(str(s["labels"]) for s in spec["sets"]), detector=rec.detector_fingerprint)
        hold = held_out(emb, unsure)
        for p in cal.points:
            if p.far in REPORTED:
                print(f"FAR {p.far:g}: cosine {p.threshold:.4f} (set by {p.condition}: {p.false_accepts}/{p.pairs}, upper {p.upper:.2g}); "
                      "TAR " + ", ".join(f"{c} {v:.4f}" for c, v in p.tar.items()))
        print(f"face-ness: {face['negative_detections']} detections on negatives, longest {face['negative_max_norm']}; "
              f"real faces below {floor}: {face['faces_below_floor']}")
        if args.no_write:
            return 0
        det_png = f"{args.model}_det.png"
        draw_det({c: (scores.genuines[c], scores.impostors[c]) for c in cal.pairs}, models / det_png,
                 marks=[(f"FAR {f:g}", cal.threshold_for(f)) for f in REPORTED if cal.point_for(f)],
                 title=f"{args.model}: DET per condition (gallery clean, probe as named)")
        report(models / "CALIBRATION.md", args.model, cal, scores, face, hold, emb, det_png, default_far, floor)
        t = write_manifest(man_path, cal, default_far)
        print(f"wrote {man_path} (thresholds.cosine {t} for FAR {default_far:g}) and {models / 'CALIBRATION.md'}")
    except EdgeFaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
