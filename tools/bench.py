"""Per-model latency: each int8 model against its float original, same run, 1 and 2 threads.

    .venv/bin/python -m tools.bench [--runs 50] [--out build/bench.json]

Runs on ai-edge-litert (the device runtime, XNNPACK). Needs the float originals
in build/float/, which ``python -m tools.build`` writes. Prints medians and
writes every number to JSON; compare the int8/float ratio, not absolute times,
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.bench import time_it
from edge.image import load_image
from edge.manifest import MODELS_DIR, load_manifest
from edge.runtime import make_interpreter, runtime_name
from edge.tensors import Model, pixels_to_input

REPO = Path(__file__).resolve().parent.parent
FLOAT_DIR = REPO / "build" / "float"
SAMPLE = REPO / "tests" / "data" / "face_recognition__obama.jpg"


def bench_model(folder: Path, threads: int, runs: int) -> dict[str, Any]:
    man = load_manifest(folder)
    _, h, w, c = man.input.shape
    img = cv2.resize(load_image(SAMPLE), (w, h))
    if c == 1:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    q = Model(man, threads=threads)
    x = pixels_to_input(img, man.input)
    res: dict[str, Any] = {"model": man.name, "threads": threads, "int8_ms": time_it(lambda: q.run(x), runs)["median_ms"]}
    fpath = FLOAT_DIR / f"{man.name}_float32.tflite"
    if fpath.exists():
        it = make_interpreter(fpath, threads=threads)
        d = it.get_input_details()[0]
        xf = img.reshape(d["shape"]).astype(np.float32)

        def run_f() -> None:
            it.set_tensor(d["index"], xf)
            it.invoke()

        res["float_ms"] = time_it(run_f, runs)["median_ms"]
        res["ratio"] = res["int8_ms"] / res["float_ms"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "bench.json")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'model':10s} {'thr':>3s} {'int8 ms':>8s} {'float ms':>9s} {'int8/float':>10s}")
    for folder in sorted(p.parent for p in args.models.glob("*/manifest.yaml")):
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
