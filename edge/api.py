"""DeepFace-style API on the int8 models: extract_faces, represent, verify, find, analyze.

Every ``img`` argument may be a file path (str or Path), the raw bytes of an
encoded image, or a numpy array in OpenCV's BGR order (BGRA, grayscale and
16-bit arrays are converted). Models load lazily on first use and are shared.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge.attributes import AgeEstimator, Classifier
from edge.detect import DETECTORS, Detector
from edge.domain import Detection, Pixels
from edge.embed import Embedder
from edge.errors import ConfigError, EnrollmentError, ImageError, NoFaceError
from edge.gallery import index_folder, load_gallery_file
from edge.image import ImageInput, load_image
from edge.manifest import MODELS_DIR, find_manifest
from edge.match import Gallery, Match
from edge.tensors import Model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """A detected face. ``box`` is (x1, y1, x2, y2) in pixels, ``landmarks`` 5x2
    (right eye, left eye, nose, right and left mouth corner), ``crop`` the face
    aligned for the embedder (uint8, the embedder's colour order)."""

    box: tuple[float, float, float, float]
    landmarks: NDArray[np.float32]
    score: float
    crop: Pixels
    detection: Detection


@dataclass(frozen=True)
class Representation:
    embedding: NDArray[np.float32]  # 1-D, unit norm
    box: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True)
class Verification:
    verified: bool
    similarity: float  # cosine similarity of the two embeddings
    threshold: float
    faces: tuple[Face, Face]


@dataclass(frozen=True)
class Analysis:
    age: float
    gender: str
    gender_confidence: float
    emotion: str
    emotion_scores: dict[str, float]
    box: tuple[float, float, float, float]


