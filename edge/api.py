"""DeepFace-style API on the int8 models: extract_faces, represent, verify, find, analyze.

Every ``img`` argument may be a file path (str or Path), the raw bytes of an
encoded image, or a numpy array in OpenCV's BGR order (BGRA, grayscale and
16-bit arrays are converted). Models load lazily on first use and are shared.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge import enrol
from edge.calibration import FarCalibration, OperatingPoint
from edge.detect import Detector
from edge.domain import Detection, Embedding, Pixels
from edge.embed import Embedder
from edge.errors import EnrollmentError, GalleryError, ImageError, NoFaceError
from edge.gallery import index_folder, load_gallery_file
from edge.image import MAX_PIXELS, ImageInput, View, load_image, load_view
from edge.liveness import LivenessJudge
from edge.match import Gallery, Match
from edge.stages import Stages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """A detected face. ``box`` is (x1, y1, x2, y2) in pixels, ``landmarks`` 5x2
    (right eye, left eye, nose, right and left mouth corner), ``crop`` the face
    aligned for the embedder (uint8, the embedder's colour order), ``embedding`` its
    embedding (``embedding.norm`` is the face-ness the detection passed)."""

    box: tuple[float, float, float, float]
    landmarks: NDArray[np.float32]
    score: float
    crop: Pixels
    detection: Detection
    embedding: Embedding


@dataclass(frozen=True)
class Representation:
    embedding: NDArray[np.float32]  # 1-D, unit norm
    box: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True)
class Verification:
    """``far`` is the false-accept rate the threshold was calibrated for (upper bound; None for
    a raw threshold the calibration does not cover)."""

    verified: bool
    similarity: float  # cosine similarity of the two embeddings
    threshold: float
    faces: tuple[Face, Face]
    far: float | None = None


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
        min_face_quality: float | None = None,
        calibration: FarCalibration | None = None,
        max_pixels: int | None = MAX_PIXELS,
    ):
        """``tiles``: 0 = search large frames (>= 4x the detector input) also in overlapping tiles
        (up to 3x3) when the whole view found no face or only very small ones, so that small, far faces
        are found; 1 = never; N = always an NxN grid.
        ``min_face_quality``: detections whose embedding norm is below this are not faces (an
        animal, an object, a face upside down); default the embedder manifest's ``min_norm``, 0 = keep all.
        ``calibration``: the false-accept calibration thresholds come from (default: the embedder manifest's).
        ``max_pixels``: larger images are refused before they are decoded (:data:`edge.image.MAX_PIXELS`, 40 MP;
        None: no limit)."""
        self.stages = Stages(models_dir=models_dir, detector=detector, embedder=embedder, threads=threads, edgetpu=edgetpu,
                             cpu_fallback=cpu_fallback, tiles=tiles, calibration=calibration)
        self.models_dir = self.stages.models_dir
        self._min_quality = min_face_quality
        self.max_pixels = max_pixels
        self._lock = threading.RLock()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the loaded models (they load again on next use)."""
        self.stages.close()

    @property
    def detector(self) -> Detector:
        return self.stages.detector

    @property
    def embedder(self) -> Embedder:
        return self.stages.embedder

    @property
    def pipeline_fingerprint(self) -> str:
        """sha256 of the detector and embedder model files together (what an embedding depends on)."""
        return self.stages.pipeline_fingerprint

    @property
    def detector_fingerprint(self) -> str:
        """sha256 of the detector model file (read from its manifest; the model is not loaded)."""
        return self.stages.detector_fingerprint

    @property
    def calibration(self) -> FarCalibration | None:
        """The false-accept calibration thresholds come from (None: uncalibrated; see :class:`edge.stages.Stages`)."""
        return self.stages.calibration

    @property
    def default_far(self) -> float:
        """The false-accept rate ``verify`` and ``find`` use unless told (the manifest's ``cosine_target_far``)."""
        return self.stages.default_far

    def operating_point(self, purpose: str, *, far: float | None = None, threshold: float | None = None, comparisons: int = 1,
                        visit_factor: float = 1.0) -> OperatingPoint:
        """The cosine threshold for a decision against ``comparisons`` templates (see :meth:`edge.stages.Stages.operating_point`)."""
        return self.stages.operating_point(purpose, far=far, threshold=threshold, comparisons=comparisons, visit_factor=visit_factor)

    def _view(self, img: ImageInput) -> View:
        """``img`` decoded for the detector (a large JPEG at reduced size, see :func:`edge.image.load_view`)."""
        return load_view(img, lambda: (self.detector.width, self.detector.height), self.max_pixels)

    def _detections(self, view: View, limit: int | None = None) -> list[Face]:
        """Every detection (or the ``limit`` largest), largest first, aligned and embedded, face or not."""
        with self._lock:
            dets = sorted(self.detector.detect_view(view), key=lambda d: -d.box.area)[:limit]
            out = []
            for d in dets:
                crop = self.embedder.crop_view(view, d)
                out.append(Face(d.box.as_tuple(), d.landmarks, d.score, crop, d, self.embedder.embed(crop)))
        return out

    def _is_face(self, face: Face) -> bool:
        floor = self.embedder.min_norm if self._min_quality is None else float(self._min_quality)
        if face.embedding.norm >= floor:
            return True
        log.debug("detection %s (score %.2f) is not a face: embedding norm %.2f < %.2f", face.box, face.score, face.embedding.norm, floor)
        return False

    def _faces(self, view: View) -> list[Face]:
        """Every detection that is a face (embedding norm at or above the floor), largest first."""
        return [f for f in self._detections(view) if self._is_face(f)]

    def largest_detection(self, img: ImageInput) -> Face | None:
        """The largest detection, face or not (its ``embedding.norm`` says how face-like it is);
        None when nothing is detected. For calibration and evaluation of labelled photos, whose
        label belongs to the main subject: a smaller face must not stand in for it."""
        found = self._detections(self._view(img), limit=1)
        return found[0] if found else None

    def largest_embedding(self, img: ImageInput) -> Embedding | None:
        """The embedding of the largest detection, face or not (see :meth:`largest_detection`)."""
        face = self.largest_detection(img)
        return face.embedding if face else None

    def extract_faces(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Face]:
        """Faces in ``img``, largest first. Raises :class:`NoFaceError` when there is
        none, unless ``enforce_detection=False`` (then returns an empty list)."""
        view = self._view(img)
        faces = self._faces(view)
        if not faces and enforce_detection:
            w, h = view.size
            raise NoFaceError(
                f"no face found in the {w}x{h} image{_name(img)}; expected at least one face. Use a photo where the "
                "face is visible and at least ~40 px wide, or pass enforce_detection=False"
            )
        return faces

    def represent(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Representation]:
        return [Representation(f.embedding.vector, f.box, f.score) for f in self.extract_faces(img, enforce_detection=enforce_detection)]

    def verify(self, img1: ImageInput, img2: ImageInput, *, threshold: float | None = None, far: float | None = None) -> Verification:
        """Whether the largest faces of the two images show the same person, at the threshold
        calibrated for false-accept rate ``far`` (default :attr:`default_far`) or a raw ``threshold``."""
        f1 = self.extract_faces(img1)[0]
        f2 = self.extract_faces(img2)[0]
        op = self.operating_point("verify", far=far, threshold=threshold)
        sim = float(f1.embedding.vector @ f2.embedding.vector)
        return Verification(sim >= op.threshold, sim, op.threshold, (f1, f2), op.bound)

    def gallery(self, folder: str | Path, progress: Callable[[int, int], None] | None = None) -> Gallery:
        """The gallery of a folder with one subfolder of photos per person (cached, see
        :mod:`edge.gallery`); each photo contributes its one face (a group photo: the face that
        matches the person's other photos, or nothing)."""

        def embed(path: Path) -> list[NDArray[np.float32]]:
            return [f.embedding.vector for f in self.extract_faces(path)]

        same = self.operating_point("verify").threshold
        gallery, stats = index_folder(folder, embed, self.embedder.fingerprint, self.embedder.dim, same, progress)
        if stats.skipped:
            log.warning("%d gallery photo(s) had no usable face: %s", len(stats.skipped), ", ".join(stats.skipped))
        return gallery

    def find(
        self, img: ImageInput, gallery: str | Path | Gallery, *, threshold: float | None = None, far: float | None = None, top_k: int = 5,
        enforce_detection: bool = True,
    ) -> list[list[Match]]:
        """For each face in ``img`` (largest first), the closest identities of ``gallery``
        (a folder, see :meth:`gallery`; a ``.npz`` gallery file; an edgeface SQLite store; or a
        :class:`Gallery`), best first. ``verified`` uses the threshold that keeps the chance that a
        stranger matches anyone in the gallery at ``far`` (the per-comparison rate is ``far``
        divided by the number of templates), or a raw ``threshold``."""
        g = self.load_gallery(gallery)
        op = self.operating_point("find", far=far, threshold=threshold, comparisons=len(g))
        return [g.search(r.embedding, op.threshold, top_k, self.embedder.fingerprint) for r in self.represent(img, enforce_detection=enforce_detection)]

    def load_gallery(self, gallery: str | Path | Gallery, progress: Callable[[int, int], None] | None = None) -> Gallery:
        """``gallery`` as a :class:`Gallery`: a folder with one subfolder of photos per person (see
        :meth:`gallery`), a ``.npz`` gallery file, an edgeface SQLite store, or a Gallery as it is."""
        if isinstance(gallery, Gallery):
            return gallery
        kinds = "a folder with one subfolder of photos per person, a .npz gallery file, an edgeface store (.db) or an edge.Gallery"
        if not isinstance(gallery, (str, os.PathLike)) or not str(gallery).strip():
            found = "an empty path" if isinstance(gallery, (str, os.PathLike)) else type(gallery).__name__
            raise GalleryError(f"expected a gallery: {kinds}; found {found}")
        path = Path(gallery)
        if not path.exists():
            raise GalleryError(f"{path}: no such gallery; expected {kinds}")
        if path.is_file() and path.suffix.lower() == ".npz":
            return load_gallery_file(path, self.embedder.fingerprint, self.embedder.dim)
        if path.is_file():  # the device's SQLite store
            from edge.store import Store

            with Store(path, read_only=True) as store:  # searching never writes to the file
                return store.gallery(self.embedder.fingerprint, self.embedder.dim)
        return self.gallery(path, progress)

    def enrollment_embeddings(self, images: Sequence[ImageInput], gates: enrol.EnrolmentGates | None = None) -> list[NDArray[np.float32]]:
        """One embedding per photo, each of which must show exactly one face that passes the
        enrolment checks (:mod:`edge.enrol`: size, whole face, face-ness, tilt, turn, sharpness);
        the first photo that does not is named in an :class:`EnrollmentError` with the reason
        (and nothing is returned)."""
        return [f.embedding.vector for f in self.enrollment_faces(images, gates)]

    def enrollment_faces(self, images: Sequence[ImageInput], gates: enrol.EnrolmentGates | None = None) -> list[Face]:
        """As :meth:`enrollment_embeddings`, with each photo's face: its detection, aligned crop and embedding."""
        g = gates or enrol.EnrolmentGates()
        out: list[Face] = []
        for img in images:
            label = str(img) if isinstance(img, (str, Path)) else f"photo {len(out) + 1}"
            try:
                image = load_image(img, self.max_pixels)
            except ImageError as e:
                raise EnrollmentError(f"{label}: {e}") from e
            detections = self._detections(View(image))
            faces = [f for f in detections if self._is_face(f)]
            if not faces:
                largest = detections[0] if detections else None  # something was detected, but not a face: say why
                why = enrol.problem(largest.detection, largest.crop, largest.embedding, image.shape, g) if largest else None
                raise EnrollmentError(f"{label}: expected exactly one face to enrol, found no face" + (f" ({why})" if why else "")
                                      + "; use a photo of this person alone")
            if len(faces) > 1:
                raise EnrollmentError(f"{label}: expected exactly one face to enrol, found {len(faces)} faces; use a photo of this person alone")
            f = faces[0]
            why = enrol.problem(f.detection, f.crop, f.embedding, image.shape, g)
            if why:
                raise EnrollmentError(f"{label}: not enrolled: {why}")
            out.append(f)
        return out

    def liveness_judge(self, *, frames: int | None = None, max_wait_s: float | None = None, threshold: float | None = None) -> LivenessJudge:
        """Presentation-attack detection with the bundled models (see :meth:`edge.stages.Stages.liveness_judge`)."""
        return self.stages.liveness_judge(frames=frames, max_wait_s=max_wait_s, threshold=threshold)

    def analyze(self, img: ImageInput, *, enforce_detection: bool = True) -> list[Analysis]:
        image = load_image(img, self.max_pixels)
        faces = self.extract_faces(image, enforce_detection=enforce_detection)
        return [self.analyze_face(image, f.detection) for f in faces]

    def analyze_face(self, image: Pixels, detection: Detection) -> Analysis:
        """Age, gender and emotion of one detected face of a decoded BGR ``image``."""
        a = self.stages.attributes(image, detection)
        return Analysis(a.age, a.gender, a.gender_confidence, a.emotion, a.emotion_scores, detection.box.as_tuple())


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


def verify(img1: ImageInput, img2: ImageInput, *, threshold: float | None = None, far: float | None = None) -> Verification:
    return default_recognizer().verify(img1, img2, threshold=threshold, far=far)


def analyze(img: ImageInput, *, enforce_detection: bool = True) -> list[Analysis]:
    return default_recognizer().analyze(img, enforce_detection=enforce_detection)


def find(img: ImageInput, gallery: str | Path | Gallery, *, threshold: float | None = None, far: float | None = None,
         top_k: int = 5) -> list[list[Match]]:
    return default_recognizer().find(img, gallery, threshold=threshold, far=far, top_k=top_k)
