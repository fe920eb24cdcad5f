"""Face detectors behind one protocol: image in, list of :class:`Detection` out.

Backends live in ``DETECTORS`` (an explicit registry): ``yunet`` (default) and
``blazeface``. Box decoding and NMS run on the host in numpy; the int8 model
only produces raw head tensors (see each manifest's ``decoding``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.domain import BBox, Detection, Pixels
from edge.image import View
from edge.tensors import Model, pixels_to_input

#: Automatic tiling: a face narrower than this fraction of the canvas height on the first view's
#: canvas (32 px of YuNet's 480) is near the smallest the detector finds (about 16 px there), so the
#: scene may hold smaller ones the view cannot see: search tiles.
SMALL_ON_CANVAS = 1 / 15
#: Automatic tiling's most tiles per side (3x3: faces 30 px wide in a 1920x1080 frame, tested).
MAX_AUTO_GRID = 3


class Detector(Protocol):
    """Finds faces in a BGR uint8 image; results sorted by score, best first. ``width`` and
    ``height`` are the model's canvas (what :func:`edge.image.load_view` reduces a photo towards)."""

    width: int
    height: int

    def detect(self, image: Pixels) -> list[Detection]: ...

    def detect_view(self, view: View) -> list[Detection]: ...


def letterbox(image: Pixels, height: int, width: int, pad: int = 0, max_upscale: float | None = None) -> tuple[Pixels, float]:
    """Scale ``image`` to fit (height, width) keeping its aspect ratio, pad bottom/right with ``pad``
    (the manifest's ``preprocess.pad``: BlazeFace gives wild outputs on black borders, so it pads grey).
    ``max_upscale`` caps how much a small image is enlarged (None: enlarged to fit).

    Returns the canvas and the scale; a point ``p`` on the canvas is ``p / scale`` in the image.
    """
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    if max_upscale is not None:
        scale = min(scale, max_upscale)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else image
    canvas = np.full((height, width, image.shape[2]), pad, np.uint8)
    canvas[:nh, :nw] = resized
    return canvas, scale


