"""find() against folder galleries, with the embedding cache."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.errors import EdgeFaceError, ModelError
from edge.gallery import CACHE_NAME
from edge.match import Gallery


@pytest.fixture
def gallery_dir(tmp_path, data):
    for person, files in {"obama": ["face_recognition__obama.jpg"], "biden": ["face_recognition__biden.jpg"], "girl": ["insightface__1423.jpg"]}.items():
        (tmp_path / person).mkdir()
        for f in files:
            shutil.copy(data / f, tmp_path / person / f)
    (tmp_path / "nobody").mkdir()
    shutil.copy(data / "insightface__no_face.png", tmp_path / "nobody" / "wall.png")
    return tmp_path


def test_find_names_the_right_person(recognizer, gallery_dir, data):
    [matches] = recognizer.find(data / "face_recognition__obama2.jpg", gallery_dir)
    assert matches[0].identity == "obama" and matches[0].verified
    assert all(not m.verified for m in matches[1:])
    assert [m.similarity for m in matches] == sorted((m.similarity for m in matches), reverse=True)


def test_unknown_face_matches_nobody(recognizer, gallery_dir, data):
    [matches] = recognizer.find(data / "insightface__happy.png", gallery_dir)
    assert not any(m.verified for m in matches)


def test_cache_is_reused_refreshed_and_tied_to_the_model(recognizer, gallery_dir, data, caplog):
    from edge.gallery import index_folder

    calls = []

    def embed(p):
        calls.append(p.name)
        return [r.embedding for r in recognizer.represent(p)]

    fp = recognizer.embedder.fingerprint
    g, st = index_folder(gallery_dir, embed, fp, 128, 0.36)
    assert (st.embedded, st.reused, st.skipped) == (3, 0, ("nobody/wall.png",))
    assert (gallery_dir / CACHE_NAME).exists()
    g2, st2 = index_folder(gallery_dir, embed, fp, 128, 0.36)
    assert (st2.embedded, st2.reused) == (0, 3)  # nothing recomputed
    assert np.allclose(g.embeddings, g2.embeddings)
    shutil.copy(data / "face_recognition__obama2.jpg", gallery_dir / "obama" / "second.jpg")
    _, st3 = index_folder(gallery_dir, embed, fp, 128, 0.36)
    assert (st3.embedded, st3.reused) == (1, 3)  # only the new photo
    calls.clear()
    _, st4 = index_folder(gallery_dir, embed, "another-model", 128, 0.36)
    assert st4.embedded == 4 and "made by another embedder" in caplog.text


def test_corrupt_cache_is_rebuilt(recognizer, gallery_dir, data):
    recognizer.gallery(gallery_dir)
    (gallery_dir / CACHE_NAME).write_bytes(b"garbage")
    [matches] = recognizer.find(data / "face_recognition__obama2.jpg", gallery_dir)
    assert matches[0].identity == "obama"


def test_gallery_of_another_embedder_is_refused(recognizer, data):
    e = recognizer.represent(data / "face_recognition__obama.jpg")[0].embedding
    g = Gallery(("obama",), e[None], "0" * 64)
    with pytest.raises(ModelError, match="different models cannot be compared"):
        recognizer.find(data / "face_recognition__obama2.jpg", g)


def test_empty_or_missing_gallery(recognizer, tmp_path, data):
    with pytest.raises(EdgeFaceError, match="no photos found"):
        recognizer.find(data / "face_recognition__obama.jpg", tmp_path)
    with pytest.raises(EdgeFaceError, match="missing: no such gallery; expected a folder with one subfolder of photos per person"):
        recognizer.find(data / "face_recognition__obama.jpg", tmp_path / "missing")


def test_cli_find(gallery_dir, data):
    res = subprocess.run([sys.executable, "-m", "edge.apps.cli", "find", str(data / "face_recognition__obama2.jpg"), "--gallery", str(gallery_dir), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out[0][0]["identity"] == "obama" and out[0][0]["verified"] is True


def test_gallery_file_can_be_searched_and_is_tied_to_the_model(recognizer, gallery_dir, data, tmp_path):
    recognizer.gallery(gallery_dir)
    copy = tmp_path / "door-unit-gallery.npz"
    shutil.copy(gallery_dir / CACHE_NAME, copy)
    [matches] = recognizer.find(data / "face_recognition__obama2.jpg", copy)
    assert matches[0].identity == "obama" and matches[0].verified
    # Re-label the file as made by another model: refused, not silently compared.
    with np.load(copy) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        emb = z["embeddings"]
    meta["fingerprint"] = "f" * 64
    with open(copy, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), embeddings=emb)
    with pytest.raises(ModelError, match="different models cannot be compared"):
        recognizer.find(data / "face_recognition__obama2.jpg", copy)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(EdgeFaceError, match="not an edgeface gallery file"):
        recognizer.find(data / "face_recognition__obama2.jpg", tmp_path / "junk.npz")


def test_group_photo_in_a_gallery_folder_gives_only_the_matching_face(recognizer, tmp_path, data, caplog):
    """A group photo does not silently become its folder's person: its one face that matches the
    person's other photos is taken (with a warning); a folder with only a group photo gets nothing."""
    import cv2

    (tmp_path / "joe").mkdir()
    shutil.copy(data / "face_recognition__biden.jpg", tmp_path / "joe" / "portrait.jpg")
    a = cv2.imread(str(data / "face_recognition__knn_biden_biden2.jpg"))
    b = cv2.imread(str(data / "face_recognition__obama.jpg"))
    h = 600
    group = np.hstack([cv2.resize(a, (int(a.shape[1] * h / a.shape[0]), h)), cv2.resize(b, (int(b.shape[1] * h / b.shape[0]), h))])
    cv2.imwrite(str(tmp_path / "joe" / "with_barack.jpg"), group)
    (tmp_path / "crowd").mkdir()
    shutil.copy(data / "insightface__t1.jpg", tmp_path / "crowd" / "team.jpg")
    with caplog.at_level("WARNING"):
        g = recognizer.gallery(tmp_path)
    assert sorted(g.identities) == ["joe", "joe"]  # the portrait, and Joe's face of the group photo; nothing for "crowd"
    assert "with_barack.jpg shows 2 faces; took the one that matches joe" in caplog.text
    assert "crowd/team.jpg skipped: it shows 6 faces" in caplog.text
    joe_in_group = g.embeddings[[i for i, r in enumerate(g.identities) if r == "joe"]]
    obama = recognizer.represent(data / "face_recognition__obama.jpg")[0].embedding
    assert float((joe_in_group @ obama).max()) < 0.3  # Barack's face was not taken as Joe


def test_find_in_a_sqlite_file_that_is_not_a_store_refuses_and_leaves_it_untouched(tmp_path, recognizer, data):
    import hashlib
    import sqlite3

    from edge.errors import StoreError

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (t TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="not an edgeface store"):
        recognizer.find(data / "face_recognition__obama.jpg", other)
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before
    with sqlite3.connect(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["notes"]
