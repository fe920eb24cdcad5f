"""How well decisions work on labelled data: verification pairs (accuracy, ROC, TAR at stated
false-accept rates, DET curve) and open-set identification (FPIR and FNIR against gallery size).

A true-accept rate "at FAR f" is reported only when there are at least 3/f impostor pairs
(fewer cannot bound the false-accept rate by f); otherwise it is None ("not measurable").
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.calibration import OperatingPoint, upper_bound
from edge.errors import DatasetError, OutputError
from edge.labelled import Embedded

TRUE = {"1", "true", "yes", "same"}
FALSE = {"0", "false", "no", "different"}
#: False-accept rates at which TAR is reported (when the impostor count can back them).
REPORT_FARS = (1e-2, 1e-3, 1e-4, 1e-5)


@dataclass(frozen=True)
class TarAtFar:
    far: float
    tar: float | None  # None: fewer than 3/far impostor pairs, not measurable
    threshold: float | None
    impostors: int


@dataclass(frozen=True)
class PairReport:
    pairs: int
    same: int
    different: int
    no_face: tuple[str, ...]  # images without a face (their pairs are left out)
    threshold: float
    threshold_far: float | None  # the false-accept rate ``threshold`` was calibrated for (None: not calibrated)
    accuracy: float  # at ``threshold``
    far_at_threshold: float
    tar_at_threshold: float
    best_threshold: float
    best_accuracy: float
    roc_auc: float
    tar_at_far: tuple[TarAtFar, ...]
    similarities: NDArray[np.float32]
    labels: NDArray[np.bool_]


def read_pairs(path: str | Path) -> list[tuple[str, str, bool]]:
    """Rows of a pairs CSV (columns file_a, file_b, same: 1/0, true/false, yes/no)."""
    p = Path(path)
    try:
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"{p}: cannot read pairs file ({e.strerror})") from e
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{p}: not a readable CSV ({e}); expected columns file_a, file_b, same") from e
    need = {"file_a", "file_b", "same"}
    if not rows or not need <= set(rows[0]):
        found = sorted(k for k in rows[0] if k) if rows else "no rows"
        raise DatasetError(f"{p}: expected a CSV with columns file_a, file_b, same (1 or 0), found {found}")
    out = []
    for n, r in enumerate(rows, 2):
        a, b, same = r.get("file_a"), r.get("file_b"), r.get("same")
        if not a or not b or same is None:
            raise DatasetError(f"{p}, line {n}: expected file_a, file_b and same, found a short row ({r}); the file may be truncated")
        v = same.strip().lower()
        if v not in TRUE | FALSE:
            raise DatasetError(f"{p}, line {n}: same is {same!r}; expected 1 (same person) or 0 (different people)")
        out.append((a, b, v in TRUE))
    return out


def roc(sims: NDArray, labels: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """(false accept rates, true accept rates, thresholds), thresholds descending."""
    order = np.argsort(-sims, kind="stable")
    s, y = sims[order], labels[order]
    tp, fp = np.cumsum(y), np.cumsum(~y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each distinct threshold
    tar = np.r_[0.0, tp[last] / max(1, y.sum())]
    far = np.r_[0.0, fp[last] / max(1, (~y).sum())]
    return far, tar, np.r_[np.inf, s[last]]


def tar_at_far(genuine: NDArray, impostor: NDArray, fars: Sequence[float] = REPORT_FARS) -> tuple[TarAtFar, ...]:
    """TAR at each rate, with the threshold that gives it on these impostors (None when the
    impostor count cannot back the rate: fewer than 3/far pairs)."""
    out = []
    imp = np.sort(np.asarray(impostor, np.float32))[::-1]
    for f in fars:
        if len(imp) < 3 / f:
            out.append(TarAtFar(f, None, None, len(imp)))
            continue
        k = int(math.floor(f * len(imp)))  # at most k impostors accepted
        t = float(np.nextafter(imp[k], np.float32(2))) if k < len(imp) else -1.0
        out.append(TarAtFar(f, float(np.mean(np.asarray(genuine) >= t)), t, len(imp)))
    return tuple(out)


def evaluate(pairs: list[tuple[str, str, bool]], root: Path, embed: Callable[[Path], NDArray[np.float32] | None], point: OperatingPoint,
             progress: Callable[[int, int], None] | None = None) -> PairReport:
    """``embed`` returns a file's embedding, or None when it has no face; ``point`` the threshold to judge at."""
    cache: dict[str, NDArray[np.float32] | None] = {}
    files = sorted({f for a, b, _ in pairs for f in (a, b)})
    for n, f in enumerate(files, 1):
        cache[f] = embed(root / f)
        if progress:
            progress(n, len(files))
    usable = [(a, b, s) for a, b, s in pairs if cache[a] is not None and cache[b] is not None]
    if not usable:
        raise DatasetError("no pair has a face in both images; check --root")
    sims = np.asarray([float(cache[a] @ cache[b]) for a, b, _ in usable], np.float32)  # type: ignore[operator]
    labels = np.asarray([s for *_, s in usable], bool)
    far, tar, thr = roc(sims, labels)
    auc = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))
    accs = [(float(np.mean((sims >= t) == labels)), float(t)) for t in thr[1:]]
    best_acc, best_t = max(accs)
    t = point.threshold
    return PairReport(
        pairs=len(usable), same=int(labels.sum()), different=int((~labels).sum()),
        no_face=tuple(f for f in files if cache[f] is None), threshold=t, threshold_far=point.bound,
        accuracy=float(np.mean((sims >= t) == labels)),
        far_at_threshold=float(np.mean(sims[~labels] >= t)) if (~labels).any() else float("nan"),
        tar_at_threshold=float(np.mean(sims[labels] >= t)) if labels.any() else float("nan"),
        best_threshold=best_t, best_accuracy=best_acc,
        roc_auc=auc, tar_at_far=tar_at_far(sims[labels], sims[~labels]), similarities=sims, labels=labels,
    )


