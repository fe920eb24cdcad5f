"""Per-model latency: each int8 model against its float original, same run, 1 and 2 threads.

    .venv/bin/python -m tools.bench [--runs 50] [--only blazeface yunet] [--out build/bench.json]

Runs on ai-edge-litert (the device runtime, XNNPACK). Needs the float originals
in build/float/, which ``python -m tools.build`` writes. Prints medians and
writes every number to JSON; compare the int8/float ratio, not absolute times,
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.image import load_image
from edge.manifest import MODELS_DIR, load_manifest
from edge.runtime import make_interpreter, runtime_name
from edge.tensors import Model, pixels_to_input

REPO = Path(__file__).resolve().parent.parent
FLOAT_DIR = REPO / "build" / "float"
SAMPLE = REPO / "tests" / "data" / "face_recognition__obama.jpg"


def bench_model(folder: Path, threads: int, runs: int) -> dict[str, Any]:
    """Median set_tensor + invoke of the int8 model and of its float original. The two run
    alternately in one loop, so a shared machine's slow spells hit both alike."""
    man = load_manifest(folder)
    _, h, w, c = man.input.shape
    img = cv2.resize(load_image(SAMPLE), (w, h))
    if c == 1:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    q = Model(man, threads=threads).interpreter
    dq = q.get_input_details()[man.input.index]
    x = pixels_to_input(img, man.input)
    runners = {"int8": (q, dq["index"], x)}
    fpath = FLOAT_DIR / f"{man.name}_float32.tflite"
    if fpath.exists():
        f = make_interpreter(fpath, threads=threads)
        d = f.get_input_details()[0]
        runners["float"] = (f, d["index"], img.reshape(d["shape"]).astype(np.float32))
    times: dict[str, list[float]] = {k: [] for k in runners}
    for i in range(runs + 5):
        for k, (it, idx, arr) in runners.items():
            t = time.perf_counter()
            it.set_tensor(idx, arr)
            it.invoke()
            if i >= 5:  # warm-up
                times[k].append((time.perf_counter() - t) * 1000.0)
    res: dict[str, Any] = {"model": man.name, "threads": threads, "int8_ms": statistics.median(times["int8"])}
    if "float" in times:
        res["float_ms"] = statistics.median(times["float"])
        res["ratio"] = res["int8_ms"] / res["float_ms"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--models", type=Path, default=MODELS_DIR, help="folder of model folders (default: models/)")
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "bench.json")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'model':10s} {'thr':>3s} {'int8 ms':>8s} {'float ms':>9s} {'int8/float':>10s}")
    for folder in sorted(p.parent for p in args.models.glob("*/manifest.yaml") if not args.only or p.parent.name in args.only):
        for threads in (1, 2):
            r = bench_model(folder, threads, args.runs)
            rows.append(r)
            fl = f"{r['float_ms']:9.2f} {r['ratio']:10.2f}" if "float_ms" in r else f"{'-':>9s} {'-':>10s}"
            print(f"{r['model']:10s} {threads:3d} {r['int8_ms']:8.2f} {fl}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(), "runtime": runtime_name(), "runs": args.runs}
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