class Recognizer:
    """Holds the models; each loads on first use. Safe to share between threads
    (one inference at a time)."""

    def __init__(
        self,
        *,
        models_dir: str | Path | None = None,
        detector: str = "yunet",
        embedder: str = "sface",
        threads: int = 2,
        edgetpu: str | None = None,
        cpu_fallback: bool = False,
        tiles: int = 0,
    ):
        """``tiles``: 0 = search large frames (>= 4x the detector input) also in 2x2 overlapping
        tiles so that small, far faces are found; 1 = never; N = an NxN grid."""
        if detector not in DETECTORS:
            raise ConfigError(f"detector {detector!r} is not known; choose one of {sorted(DETECTORS)}")
        self.models_dir = Path(models_dir) if models_dir else MODELS_DIR
        self._names = {"detector": detector, "embedder": embedder, "age": "age", "gender": "gender", "emotion": "emotion"}
        self._opts = {"threads": threads, "edgetpu": edgetpu, "cpu_fallback": cpu_fallback}
        self._tiles = int(tiles)
        self._lock = threading.RLock()
        self._cache: dict[str, object] = {}

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the loaded models (they load again on next use)."""
        with self._lock:
            self._cache.clear()

    def _model(self, role: str) -> Model:
        return Model(find_manifest(self._names[role], self.models_dir), **self._opts)  # type: ignore[arg-type]

    def _get(self, role: str) -> object:
        with self._lock:
            if role not in self._cache:
                m = self._model(role)
                self._cache[role] = {
                    "detector": lambda: DETECTORS[self._names["detector"]](m, tiles=self._tiles),
                    "embedder": lambda: Embedder(m),
                    "age": lambda: AgeEstimator(m),
                    "gender": lambda: Classifier(m),
                    "emotion": lambda: Classifier(m),
                }[role]()
            return self._cache[role]

    @property
    def detector(self) -> Detector:
        return self._get("detector")  # type: ignore[return-value]

    @property
    def embedder(self) -> Embedder:
        return self._get("embedder")  # type: ignore[return-value]

    def extract_faces(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Face]:
        """Faces in ``img``, largest first. Raises :class:`NoFaceError` when there is
        none, unless ``enforce_detection=False`` (then returns an empty list)."""
        image = load_image(img)
        with self._lock:
            dets = sorted(self.detector.detect(image), key=lambda d: -d.box.area)
            faces = [Face(d.box.as_tuple(), d.landmarks, d.score, self.embedder.crop(image, d), d) for d in dets]
        if not faces and enforce_detection:
            h, w = image.shape[:2]
            raise NoFaceError(
                f"no face found in the {w}x{h} image{_name(img)}; expected at least one face. Use a photo where the "
                "face is visible and at least ~40 px wide, or pass enforce_detection=False"
            )
        return faces

    def represent(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Representation]:
        faces = self.extract_faces(img, enforce_detection=enforce_detection)
        with self._lock:
            return [Representation(self.embedder.embed_crop(f.crop), f.box, f.score) for f in faces]

    def verify(self, img1: ImageInput, img2: ImageInput, *, threshold: float | None = None) -> Verification:
        """Whether the largest faces of the two images show the same person."""
        f1 = self.extract_faces(img1)[0]
        f2 = self.extract_faces(img2)[0]
        with self._lock:
            e1 = self.embedder.embed_crop(f1.crop)
            e2 = self.embedder.embed_crop(f2.crop)
            thr = self.embedder.threshold if threshold is None else float(threshold)
        sim = float(e1 @ e2)
        return Verification(sim >= thr, sim, thr, (f1, f2))

    def gallery(self, folder: str | Path, progress: Callable[[int, int], None] | None = None) -> Gallery:
        """The gallery of a folder with one subfolder of photos per person (cached, see
        :mod:`edge.gallery`); each photo contributes its largest face."""
        emb = self.embedder

        def embed(path: Path) -> NDArray[np.float32]:
            face = self.extract_faces(path)[0]
            with self._lock:
                return emb.embed_crop(face.crop)

        dim = int(emb.model.manifest.outputs[0].shape[-1])
        gallery, stats = index_folder(folder, embed, emb.fingerprint, dim, progress)
        if stats.skipped:
            log.warning("%d gallery photo(s) had no usable face: %s", len(stats.skipped), ", ".join(stats.skipped))
        return gallery

    def find(
        self, img: ImageInput, gallery: str | Path | Gallery, *, threshold: float | None = None, top_k: int = 5, enforce_detection: bool = True
    ) -> list[list[Match]]:
        """For each face in ``img`` (largest first), the closest identities of ``gallery``
        (a folder, see :meth:`gallery`; a ``.npz`` gallery file; an edgeface SQLite store; or a
        :class:`Gallery`), best first."""
        if isinstance(gallery, Gallery):
            g = gallery
        elif Path(gallery).is_file() and Path(gallery).suffix == ".npz":
            g = load_gallery_file(gallery, self.embedder.fingerprint)
        elif Path(gallery).is_file():  # the device's SQLite store
            from edge.store import Store

            with Store(gallery) as store:
                g = store.gallery(self.embedder.fingerprint)
        else:
            g = self.gallery(gallery)
        thr = self.embedder.threshold if threshold is None else float(threshold)
        return [g.search(r.embedding, thr, top_k, self.embedder.fingerprint) for r in self.represent(img, enforce_detection=enforce_detection)]

    def enrollment_embeddings(self, images: Sequence[ImageInput]) -> list[NDArray[np.float32]]:
        """One embedding per photo, each of which must show exactly one face; the first photo
        that does not is named in an :class:`EnrollmentError` (and nothing is returned)."""
        out: list[NDArray[np.float32]] = []
        for img in images:
            label = str(img) if isinstance(img, (str, Path)) else f"photo {len(out) + 1}"
            try:
                faces = self.extract_faces(img, enforce_detection=False)
            except ImageError as e:
                raise EnrollmentError(f"{label}: {e}") from e
            if len(faces) != 1:
                found = "no face" if not faces else f"{len(faces)} faces"
                raise EnrollmentError(f"{label}: expected exactly one face to enrol, found {found}; use a photo of this person alone")
            with self._lock:
                out.append(self.embedder.embed_crop(faces[0].crop))
        return out

    def analyze(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Analysis]:
        image = load_image(img)
        faces = self.extract_faces(image, enforce_detection=enforce_detection)
        return [self.analyze_face(image, f.detection) for f in faces]

    def analyze_face(self, image: Pixels, detection: Detection) -> Analysis:
        """Age, gender and emotion of one detected face of a decoded BGR ``image``."""
        with self._lock:
            age: AgeEstimator = self._get("age")  # type: ignore[assignment]
            gender: Classifier = self._get("gender")  # type: ignore[assignment]
            emotion: Classifier = self._get("emotion")  # type: ignore[assignment]
            g = gender.classify(gender.crop(image, detection))
            e = emotion.classify(emotion.crop(image, detection))
            years = age.age(age.crop(image, detection))
        return Analysis(years, g.label, g.confidence, e.label, e.scores, detection.box.as_tuple())


def _name(img: ImageInput) -> str:
    return f" {img}" if isinstance(img, (str, Path)) else ""


_default: Recognizer | None = None
_default_lock = threading.Lock()


def default_recognizer() -> Recognizer:
    global _default
    with _default_lock:
        if _default is None:
            _default = Recognizer()
        return _default


def extract_faces(img: ImageInput, *, enforce_detection: bool = True) -> list[Face]:
    return default_recognizer().extract_faces(img, enforce_detection=enforce_detection)


def represent(img: ImageInput, *, enforce_detection: bool = True) -> list[Representation]:
    return default_recognizer().represent(img, enforce_detection=enforce_detection)


def verify(img1: ImageInput, img2: ImageInput, *, threshold: float | None = None) -> Verification:
    return default_recognizer().verify(img1, img2, threshold=threshold)


def analyze(img: ImageInput, *, enforce_detection: bool = True) -> list[Analysis]:
    return default_recognizer().analyze(img, enforce_detection=enforce_detection)


def find(img: ImageInput, gallery: str | Path | Gallery, *, threshold: float | None = None, top_k: int = 5) -> list[list[Match]]:
    return default_recognizer().find(img, gallery, threshold=threshold, top_k=top_k)
