"""Measure each int8 model against its float original, on images never used for calibration.

Int8 results come from the device code (``edge``); float results from the float
TFLite built from the same graph (itself checked against the original model).
Every function returns plain numbers for the manifest and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.attributes import AgeEstimator, softmax
from edge.detect import LetterboxDetector, box_ious
from edge.domain import Pixels
from edge.embed import Embedder
from edge.mesh import decode, eye_openness, inter_ocular
from edge.tensors import Model, pixels_to_input

#: Bars an int8 model must meet before it is written to models/.
BARS = {
    "detector": {"recall": 0.98, "landmark_error_iod": 0.03},
    "embedder": {"mean_cosine": 0.98, "pair_agreement": 0.99},
    "gender": {"top1_agreement": 0.97},
    "emotion": {"top1_agreement": 0.95},
    "age": {"mean_abs_diff_years": 1.5},
    "landmarks": {"landmark_error_iod": 0.03, "presence_agreement": 0.98},
    # Agreement on the crops whose float verdict is repeatable (see antispoof below), and at least 90% of them so.
    "antispoof": {"live_agreement_repeatable": 0.98, "repeatable_share": 0.9},
}


class FloatRunner:
    """Runs a float32 TFLite file by output name (the float original, for comparison)."""

    def __init__(self, path: Path, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self.it: Any = Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        names = self.it._get_full_signature_list()["serving_default"]["outputs"]
        self.outs = {name: idx for name, idx in names.items()}

    def __call__(self, pixels: NDArray) -> dict[str, NDArray[np.float32]]:
        self.it.set_tensor(self.inp["index"], pixels.reshape(self.inp["shape"]).astype(self.inp["dtype"]))
        self.it.invoke()
        return {k: self.it.get_tensor(i).astype(np.float32) for k, i in self.outs.items()}


def int8_outputs(model: Model, pixels: NDArray) -> dict[str, NDArray[np.float32]]:
    return model.run(pixels_to_input(pixels, model.manifest.input))


@dataclass
class Result:
    task: str
    metrics: dict[str, float]
    passed: bool
    failures: list[str] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)  # raw arrays for the report


def _judge(task: str, metrics: dict[str, float], plots: dict[str, Any] | None = None) -> Result:
    fails = []
    for key, bar in BARS[task].items():
        v = metrics[key]
        ok = v <= bar if key in ("landmark_error_iod", "mean_abs_diff_years") else v >= bar
        if not ok:
            fails.append(f"{key} = {v:.4f}, bar {'<=' if key in ('landmark_error_iod', 'mean_abs_diff_years') else '>='} {bar}")
    return Result(task, metrics, not fails, fails, plots or {})


def detector(det: LetterboxDetector, float_run: FloatRunner, canvases: list[tuple[str, Pixels]]) -> Result:
    """Recall of the float model's faces by the int8 model (IoU >= 0.5), and the mean distance between
    their keypoints (the ones the model outputs, see ``model_keypoints``) / inter-ocular distance.
    Also counted, not judged: int8 detections that match no float one (``int8_extra``)."""
    thr = det.score_threshold
    n_float = n_found = n_int8 = n_extra = 0
    errors: list[float] = []
    for _, canvas in canvases:
        fb, fk, fs = det.suppress(*det.decode(float_run(det.prepare(canvas)), thr))
        qb, qk, qs = det.suppress(*det.decode(det.raw(canvas), thr))
        n_int8 += len(qs)
        # int8 detections the float model does not have (IoU < 0.5 with all of its)
        n_extra += sum(1 for j in range(len(qs)) if not len(fs) or float(box_ious(qb[j], fb).max()) < 0.5)
        for i in range(len(fs)):
            n_float += 1
            if not len(qs):
                continue
            ious = box_ious(fb[i], qb)
            j = int(np.argmax(ious))
            if ious[j] < 0.5:
                continue
            n_found += 1
            fl, ql = det.model_keypoints(fk[i]), det.model_keypoints(qk[j])
            iod = max(float(np.linalg.norm(fl[0] - fl[1])), 1.0)
            errors.append(float(np.linalg.norm(fl - ql, axis=1).mean() / iod))
    err = np.asarray(errors) if errors else np.asarray([np.inf])
    metrics = {
        "images": float(len(canvases)),
        "float_faces": float(n_float),
        "int8_matched": float(n_found),
        "recall": n_found / n_float if n_float else 0.0,
        "int8_faces": float(n_int8),
        "int8_extra": float(n_extra),
        "landmark_error_iod": float(err.mean()),
        "landmark_error_iod_p95": float(np.percentile(err, 95)),
    }
    return _judge("detector", metrics)


def _threshold_at_far(neg: NDArray, far: float) -> float:
    """Smallest cosine threshold whose false-accept rate on ``neg`` is <= far."""
    s = np.sort(neg)[::-1]
    k = int(np.floor(far * len(s)))
    return float(s[k]) + 1e-6 if k < len(s) else float(s[-1])


def embedder(
    model: Model,
    float_run: FloatRunner,
    crops: list[tuple[str, Pixels]],
    pair_crops: dict[str, Pixels],
    pairs: list[tuple[str, str, bool]],
    target_far: float,
) -> tuple[Result, float]:
    """Cosine(int8, float) on crops, and same/different agreement on labelled pairs at
    the threshold chosen (on int8 similarities) for ``target_far``. Returns the threshold too."""
    embedder = Embedder(model)  # the device's own decoding, for both sides

    def emb_q(c: NDArray) -> NDArray:
        return embedder.decode(int8_outputs(model, c)).vector

    def emb_f(c: NDArray) -> NDArray:
        return embedder.decode(float_run(c)).vector

    cos = np.asarray([float(emb_q(c) @ emb_f(c)) for _, c in crops])
    eq = {k: emb_q(c) for k, c in pair_crops.items()}
    ef = {k: emb_f(c) for k, c in pair_crops.items()}
    usable = [(a, b, s) for a, b, s in pairs if a in eq and b in eq]
    same = np.asarray([s for _, _, s in usable])
    sim_q = np.asarray([float(eq[a] @ eq[b]) for a, b, _ in usable])
    sim_f = np.asarray([float(ef[a] @ ef[b]) for a, b, _ in usable])
    thr = _threshold_at_far(sim_q[~same], target_far)
    agree = float(np.mean((sim_q >= thr) == (sim_f >= thr)))
    metrics = {
        "crops": float(len(crops)),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "pairs": float(len(usable)),
        "pairs_skipped_no_face": float(len(pairs) - len(usable)),
        "pair_agreement": agree,
        "threshold": thr,
        "target_far": target_far,
        "far_int8": float(np.mean(sim_q[~same] >= thr)),
        "tar_int8": float(np.mean(sim_q[same] >= thr)),
        "tar_float": float(np.mean(sim_f[same] >= thr)),
        "far_float": float(np.mean(sim_f[~same] >= thr)),
    }
    plots = {"cosine": cos, "sim_q": sim_q, "sim_f": sim_f, "same": same}
    return _judge("embedder", metrics, plots), thr


def classifier(task: str, model: Model, float_run: FloatRunner, crops: list[tuple[str, Pixels]]) -> Result:
    out = model.manifest.outputs[0].name
    pq = np.stack([softmax(int8_outputs(model, c)[out].reshape(-1)) for _, c in crops])
    pf = np.stack([softmax(float_run(c)[out].reshape(-1)) for _, c in crops])
    metrics = {"crops": float(len(crops)), "top1_agreement": float(np.mean(pq.argmax(1) == pf.argmax(1))), "mean_abs_prob_diff": float(np.abs(pq - pf).mean())}
    return _judge(task, metrics)


def age(model: Model, float_run: FloatRunner, crops: list[tuple[str, Pixels]]) -> Result:
    out = model.manifest.outputs[0].name
    head = AgeEstimator(model)  # the device's own decoding, for both sides
    aq = np.asarray([head.years(int8_outputs(model, c)[out]) for _, c in crops])
    af = np.asarray([head.years(float_run(c)[out]) for _, c in crops])
    d = np.abs(aq - af)
    metrics = {"crops": float(len(crops)), "mean_abs_diff_years": float(d.mean()), "max_abs_diff_years": float(d.max()), "mean_age_float": float(af.mean())}
    return _judge("age", metrics)


def landmarks(model: Model, float_run: FloatRunner, crops: list[tuple[str, Pixels]]) -> Result:
    """Face mesh: per crop, the mean distance (x, y) between int8 and float points over the 468
    points / the float mesh's inter-ocular distance (outer eye corners 33, 263); agreement of
    presence >= 0.5; and, not judged, the eye-openness (EAR) difference that blink cues rest on."""
    dec = model.manifest.decoding
    lm, pr = str(dec["landmarks"]), str(dec["presence"])
    errors, agree, ear_diff, ear_float, pres_diff, pres_f = [], [], [], [], [], []
    for _, c in crops:
        q, f = int8_outputs(model, c), float_run(c)
        pq, sq = decode(q[lm], q[pr])
        pf, sf = decode(f[lm], f[pr])
        iod = max(inter_ocular(pf), 1.0)
        errors.append(float(np.linalg.norm(pq[:, :2] - pf[:, :2], axis=1).mean() / iod))
        agree.append((sq >= 0.5) == (sf >= 0.5))
        pres_diff.append(abs(sq - sf))
        pres_f.append(sf >= 0.5)
        ef = eye_openness(pf)
        ear_float.append(ef)
        ear_diff.append(abs(eye_openness(pq) - ef))
    err, ed = np.asarray(errors), np.asarray(ear_diff)
    metrics = {
        "crops": float(len(crops)),
        "landmark_error_iod": float(err.mean()),
        "landmark_error_iod_p95": float(np.percentile(err, 95)),
        "landmark_error_iod_max": float(err.max()),
        "presence_agreement": float(np.mean(agree)),
        "presence_float_share_present": float(np.mean(pres_f)),
        "presence_mean_abs_diff": float(np.mean(pres_diff)),
        "eye_openness_abs_diff": float(ed.mean()),
        "eye_openness_abs_diff_p95": float(np.percentile(ed, 95)),
        "eye_openness_float_mean": float(np.mean(ear_float)),
    }
    return _judge("landmarks", metrics)


def antispoof(model: Model, float_run: FloatRunner, crops: list[tuple[str, Pixels]], noise_draws: int = 8) -> Result:
    """Live/spoof verdicts (live probability >= 0.5) of int8 against float, and the live probability's differences.

    MiniFASNet's float verdict is not stable on every crop: Gaussian noise of 1 grey level flips it on
    about 3% of the held-out crops (2026-12-01), so no int8 copy can agree with it there but by chance.
    The bar is therefore judged on the crops whose float verdict is *repeatable*: the same on
    ``noise_draws`` copies with sigma-1 noise (fixed seed). The agreement on all crops is reported too."""
    out = model.manifest.outputs[0].name
    live = int(model.manifest.decoding.get("live_class", 1))

    def prob(run: Any, c: Pixels) -> float:
        return float(softmax(run(c)[out].reshape(-1))[live])

    pq = np.asarray([prob(lambda x: int8_outputs(model, x), c) for _, c in crops])
    pf = np.asarray([prob(float_run, c) for _, c in crops])
    rng = np.random.default_rng(0)
    repeatable = np.ones(len(crops), bool)
    for i, (_, c) in enumerate(crops):
        for _ in range(noise_draws):
            noisy = np.clip(c.astype(np.float32) + rng.normal(0, 1.0, c.shape), 0, 255).astype(np.uint8)
            if (prob(float_run, noisy) >= 0.5) != (pf[i] >= 0.5):
                repeatable[i] = False
                break
    agree = (pq >= 0.5) == (pf >= 0.5)
    d = np.abs(pq - pf)
    metrics = {
        "crops": float(len(crops)),
        "live_agreement": float(np.mean(agree)),
        "repeatable_share": float(np.mean(repeatable)),
        "live_agreement_repeatable": float(np.mean(agree[repeatable])) if repeatable.any() else 0.0,
        "live_float": float(np.sum(pf >= 0.5)),
        "mean_abs_live_prob_diff": float(d.mean()),
        "max_abs_live_prob_diff": float(d.max()),
    }
    return _judge("antispoof", metrics)
