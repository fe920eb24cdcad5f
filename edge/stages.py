"""The one model factory: builds each stage (detector, embedder, attribute heads, liveness) from its
manifest on first use, and states the operating points of the embedder's calibration. Used by the
API (``edge.api.Recognizer``) and by the door unit's daemon alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from edge.attributes import AgeEstimator, Classifier
from edge.calibration import FarCalibration, OperatingPoint
from edge.detect import DETECTORS, Detector
from edge.domain import Detection, Pixels
from edge.embed import Embedder
from edge.errors import ConfigError
from edge.liveness import LivenessJudge, load_params
from edge.manifest import MODELS_DIR, Manifest, find_manifest
from edge.tensors import Model

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class FaceAttributes:
    """Age (years), gender and emotion of one face, with the heads' confidences."""

    age: float
    gender: str
    gender_confidence: float
    emotion: str
    emotion_scores: dict[str, float]


class Stages:
    """``Stages(detector="yunet", embedder="sface", threads=2, ...)``: each stage loads on first use,
    once (thread-safe). ``close()`` drops them (they load again on next use)."""

    def __init__(self, *, models_dir: str | Path | None = None, detector: str = "yunet", embedder: str = "sface", threads: int = 2,
                 edgetpu: str | None = None, cpu_fallback: bool = False, tiles: int = 0, calibration: FarCalibration | None = None):
        """``tiles``: 0 = search large frames (>= 4x the detector input) also in overlapping tiles
        (up to 3x3) when the whole view found no face or only very small ones, so that small, far faces
        are found; 1 = never; N = always an NxN grid. ``calibration``: the false-accept calibration thresholds
        come from (default: the embedder manifest's)."""
        if detector not in DETECTORS:
            raise ConfigError(f"detector {detector!r} is not known; choose one of {sorted(DETECTORS)}")
        self.models_dir = Path(models_dir) if models_dir else MODELS_DIR
        self.detector_name = detector
        self.embedder_name = embedder
        self.threads = threads
        self.edgetpu = edgetpu
        self.cpu_fallback = cpu_fallback
        self.tiles = int(tiles)
        self._calibration = calibration
        self._warned_calibration = False
        self._lock = threading.RLock()
        self._built: dict[str, Any] = {}

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._built.clear()

    def manifest(self, name: str) -> Manifest:
        return find_manifest(name, self.models_dir)

    def model(self, name: str, *, accelerated: bool = True) -> Model:
        """The interpreter for bundled model ``name`` (on the Edge TPU when configured and ``accelerated``)."""
        if accelerated:
            return Model(self.manifest(name), threads=self.threads, edgetpu=self.edgetpu, cpu_fallback=self.cpu_fallback)
        return Model(self.manifest(name), threads=self.threads)

    def _once(self, key: str, build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            value: T = self._built[key]
            return value

    # --- the stages -------------------------------------------------------------------------------

    @property
    def detector(self) -> Detector:
        return self._once("detector", lambda: DETECTORS[self.detector_name](self.model(self.detector_name), tiles=self.tiles))

    @property
    def embedder(self) -> Embedder:
        return self._once("embedder", lambda: Embedder(self.model(self.embedder_name)))

    @property
    def age(self) -> AgeEstimator:
        return self._once("age", lambda: AgeEstimator(self.model("age")))

    @property
    def gender(self) -> Classifier:
        return self._once("gender", lambda: Classifier(self.model("gender")))

    @property
    def emotion(self) -> Classifier:
        return self._once("emotion", lambda: Classifier(self.model("emotion")))

    def attributes(self, image: Pixels, detection: Detection) -> FaceAttributes:
        """Age, gender and emotion of one detected face of a decoded BGR ``image``."""
        age, gender, emotion = self.age, self.gender, self.emotion
        with self._lock:
            g = gender.classify(gender.crop(image, detection))
            e = emotion.classify(emotion.crop(image, detection))
            years = age.age(age.crop(image, detection))
        return FaceAttributes(years, g.label, g.confidence, e.label, e.scores)

    def liveness_judge(self, *, frames: int | None = None, max_wait_s: float | None = None, threshold: float | None = None) -> LivenessJudge:
        """Presentation-attack detection (edge.liveness) with the bundled anti-spoof models and face
        mesh, and the parameters measured for them (``models/liveness.yaml``); the arguments
        override those. The liveness models run on the CPU (no Edge TPU builds of them exist)."""
        from edge.antispoof import AntiSpoof
        from edge.mesh import STABLE_POINTS, FaceMesh, eye_openness, inter_ocular

        params, _ = load_params(self.models_dir / "liveness.yaml")
        over: dict[str, Any] = {k: v for k, v in (("frames", frames), ("max_wait_s", max_wait_s), ("threshold", threshold)) if v is not None}
        params = replace(params, **over)
        spoof = AntiSpoof([self.model(n, accelerated=False) for n in params.passive_models])
        mesh = FaceMesh(self.model("facemesh", accelerated=False))
        rigid = list(STABLE_POINTS)

        def passive(image: Pixels, det: Detection) -> float:
            return spoof.score(image, det.box).live

        def dense(image: Pixels, det: Detection) -> tuple[NDArray[np.float32], float, float]:
            pts = mesh.landmarks(image, det).points[:, :2]
            return np.ascontiguousarray(pts[rigid]), eye_openness(pts), inter_ocular(pts)

        return LivenessJudge(passive, dense, params)

    # --- what an embedding and a threshold depend on --------------------------------------------------

    @property
    def detector_fingerprint(self) -> str:
        """sha256 of the detector model file (read from its manifest; the model is not loaded)."""
        return self.manifest(self.detector_name).sha256

    @property
    def pipeline_fingerprint(self) -> str:
        """sha256 of the detector and embedder model files together (what an embedding depends on)."""
        return f"{self.detector_fingerprint}+{self.manifest(self.embedder_name).sha256}"

    @property
    def calibration(self) -> FarCalibration | None:
        """The false-accept calibration thresholds come from; None when there is none for this
        detector + embedder (then the manifest's threshold is used and no rate is stated)."""
        cal = self._calibration or self.embedder.calibration
        if cal is None:
            return None
        if not cal.measured_with(self.detector_fingerprint):
            if not self._warned_calibration:
                log.warning("the false-accept calibration was measured with another detector than %s: no rate is stated for its "
                            "thresholds; calibrate this pipeline with edgeface calibrate", self.detector_name)
                self._warned_calibration = True
            return None
        return cal

    @property
    def default_far(self) -> float:
        """The false-accept rate ``verify`` and ``find`` use unless told (the manifest's ``cosine_target_far``)."""
        return float(self.embedder.model.manifest.thresholds.get("cosine_target_far", 1e-3))

    def operating_point(self, purpose: str, *, far: float | None = None, threshold: float | None = None, comparisons: int = 1,
                        visit_factor: float = 1.0) -> OperatingPoint:
        """The cosine threshold for a decision against ``comparisons`` templates: from the embedder's
        false-accept calibration for rate ``far`` (per decision), or the raw ``threshold`` given.
        ``visit_factor``: how many times one comparison's chances a decision has (a video visit)."""
        cal = self.calibration
        if threshold is not None:
            t = float(threshold)
            if not -1.0 <= t <= 1.0:
                raise ConfigError(f"threshold {threshold!r}: expected a cosine similarity between -1 and 1")
            if cal:
                return cal.override(purpose, t, comparisons, visit_factor)
            return OperatingPoint(purpose, None, comparisons, t, None, True, "cosine_threshold", visit_factor)
        rate = self.default_far if far is None else float(far)
        if not 0.0 < rate < 1.0:
            raise ConfigError(f"far {far!r}: expected a false-accept rate between 0 and 1, e.g. 1e-3")
        if cal is None:  # a model without a calibration: its manifest threshold, stated as uncalibrated
            return OperatingPoint(purpose, rate, comparisons, self.embedder.threshold, None, False, "manifest threshold", visit_factor)
        return cal.operating_point(purpose, rate, comparisons, visit_factor)