# --- open-set identification -------------------------------------------------------------------


@dataclass(frozen=True)
class IdentificationResult:
    """One gallery size at one operating point, over ``draws`` random galleries. A mated probe
    (a photo of an enrolled person not used as their template) is a miss (FNIR) unless its best
    match is the right person at or above the threshold; a non-mated probe (anyone else) is a
    false positive (FPIR) when its best match reaches the threshold. ``wrong``: mated probes
    identified as someone else."""

    people: int
    templates_per_person: int
    draws: int
    purpose: str
    target: float | None
    threshold: float
    bound: float | None
    corrected: bool  # threshold set for the gallery's template count (False: per-comparison rate, as if 1:1)
    mated: int
    non_mated: int
    misses: int
    wrong: int
    false_positives: int

    @property
    def fnir(self) -> float:
        return self.misses / self.mated if self.mated else float("nan")

    @property
    def fpir(self) -> float:
        return self.false_positives / self.non_mated if self.non_mated else float("nan")

    @property
    def fpir_upper(self) -> float:
        """95% upper bound of FPIR (probes of one draw share a gallery: a rough bound)."""
        return upper_bound(self.false_positives, self.non_mated)


def identification(
    emb: Embedded,
    *,
    sizes: Sequence[int],
    point: Callable[[int], OperatingPoint],
    templates: int = 1,
    draws: int = 20,
    probe_condition: str = "clean",
    margin: float = 0.0,
    seed: int = 0,
    corrected: bool = True,
    unsure: Sequence[Sequence[str]] = (),
) -> list[IdentificationResult]:
    """FPIR / FNIR for galleries of each size in ``sizes`` (people; at most nine tenths of the eligible
    identities, so that strangers remain in every draw), ``templates`` clean photos each, probes under
    ``probe_condition``. ``point(comparisons)`` gives the threshold for a gallery of that many
    templates. ``margin``: the best person must beat the second best by this much. ``unsure``: groups
    of identities that may be one person (a probe of one is never counted as a stranger to another)."""
    ident = np.array([p.identity or "" for p in emb.photos])
    ok_g = emb.found["clean"]
    ok_p = emb.found[probe_condition]
    names = sorted({n for n, g in zip(ident, ok_g, strict=True) if n and g})
    eligible = [n for n in names if int(np.sum((ident == n) & ok_g)) >= templates + 1]
    if len(eligible) < 2:
        raise DatasetError(f"identification needs at least 2 identities with {templates + 1}+ photos with a face; found {len(eligible)}")
    rng = np.random.default_rng(seed)
    sims_all = emb.vectors[probe_condition] @ emb.vectors["clean"].T  # probes x gallery photos
    out = []
    most = len(eligible) - max(1, len(eligible) // 10)  # at least a tenth of the identities stay strangers in every draw
    for size in sizes:
        k = min(int(size), most)
        op = point(k * templates if corrected else 1)
        mated = non_mated = misses = wrong = fps = 0
        for _ in range(draws):
            people = rng.choice(eligible, k, replace=False)
            tmpl_idx, owner = [], []
            for j, n in enumerate(people):
                idx = np.nonzero((ident == n) & ok_g)[0]
                chosen = rng.choice(idx, templates, replace=False)
                tmpl_idx += chosen.tolist()
                owner += [j] * templates
            tmpl = np.array(tmpl_idx)
            own = np.array(owner)
            is_tmpl = np.zeros(len(ident), bool)
            is_tmpl[tmpl] = True
            probes = np.nonzero(ok_p & ~is_tmpl)[0]
            s = sims_all[np.ix_(probes, tmpl)]
            per_person = np.full((len(probes), k), -2.0, np.float32)
            np.maximum.at(per_person.T, own, s.T)  # best template of each person
            order = np.argsort(-per_person, axis=1)
            best = per_person[np.arange(len(probes)), order[:, 0]]
            second = per_person[np.arange(len(probes)), order[:, 1]] if k > 1 else np.full(len(probes), -2.0)
            accept = (best >= op.threshold) & (best - second >= margin)
            who = people[order[:, 0]]
            enrolled = np.isin(ident[probes], people)
            doubtful = np.zeros(len(probes), bool)
            for group in unsure:
                if np.isin(people, group).any():
                    doubtful |= np.isin(ident[probes], group) & ~enrolled
            mated += int(enrolled.sum())
            non_mated += int((~enrolled & ~doubtful).sum())
            right = accept & (who == ident[probes])
            misses += int((enrolled & ~right).sum())
            wrong += int((enrolled & accept & ~right).sum())
            fps += int((~enrolled & ~doubtful & accept).sum())
        out.append(IdentificationResult(k, templates, draws, op.purpose, op.target, op.threshold, op.bound, corrected,
                                        mated, non_mated, misses, wrong, fps))
    return out


# --- plots --------------------------------------------------------------------------------------

_COLOURS = [(200, 60, 0), (0, 140, 0), (0, 0, 200), (150, 0, 150), (0, 150, 150), (100, 100, 100)]


def draw_det(curves: dict[str, tuple[NDArray, NDArray]], path: str | Path, *, marks: Sequence[tuple[str, float]] = (),
             title: str = "DET", size: tuple[int, int] = (640, 480)) -> None:
    """DET curves as a PNG: false-accept rate (log axis, down to the smallest rate each curve can
    measure: 1 / its impostor count) against false-reject rate (log axis). ``curves``: label ->
    (genuine, impostor) similarities. ``marks``: (label, threshold) operating points, drawn as a
    dot on each curve."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 70, h - 55, w - 20, 58
    smallest = min(1.0 / max(1, len(imp)) for _, imp in curves.values()) if curves else 1e-3
    lo_x = math.floor(math.log10(smallest))
    lo_y = -3

    def px(far: float, frr: float) -> tuple[int, int]:
        fx = (math.log10(max(far, 10.0**lo_x)) - lo_x) / -lo_x
        fy = (math.log10(max(frr, 10.0**lo_y)) - lo_y) / -lo_y
        return int(x0 + fx * (x1 - x0)), int(y0 - fy * (y0 - y1))

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(img, (x0, y1), (x1, y0), (0, 0, 0), 1)
    for e in range(lo_x, 1):
        x = px(10.0**e, 1e-9)[0]
        cv2.line(img, (x, y0), (x, y1), (225, 225, 225), 1)
        cv2.putText(img, f"1e{e}", (x - 14, y0 + 16), font, 0.38, (0, 0, 0), 1)
    for e in range(lo_y, 1):
        y = px(1e-12, 10.0**e)[1]
        cv2.line(img, (x0, y), (x1, y), (225, 225, 225), 1)
        cv2.putText(img, f"1e{e}", (x0 - 38, y + 4), font, 0.38, (0, 0, 0), 1)
    cv2.putText(img, "false-accept rate (impostor pairs accepted, log)", (x0 + 60, h - 22), font, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "false-reject rate (log)", (5, y1 - 12 - 18), font, 0.45, (0, 0, 0), 1)
    cv2.putText(img, title, (x0 + 10, y1 - 12), font, 0.5, (0, 0, 0), 1)
    legend_y = y0 - 12 - 18 * len(curves)
    for i, (label, (gen, imp)) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        g, m = np.sort(np.asarray(gen, np.float32)), np.sort(np.asarray(imp, np.float32))
        ts = np.unique(np.quantile(np.r_[g, m[-min(len(m), 20000):]], np.linspace(0, 1, 600)))
        far = 1.0 - np.searchsorted(m, ts, side="left") / max(1, len(m))
        frr = np.searchsorted(g, ts, side="left") / max(1, len(g))
        pts = np.array([px(a, b) for a, b in zip(far, frr, strict=True) if a > 0], np.int32)
        if len(pts) > 1:
            cv2.polylines(img, [pts], False, colour, 2)
        cv2.putText(img, f"{label} ({len(g)} genuine, {len(m)} impostor pairs)", (x0 + 10, legend_y + 18 * i), font, 0.42, colour, 1)
        for k, (name, t) in enumerate(marks):
            a = 1.0 - np.searchsorted(m, t, side="left") / max(1, len(m))
            b = np.searchsorted(g, t, side="left") / max(1, len(g))
            p = px(max(a, 10.0**lo_x), b)
            cv2.circle(img, p, 4, colour, -1)
            if i == 0:  # the operating point's name and cosine, above the first curve
                cv2.line(img, p, (p[0], y1 + 30 + 16 * k), (160, 160, 160), 1)
                cv2.putText(img, f"{name}: {t:.3f}", (p[0] + 3, y1 + 28 + 16 * k), font, 0.38, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), img):
        raise OutputError(f"cannot write {path}; expected a writable .png path")
