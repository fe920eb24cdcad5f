"""Only faces, and only good ones: animals and scenes give no face; enrolment refuses bad photos
and says why; a face already enrolled under another name is refused unless forced."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.errors import EnrollmentError, NoFaceError

OBAMA = "face_recognition__obama.jpg"


def test_animals_and_scenes_give_no_face(recognizer, data):
    from edge.api import Recognizer

    for name in ("scipy__raccoon.png", "skimage__chelsea.png", "insightface__no_face.png"):
        assert recognizer.extract_faces(data / name, enforce_detection=False) == [], name
    with pytest.raises(NoFaceError):
        recognizer.analyze(data / "scipy__raccoon.png")  # no "female, 34" for a raccoon
    # the detector does find the raccoon's face; the embedder's face-ness floor is what rejects it
    [raccoon] = Recognizer(min_face_quality=0).extract_faces(data / "scipy__raccoon.png")
    assert raccoon.score > 0.6 and raccoon.embedding.norm < recognizer.embedder.min_norm
    # and a real face passes it with room to spare
    assert recognizer.extract_faces(data / OBAMA)[0].embedding.norm > recognizer.embedder.min_norm + 3


def _variants(data):
    ob = cv2.imread(str(data / OBAMA))
    x1, y1, x2, y2 = (int(v) for v in (368, 91, 611, 415))  # Obama's face in this photo
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    return {
        "raccoon": (cv2.imread(str(data / "scipy__raccoon.png")), "does not look enough like a face"),
        "tiny": (cv2.resize(ob, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA), "px across; enrol a photo where it is at least 64 px"),
        "half": (np.ascontiguousarray(ob[:, : (x1 + x2) // 2]), "touches the edge of the photo"),
        "upside down": (cv2.rotate(ob, cv2.ROTATE_180), "does not look enough like a face"),
        # YuNet's landmarks read a strong tilt as about half of it, and its embedding degrades: refused either way
        "tilted 44 degrees": (cv2.warpAffine(ob, cv2.getRotationMatrix2D(centre, 44, 1.0), (ob.shape[1], ob.shape[0])),
                              "the head is tilted|does not look enough like a face"),
        "blurred": (cv2.GaussianBlur(ob, (0, 0), 6), "the face is blurred"),
        "group": (cv2.imread(str(data / "insightface__t1.jpg")), "found 6 faces"),
    }


@pytest.mark.parametrize("case", ["raccoon", "tiny", "half", "upside down", "tilted 44 degrees", "blurred", "group"])
def test_enrolment_refuses_bad_photos_and_says_why(recognizer, data, case):
    image, reason = _variants(data)[case]
    with pytest.raises(EnrollmentError, match=reason):
        recognizer.enrollment_embeddings([image])


def test_a_good_photo_is_enrolled(recognizer, data):
    [e] = recognizer.enrollment_embeddings([data / OBAMA])
    assert e.shape == (128,) and abs(float(np.linalg.norm(e)) - 1) < 1e-5


def run(*args):
    return subprocess.run([sys.executable, "-m", "edge.apps.cli", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_same_face_under_a_second_name_is_refused_unless_forced(tmp_path, data):
    db = tmp_path / "door.db"
    assert run("enroll", "--store", db, "--name", "Barack", data / OBAMA).returncode == 0
    again = run("enroll", "--store", db, "--name", "Someone Else", data / "face_recognition__obama2.jpg")
    assert again.returncode == 1 and "match 'Barack', who is already enrolled" in again.stderr and "--force" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr
    more = run("enroll", "--store", db, "--name", "Barack", data / "face_recognition__obama2.jpg")  # the same person: fine
    assert more.returncode == 0, more.stderr
    other = run("enroll", "--store", db, "--name", "Joe", data / "face_recognition__biden.jpg")  # someone else: fine
    assert other.returncode == 0, other.stderr
    forced = run("enroll", "--store", db, "--name", "Someone Else", data / "face_recognition__obama2.jpg", "--force")
    assert forced.returncode == 0, forced.stderr
