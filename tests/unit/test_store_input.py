"""The store refuses bad names, paths and vectors with the fix, stores nothing then, and keeps
working around templates that a corruption made unusable. SQLite on a temporary folder only."""

import logging
import re
import sqlite3

import numpy as np
import pytest

from edge.errors import GalleryError, StoreError
from edge.gallery import load_gallery_file, save_gallery_file
from edge.match import Gallery
from edge.store import MAX_NAME_CHARS, Store, person_name

FP = "f" * 64


def unit(*values):
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


A, B, C = unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 1)


@pytest.mark.parametrize("name, message", [
    ("", "cannot be empty"),
    ("   \t ", "cannot be empty"),
    ("Ali\nce", "U+000A"),
    ("Al\x00ice", "U+0000"),
    ("\x1b[31mAlice\x1b[0m", "U+001B"),
    ("Ali\tce", "U+0009"),
    ("Alice\u202eecilA", "U+202E"),  # a bidirectional override
    ("x" * (MAX_NAME_CHARS + 1), f"at most {MAX_NAME_CHARS} characters, found {MAX_NAME_CHARS + 1}"),
    ("x" * 100_000, "found 100000"),
    (None, "must be text"),
])
def test_names_that_cannot_be_announced_are_refused(name, message):
    with pytest.raises(StoreError, match=re.escape(message)):
        person_name(name)


@pytest.mark.parametrize("name, stored", [
    ("  Alice ", "Alice"), ("Zoë-Ann O'Neil", "Zoë-Ann O'Neil"), ("李小龙", "李小龙"), ("Jürgen (2nd)", "Jürgen (2nd)"),
    ("👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"), ("x" * MAX_NAME_CHARS, "x" * MAX_NAME_CHARS),
])
def test_printable_names_are_taken_stripped(name, stored):
    assert person_name(name) == stored


def test_enrol_rename_and_import_all_check_the_name(tmp_path):
    with Store(tmp_path / "s.db") as st:
        st.enroll("Alice", [A], FP)
        with pytest.raises(StoreError, match="cannot be empty"):
            st.enroll(" ", [B], FP)
        for new in ("", "   ", "B\nb", "B\x00b"):
            with pytest.raises(StoreError, match="cannot be empty|U\\+"):
                st.rename("Alice", new)
        with pytest.raises(StoreError, match="U\\+000A"):
            st.import_gallery(Gallery(("Eve\nil",), np.stack([B]), FP), "import:x")
        assert [(p.name, p.templates) for p in st.persons()] == [("Alice", 1)]  # nothing changed
        st.rename("Alice", "  Alicia ")
        assert [p.name for p in st.persons()] == ["Alicia"]


def test_a_mistyped_folder_never_becomes_an_empty_store(tmp_path):
    missing = tmp_path / "mistyped" / "s.db"
    with pytest.raises(StoreError, match=f"folder {tmp_path / 'mistyped'} does not exist; check the path for a typo"):
        Store(missing)
    assert not missing.parent.exists()
    with pytest.raises(StoreError, match=f"no store at {tmp_path / 'new.db'}; check the path"):
        Store(tmp_path / "new.db", create=False)
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(StoreError, match="is a folder; expected a store file"):
        Store(tmp_path)
    with Store(tmp_path / "new.db") as st:  # a new store in an existing folder
        assert st.persons() == []
    with Store(tmp_path / "new.db", create=False) as st:
        assert st.persons() == []


def test_importing_the_same_export_twice_adds_nothing_the_second_time(tmp_path):
    export = tmp_path / "g.npz"
    save_gallery_file(export, Gallery(("Alice", "Alice", "Bob"), np.stack([A, B, C]), FP))
    with Store(tmp_path / "s.db") as st:
        st.enroll("Bob", [C], FP)  # Bob's template is already here
        assert st.import_gallery(load_gallery_file(export, FP, 4), "import:g.npz") == (2, 1)
        assert st.import_gallery(load_gallery_file(export, FP, 4), "import:g.npz") == (0, 3)
        assert [(p.name, p.templates) for p in st.persons()] == [("Alice", 2), ("Bob", 1)]
        st.enroll("Bob", [C], FP)  # enrolling keeps adding: a second photo may embed alike
        assert [p.templates for p in st.persons()] == [2, 2]


