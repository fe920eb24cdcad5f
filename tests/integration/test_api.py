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


@pytest.mark.parametrize("x, y", [(1200, 500), (100, 100), (900, 300), (1700, 900)])
def test_a_30_px_face_anywhere_in_a_1080p_frame_is_found(data, x, y):
    """A face 30 px wide (its detected box) in a 1920x1080 frame: the first view (1/3 size) cannot see
    it, so automatic tiling searches a 3x3 grid, which does (the 2x2 grid it had before missed it)."""
    from edge.api import Recognizer

    img = cv2.imread(str(data / OBAMA2))[100:520, 150:520]
    small = cv2.resize(img, (40, round(img.shape[0] * 40 / img.shape[1])), interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[y : y + small.shape[0], x : x + 40] = small
    [face] = Recognizer(min_face_quality=0).detector.detect(frame)
    assert 26 <= face.box.width <= 36 and x - 5 <= face.box.x1 < face.box.x2 <= x + 45


def _counting(detector):
    calls = []
    raw = detector.raw
    detector.raw = lambda canvas: calls.append(canvas.shape) or raw(canvas)
    return calls


def test_tiles_are_searched_only_where_the_first_view_can_miss_faces(data):
    """A large photo whose face the first view finds well above the smallest size it can see: one
    detector pass, no tiles. A large frame with nothing found: the first view and the 3x3 tiles."""
    from edge.api import Recognizer

    rec = Recognizer()
    calls = _counting(rec.detector)
    big = cv2.resize(cv2.imread(str(data / OBAMA2)), (1600, 1600))
    [face] = rec.extract_faces(big)
    assert len(calls) == 1
    calls.clear()
    assert rec.extract_faces(np.full((1080, 1920, 3), 90, np.uint8), enforce_detection=False) == []
    assert len(calls) == 1 + 9
    calls.clear()
    assert len(Recognizer(tiles=2).detector.detect(big)) == 1  # tiles=N: always the NxN grid
    assert Recognizer(tiles=1).detector.auto_grid(1920, 1080) == 3 and rec.detector.auto_grid(640, 480) == 1


def test_a_large_jpeg_is_cropped_from_its_reduced_view_or_full_pixels_as_the_face_needs(data, tmp_path, recognizer):
    """A large JPEG is detected on a 1/2-1/8 decode; a face large there is cropped from it, a small
    face from the full-resolution pixels; either way the embedding is that of the full-size image's."""
    from edge.image import load_view

    img = cv2.imread(str(data / OBAMA2))
    big = cv2.resize(img, (img.shape[1] * 3, img.shape[0] * 3))  # the face fills most of it: crop from the view
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    view = load_view(path, lambda: (recognizer.detector.width, recognizer.detector.height))
    assert view.factor > 1
    [face] = recognizer.extract_faces(path)
    [reference] = recognizer.extract_faces(img)
    assert float(face.embedding.vector @ reference.embedding.vector) > 0.95
    x1, y1, x2, y2 = face.box
    assert abs(x2 - x1 - 3 * (reference.box[2] - reference.box[0])) < 0.1 * (x2 - x1)  # boxes in the file's pixels
    det = recognizer.detector.detect_view(view)[0]
    recognizer.embedder.crop_view(view, det)
    assert not view._full  # cropped from the reduced pixels, the full image never decoded

    crowd = np.full((3000, 4000, 3), 90, np.uint8)  # a small face in a large photo: needs the full pixels
    crowd[1000 : 1000 + 420, 2000 : 2000 + 370] = img[100:520, 150:520]
    cv2.imwrite(str(path), crowd, [cv2.IMWRITE_JPEG_QUALITY, 95])
    view = load_view(path, lambda: (recognizer.detector.width, recognizer.detector.height))
    assert view.factor == 4
    [small_face] = recognizer.extract_faces(path)
    [biden] = recognizer.extract_faces(data / BIDEN)
    # 0.90-0.94 for this paste at 1600-5000 px wide, with or without tiles; another person: < 0.3
    assert float(small_face.embedding.vector @ reference.embedding.vector) > 0.88
    assert float(small_face.embedding.vector @ biden.embedding.vector) < 0.3
    det = recognizer.detector.detect_view(view)[0]
    recognizer.embedder.crop_view(view, det)
    assert view._full  # the face is too small in the 1/4 view: cropped from the full decode


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
