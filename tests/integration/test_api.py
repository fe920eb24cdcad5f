"""The public API on the real int8 models and real photos."""

import cv2
import numpy as np
import pytest

import edge
from edge.errors import NoFaceError

OBAMA, OBAMA2, BIDEN = "face_recognition__obama.jpg", "face_recognition__obama2.jpg", "face_recognition__biden.jpg"


def test_same_person_verifies(recognizer, data):
    v = recognizer.verify(data / OBAMA, data / OBAMA2)
    assert v.verified and v.similarity > v.threshold
    assert len(v.faces) == 2


def test_different_people_do_not_verify(recognizer, data):
    v = recognizer.verify(data / OBAMA, data / BIDEN)
    assert not v.verified and v.similarity < v.threshold


def test_embeddings_are_unit_norm_and_vary_with_the_person(recognizer, data):
    embs = {n: recognizer.represent(data / n)[0].embedding for n in (OBAMA, OBAMA2, BIDEN, "insightface__1423.jpg")}
    for e in embs.values():
        assert e.dtype == np.float32 and e.ndim == 1 and abs(float(np.linalg.norm(e)) - 1.0) < 1e-4
    same = float(embs[OBAMA] @ embs[OBAMA2])
    for other in (BIDEN, "insightface__1423.jpg"):
        assert float(embs[OBAMA] @ embs[other]) < same - 0.2
    # An embedder that returned one vector for everything would fail here.
    assert np.std(np.stack(list(embs.values())), axis=0).mean() > 0.01


def test_group_photo_face_count(recognizer, data):
    faces = recognizer.extract_faces(data / "insightface__t1.jpg")
    assert len(faces) == 6  # shared/faces/faces.csv: 6 faces
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)  # largest first
    for f in faces:
        assert f.crop.shape == (112, 112, 3) and f.landmarks.shape == (5, 2) and 0 < f.score <= 1


def test_two_faces_and_attributes(recognizer, data):
    res = recognizer.analyze(data / "insightface__7242.jpg")
    assert len(res) == 2
    for a in res:  # shared/faces/attributes.csv: two young white women, 20-29
        assert a.gender == "female"
        assert 14 <= a.age <= 40
        assert set(a.emotion_scores) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        assert abs(sum(a.emotion_scores.values()) - 1) < 1e-3


def test_single_face_attributes(recognizer, data):
    [a] = recognizer.analyze(data / "insightface__1423.jpg")
    assert a.gender == "female"  # attributes.csv: female, 10-19
    assert a.age < 35
    [h] = recognizer.analyze(data / "insightface__happy.png")
    assert h.emotion == "happy"


def test_no_face(recognizer, data):
    with pytest.raises(NoFaceError, match="no face found"):
        recognizer.extract_faces(data / "insightface__no_face.png")
    assert recognizer.extract_faces(data / "insightface__no_face.png", enforce_detection=False) == []


def test_input_types_give_the_same_answer(recognizer, data):
    p = data / OBAMA
    ref = recognizer.represent(p)[0].embedding
    img = cv2.imread(str(p))
    for inp in (str(p), p.read_bytes(), img, cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)):
        assert float(recognizer.represent(inp)[0].embedding @ ref) > 0.999
    gray = recognizer.represent(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))[0].embedding
    assert float(gray @ ref) > 0.8


def test_module_level_functions(data):
    assert edge.verify(data / OBAMA, data / OBAMA2).verified
    assert len(edge.extract_faces(data / OBAMA)) == 1


def _far_face_frame(data, width_px):
    """A 1920x1080 frame with one small face (a real photo's face region, scaled down)."""
    img = cv2.imread(str(data / OBAMA2))
    crop = img[100:520, 150:520]  # the face with some margin
    s = width_px / crop.shape[1]
    small = cv2.resize(crop, (width_px, int(crop.shape[0] * s)), interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500 : 500 + small.shape[0], 1200 : 1200 + width_px] = small
    return frame


def test_small_far_face_in_1080p_found_by_tiling(data):
    from edge.api import Recognizer

    frame = _far_face_frame(data, 48)
    assert Recognizer(tiles=1).extract_faces(frame, enforce_detection=False) == []  # one letterboxed view misses it
    [face] = Recognizer().extract_faces(frame)  # automatic 2x2 tiling finds it
    x1, y1, x2, y2 = face.box
    assert 1190 <= x1 < x2 <= 1260 and 490 <= y1 < y2 <= 600


def test_tiling_does_not_replace_a_face_with_a_tile_cut_of_it(data, recognizer):
    """biden2 (1200x1200) is searched in the full view and in 2x2 tiles. A tile that cuts the face
    gave a truncated, higher-scored box that won NMS: its embedding had cosine -0.07 with the
    whole face's. Candidates touching a tile's inner edge are now dropped."""
    from edge.api import Recognizer

    name = "face_recognition__knn_biden_biden2.jpg"
    whole = Recognizer(tiles=1).represent(data / name)[0].embedding
    tiled = recognizer.represent(data / name)[0].embedding  # automatic tiling
    assert float(whole @ tiled) > 0.99
    assert recognizer.verify(data / name, data / BIDEN).verified


def test_recognizer_lifetime_and_lazy_loading(data):
    from edge.api import Recognizer

    with Recognizer(threads=1) as rec:
        assert rec.stages._built == {}  # nothing loaded before first use
        rec.extract_faces(data / OBAMA)
        assert set(rec.stages._built) == {"detector", "embedder"}
    assert rec.stages._built == {}