def _write_export(path, embeddings, identities=None):
    import json

    identities = identities or [f"p{i}" for i in range(len(embeddings))]
    meta = {"fingerprint": FP, "files": [{"path": f"{n}/0", "identity": n, "size": 0, "mtime_ns": 0} for n in identities]}
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), embeddings=np.asarray(embeddings, np.float32))


@pytest.mark.parametrize("rows, dim, message", [
    ([A, np.full(4, np.nan)], 4, "#2 of 'p1': 4 of its 4 values are NaN or infinite"),
    ([A, B], 128, "#1 of 'p0': expected 128 values, found 4"),
    ([A, 3 * B], 4, "#2 of 'p1': expected unit length, found length 3"),
])
def test_an_import_file_with_bad_vectors_is_refused_whole(tmp_path, rows, dim, message):
    export = tmp_path / "g.npz"
    _write_export(export, rows)
    with pytest.raises(GalleryError, match=message):
        load_gallery_file(export, FP, dim)


@pytest.mark.parametrize("meta", [b"[1, 2]", b'{"fingerprint": "' + FP.encode() + b'", "files": [{"path": "x"}]}', b"not json"])
def test_a_damaged_gallery_file_is_refused(tmp_path, meta):
    export = tmp_path / "g.npz"
    np.savez(export, meta=np.frombuffer(meta, np.uint8), embeddings=np.stack([A]))
    with pytest.raises(GalleryError, match="not an edgeface gallery file"):
        load_gallery_file(export, FP)
    _write_export(export, [A, B])
    with np.load(export) as z:
        np.savez(export, meta=z["meta"], embeddings=np.stack([A]))  # two identities, one row
    with pytest.raises(GalleryError, match="2 identities but embeddings of shape"):
        load_gallery_file(export, FP)


def test_bad_vectors_are_never_stored(tmp_path):
    with Store(tmp_path / "s.db") as st:
        st.enroll("Alice", [A], FP)
        with pytest.raises(StoreError, match="template 2 of 2 .'Bob'. cannot be stored: 1 of its 4 values are NaN"):
            st.enroll("Bob", [B, np.array([1, 0, 0, np.nan], np.float32)], FP)
        with pytest.raises(StoreError, match="expected 4 values, found 3"):
            st.enroll("Bob", [unit(1, 1, 1)], FP)
        assert [p.name for p in st.persons()] == ["Alice"]


def test_corrupt_templates_are_left_out_by_name_and_everyone_else_is_kept(tmp_path, caplog):
    path = tmp_path / "s.db"
    with Store(path) as st:
        st.enroll("Alice", [A, B], FP)
        st.enroll("Bob", [C], FP)
        st.enroll("Carol", [B], FP)
    db = sqlite3.connect(path)  # what a failing SD card or a hand edit leaves
    db.execute("UPDATE templates SET embedding = ? WHERE id = 2", (np.full(4, np.nan, np.float32).tobytes(),))
    db.execute("UPDATE templates SET embedding = ? WHERE id = 3", (C.tobytes()[:6],))
    db.commit()
    db.close()
    with Store(path) as st, caplog.at_level(logging.WARNING, "edge.store"):
        g = st.gallery(FP)
        assert g.identities == ("Alice", "Carol") and np.array_equal(g.embeddings, np.stack([A, B]))
        assert "template 2 of 'Alice' is unusable (4 of its 4 values are NaN or infinite)" in caplog.text
        assert "template 3 of 'Bob' is unusable (holds 6 bytes, expected 16 (4 float32 values))" in caplog.text
        assert "edgeface persons remove 'Bob'" in caplog.text
        assert [(p.name, p.templates, p.unusable) for p in st.persons()] == [("Alice", 2, 1), ("Bob", 1, 1), ("Carol", 1, 0)]
        assert [b.template_id for b in st.bad_templates(dim=4)] == [2, 3]
        assert st.gallery(FP, dim=128).identities == ()  # the embedder's length decides when given