def box_ious(box: NDArray, boxes: NDArray) -> NDArray:
    """IoU of one box (x1, y1, x2, y2) with each row of ``boxes`` (Nx4)."""
    iw = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
    ih = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
    inter = iw * ih
    area = np.maximum(0, box[2] - box[0]) * np.maximum(0, box[3] - box[1])
    areas = np.maximum(0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0, boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float, top_k: int = 750) -> NDArray[np.int64]:
    """Greedy non-maximum suppression; ``boxes`` is Nx4 (x1, y1, x2, y2). Returns kept indices, best first."""
    order = np.argsort(-scores)[:top_k]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[box_ious(boxes[i], boxes[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def weighted_nms(boxes: NDArray, kps: NDArray, scores: NDArray, iou: float) -> tuple[NDArray, NDArray, NDArray]:
    """MediaPipe's WEIGHTED suppression (BlazeFace's "blending" in place of NMS): every kept
    detection is the score-weighted mean of the candidates overlapping the best remaining one
    by more than ``iou``; its score is the best one's. Returns boxes, keypoints, scores, best first."""
    order = np.argsort(-scores)
    out_b, out_k, out_s = [], [], []
    while order.size:
        ious = box_ious(boxes[order[0]], boxes[order])
        group = order[ious > iou]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((kps[group] * w).sum(0) / w.sum())
        out_s.append(scores[order[0]])
        order = order[ious <= iou]
    if not out_s:
        return boxes[:0], kps[:0], scores[:0]
    return np.stack(out_b).astype(np.float32), np.stack(out_k).astype(np.float32), np.asarray(out_s, np.float32)


def _to_detections(boxes: NDArray, kps: NDArray, scores: NDArray, shape: tuple[int, ...]) -> list[Detection]:
    """Suppressed candidates as :class:`Detection` values, clipped to the image."""
    h, w = shape[:2]
    out = []
    for i in range(len(scores)):
        b = boxes[i]
        out.append(
            Detection(
                box=BBox(float(max(0.0, b[0])), float(max(0.0, b[1])), float(min(w, b[2])), float(min(h, b[3]))),
                landmarks=kps[i].reshape(5, 2).astype(np.float32),
                score=float(scores[i]),
            )
        )
    return out


def _whole_in_tile(boxes: NDArray, kps: NDArray, scores: NDArray, tile: tuple[int, int, int, int], image_wh: tuple[int, int]) -> tuple[NDArray, NDArray, NDArray]:
    """Drop a tile's candidates that touch one of its inner edges (2% margin): a face cut by the
    tile gets a truncated box and wrong landmarks, yet can outscore the whole face seen in the
    full view or the overlapping tile. Edges on the image border do not cut anything."""
    x0, y0, tw, th = tile
    w, h = image_wh
    mx, my = 0.02 * tw, 0.02 * th
    ok = np.ones(len(scores), bool)
    if x0 > 0:
        ok &= boxes[:, 0] > x0 + mx
    if x0 + tw < w:
        ok &= boxes[:, 2] < x0 + tw - mx
    if y0 > 0:
        ok &= boxes[:, 1] > y0 + my
    if y0 + th < h:
        ok &= boxes[:, 3] < y0 + th - my
    return boxes[ok], kps[ok], scores[ok]


class LetterboxDetector:
    """Shared shape of the detectors: letterbox the frame onto the model's canvas, run the
    int8 model, decode candidates on the host (``decode``, per backend), NMS, map back."""

    def __init__(self, model: Model, *, score_threshold: float | None = None, nms_iou: float | None = None, tiles: int = 0):
        """``tiles``: 0 = automatic (overlapping tiles of frames of at least four times the model's
        input area, when the first pass found no face or a very small one; see :meth:`detect_view`),
        1 = never tile, N = always an NxN grid."""
        m = model.manifest
        self.model = model
        self.tiles = int(tiles)
        self.height, self.width = m.input.shape[1], m.input.shape[2]
        self.pad = int(m.preprocess.get("pad", 0))
        up, retry = m.preprocess.get("max_upscale"), m.preprocess.get("retry_upscale")
        self.max_upscale = None if up is None else float(up)
        self.retry_upscale = None if retry is None else float(retry)
        self.score_threshold = float(score_threshold if score_threshold is not None else m.thresholds["score"])
        self.nms_iou = float(nms_iou if nms_iou is not None else m.thresholds["nms_iou"])

    def prepare(self, canvas: Pixels) -> Pixels:
        """The letterboxed BGR canvas in the colour order the model takes."""
        if self.model.manifest.colour_order == "RGB":
            return np.ascontiguousarray(canvas[:, :, ::-1])
        return canvas

    def raw(self, canvas: Pixels) -> dict[str, NDArray[np.float32]]:
        return self.model.run(pixels_to_input(self.prepare(canvas), self.model.manifest.input))

    def decode(self, out: dict[str, NDArray[np.float32]], threshold: float) -> tuple[NDArray, NDArray, NDArray]:
        raise NotImplementedError

    def suppress(self, boxes: NDArray, kps: NDArray, scores: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """Overlapping candidates -> one detection each, best first: greedy NMS, or weighted
        blending when the manifest's decoding says ``suppression: weighted``."""
        if self.model.manifest.decoding.get("suppression") == "weighted":
            return weighted_nms(boxes, kps, scores, self.nms_iou)
        keep = nms(boxes, scores, self.nms_iou) if len(scores) else np.zeros(0, np.int64)
        return boxes[keep], kps[keep], scores[keep]

    @staticmethod
    def model_keypoints(landmarks: NDArray) -> NDArray:
        """The points among a detection's five landmarks that the model itself outputs
        (Nx2); fidelity is measured on these, not on points the host derives."""
        return np.asarray(landmarks).reshape(-1, 2)

    def _candidates(self, image: Pixels, x0: int = 0, y0: int = 0, max_upscale: float | None = None) -> tuple[NDArray, NDArray, NDArray]:
        """Candidates of one letterboxed view, in the coordinates of the full image."""
        canvas, scale = letterbox(image, self.height, self.width, self.pad, self.max_upscale if max_upscale is None else max_upscale)
        boxes, kps, scores = self.decode(self.raw(canvas), self.score_threshold)
        off = np.array([x0, y0], np.float32)
        return boxes / scale + np.tile(off, 2), kps / scale + np.tile(off, 5), scores

    def detect(self, image: Pixels) -> list[Detection]:
        """Faces in ``image``, best first (see :meth:`detect_view`)."""
        return self.detect_view(View(image))

    def auto_grid(self, w: int, h: int) -> int:
        """Tiles per side for an image of ``w`` x ``h`` when tiles are searched automatically: enough
        that each tile (a quarter larger than its share, for overlap) is seen at about three
        quarters of its size or more, at most :data:`MAX_AUTO_GRID`; 1 when the image is under four
        canvases (the first view already sees it at half size or more)."""
        if h * w < 4 * self.height * self.width:
            return 1
        return int(min(MAX_AUTO_GRID, max(2, np.ceil(0.9375 * max(w / self.width, h / self.height)))))

    def detect_view(self, view: View) -> list[Detection]:
        """Faces in the image of ``view``, best first, in full-image pixels. The first pass runs on
        the view's pixels. A small image is enlarged at most ``max_upscale`` times, and one without a
        face is searched once more enlarged only ``retry_upscale`` times (a face that fills a
        thumbnail is too large for the model when blown up to the canvas). Tiles (``tiles`` > 1: an
        NxN grid, always; 0: automatic) search the full-resolution image in overlapping parts so that
        small, far faces are found; automatic tiling searches them only where the first pass could
        have missed faces: it found none, or found one so small on its canvas that smaller ones may
        be there (:data:`SMALL_ON_CANVAS`)."""
        f = float(view.factor)
        first = self._candidates(view.pixels)
        h, w = view.pixels.shape[:2]
        fit = min(self.width / w, self.height / h, self.max_upscale or np.inf)
        if self.retry_upscale is not None and not len(first[2]) and fit > self.retry_upscale:
            first = self._candidates(view.pixels, max_upscale=self.retry_upscale)
        parts = [(first[0] * f, first[1] * f, first[2])]
        W, H = view.size
        grid = self.tiles
        if grid == 0:
            grid = self.auto_grid(W, H)
            if grid > 1 and len(first[2]):
                canvas_widths = (first[0][:, 2] - first[0][:, 0]) * min(fit, 1.0)
                if float(canvas_widths.min()) >= SMALL_ON_CANVAS * self.height:
                    grid = 1
        if grid > 1:
            image = view.full()
            H, W = image.shape[:2]
            th, tw = int(H / grid * 1.25), int(W / grid * 1.25)  # 25% overlap
            for gy in range(grid):
                for gx in range(grid):
                    y0 = min(H - th, round(gy * (H - th) / (grid - 1)))
                    x0 = min(W - tw, round(gx * (W - tw) / (grid - 1)))
                    parts.append(_whole_in_tile(*self._candidates(image[y0 : y0 + th, x0 : x0 + tw], x0, y0), (x0, y0, tw, th), (W, H)))
        boxes, kps, scores = (np.concatenate(a) for a in zip(*parts, strict=True))
        return _to_detections(*self.suppress(boxes, kps, scores), (H, W))


class YuNet(LetterboxDetector):
    """OpenCV Zoo YuNet (2023mar): anchor-free heads at strides 8/16/32, 5 landmarks.

    Decoding follows OpenCV's ``FaceDetectorYN``: score = sqrt(cls * obj),
    centre = (cell + offset) * stride, size = exp(log_size) * stride.
    """

    def __init__(self, model: Model, *, score_threshold: float | None = None, nms_iou: float | None = None, tiles: int = 0):
        super().__init__(model, score_threshold=score_threshold, nms_iou=nms_iou, tiles=tiles)
        m = model.manifest
        self.strides = [int(s) for s in m.decoding["strides"]]
        self._grid = {}
        for s in self.strides:
            rows, cols = self.height // s, self.width // s
            r, c = np.divmod(np.arange(rows * cols, dtype=np.float32), cols)
            self._grid[s] = (c, r)

    def decode(self, out: dict[str, NDArray[np.float32]], threshold: float) -> tuple[NDArray, NDArray, NDArray]:
        """All candidates above ``threshold`` on the model canvas: boxes Nx4, landmarks Nx10, scores N."""
        boxes, kpss, scores = [], [], []
        for s in self.strides:
            cls = np.clip(out[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(out[f"obj_{s}"].reshape(-1), 0, 1)
            score = np.sqrt(cls * obj)
            idx = np.nonzero(score >= threshold)[0]
            if not idx.size:
                continue
            c, r = self._grid[s][0][idx], self._grid[s][1][idx]
            bb = out[f"bbox_{s}"].reshape(-1, 4)[idx]
            kp = out[f"kps_{s}"].reshape(-1, 10)[idx]
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            w, h = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
            k = kp.copy()
            k[:, 0::2] = (k[:, 0::2] + c[:, None]) * s
            k[:, 1::2] = (k[:, 1::2] + r[:, None]) * s
            kpss.append(k)
            scores.append(score[idx])
        if not scores:
            return np.zeros((0, 4), np.float32), np.zeros((0, 10), np.float32), np.zeros((0,), np.float32)
        return np.concatenate(boxes), np.concatenate(kpss), np.concatenate(scores)


def head_ranges(spec: list[list[float]]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``[[lo, hi, count], ...]`` -> per-field (lo, hi) arrays; the fields repeat with period
    sum(count) along an output's last axis. A bounded head outputs relu6((v - lo) * 6 / (hi - lo))."""
    lo = np.concatenate([np.full(int(c), float(a), np.float32) for a, b, c in spec])
    hi = np.concatenate([np.full(int(c), float(b), np.float32) for a, b, c in spec])
    return lo, hi


def ssd_anchors(size: int, strides: list[int], per_cell: list[int]) -> NDArray[np.float32]:
    """MediaPipe SSD anchor centres (x, y) in [0, 1]: layers with the same stride share a grid;
    ``per_cell`` gives the anchors per cell of each distinct stride, in order."""
    out = []
    distinct = list(dict.fromkeys(strides))
    for stride, n in zip(distinct, per_cell, strict=True):
        g = size // stride
        ys, xs = np.mgrid[0:g, 0:g]
        centres = np.stack([(xs.reshape(-1) + 0.5) / g, (ys.reshape(-1) + 0.5) / g], axis=1)
        out.append(np.repeat(centres, n, axis=0))
    return np.concatenate(out).astype(np.float32)


class BlazeFace(LetterboxDetector):
    """MediaPipe BlazeFace short-range: 896 SSD anchors on a 128x128 input, 6 keypoints.

    Keypoints are eyes, nose tip, mouth centre and both ear tragions; the five
    landmarks of :class:`Detection` use the eyes and nose, and place the two mouth
    corners on either side of the mouth centre, along the eye line, at 0.83 of the
    eye distance (the ArcFace template's ratio). Scores are sigmoid(logit).
    """

    def __init__(self, model: Model, *, score_threshold: float | None = None, nms_iou: float | None = None, tiles: int = 0):
        super().__init__(model, score_threshold=score_threshold, nms_iou=nms_iou, tiles=tiles)
        m = model.manifest
        self.scale = float(m.decoding["box_scale"])
        self.anchors = ssd_anchors(self.width, [int(v) for v in m.decoding["strides"]], [int(v) for v in m.decoding["anchors_per_cell"]])
        self.ranges = {n: head_ranges(v) for n, v in (m.decoding.get("head_ranges") or {}).items()}

    def _unbound(self, name: str, v: NDArray[np.float32], fields: int) -> NDArray[np.float32]:
        """One output as [anchors, fields]: the bounded heads' affine map undone, and the mean
        taken over the model's int8 replicas (stacked on axis 1; the manifest's
        ``graph_rewrites.replicas`` says how many)."""
        flat = v.reshape(-1, self.anchors.shape[0], fields).mean(axis=0)
        if name not in self.ranges:
            return flat.astype(np.float32)
        lo, hi = self.ranges[name]
        return (flat * ((hi - lo) / 6.0) + lo).astype(np.float32)

    @staticmethod
    def model_keypoints(landmarks: NDArray) -> NDArray:
        """Eyes, nose tip and mouth centre (the mean of the two derived mouth corners)."""
        lm = np.asarray(landmarks).reshape(5, 2)
        return np.vstack([lm[:3], lm[3:].mean(axis=0, keepdims=True)])

    def decode(self, out: dict[str, NDArray[np.float32]], threshold: float) -> tuple[NDArray, NDArray, NDArray]:
        logits = self._unbound("classificators", out["classificators"], 1).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
        idx = np.nonzero(scores >= threshold)[0]
        reg = self._unbound("regressors", out["regressors"], 16)[idx] / self.scale
        a = self.anchors[idx]
        cx, cy = reg[:, 0] + a[:, 0], reg[:, 1] + a[:, 1]
        bw, bh = reg[:, 2], reg[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) * [self.width, self.height, self.width, self.height]
        kp = (reg[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]) * [self.width, self.height]
        eye_a, eye_b, nose, mouth = kp[:, 0], kp[:, 1], kp[:, 2], kp[:, 3]
        half = 0.415 * (eye_b - eye_a)
        five = np.stack([eye_a, eye_b, nose, mouth - half, mouth + half], axis=1).reshape(-1, 10)
        return boxes.astype(np.float32), five.astype(np.float32), scores[idx].astype(np.float32)


DETECTORS: dict[str, Callable[..., Detector]] = {"yunet": YuNet, "blazeface": BlazeFace}
