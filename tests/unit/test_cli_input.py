"""The `edgeface` command refuses bad input before doing any work: one line `edgeface: error: ...`,
the documented exit code, nothing lost. In-process and without models (edge.apps.cli.main)."""

import json

import numpy as np
import pytest

from edge.apps.cli import EXIT_NO, build_parser, main


def test_global_options_before_or_after_the_command():
    p = build_parser()
    for argv in (["--threads", "3", "-v", "--models", "m", "--detector", "blazeface", "models"],
                 ["models", "--threads", "3", "-v", "--models", "m", "--detector", "blazeface"],
                 ["--threads", "1", "models", "--threads", "3", "-v", "--models", "m", "--detector", "blazeface"]):
        a = p.parse_args(argv)
        assert (a.threads, a.verbose, a.models, a.detector) == (3, True, "m", "blazeface"), argv
    a = p.parse_args(["check", "x.yaml"])
    assert (a.threads, a.verbose, a.models, a.detector) == (None, False, None, None)
    a = p.parse_args(["-v", "persons", "--store", "s.db", "list"])  # given before, not reset by the subcommand
    assert a.verbose is True


def test_exit_codes_are_documented(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "2  usage error" in out and f"{EXIT_NO}  the answer is no: verify: different people" in out
    with pytest.raises(SystemExit) as e:
        main(["verify", "only-one.jpg"])
    assert e.value.code == 2


def _err(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("edgeface: error: "), err
    return err


def test_commands_that_read_a_store_refuse_a_missing_one(tmp_path, capsys):
    mistyped = tmp_path / "mistyped" / "door.db"
    for argv in (["persons", "--store", mistyped, "list"], ["persons", "--store", mistyped, "rename", "A", "B"],
                 ["status", "--store", mistyped], ["audit", "--store", mistyped], ["door", "status", "--store", mistyped],
                 ["enroll", "--store", mistyped, "--name", "Alice", "a.jpg"], ["persons", "--store", mistyped, "import", "g.npz"]):
        assert main([str(a) for a in argv]) == 1, argv
        assert f"folder {mistyped.parent} does not exist" in _err(capsys)
    new = tmp_path / "new.db"
    for argv in (["persons", "--store", new, "list"], ["persons", "--store", new, "remove", "A"], ["status", "--store", new],
                 ["audit", "--store", new], ["find", "x.jpg", "--gallery", new]):
        assert main([str(a) for a in argv]) == 1, argv
        assert f"{new}" in _err(capsys)
    assert not mistyped.parent.exists() and not new.exists()  # nothing was created


def test_rename_to_an_empty_name_is_refused(tmp_path, capsys):
    from edge.store import Store

    db = tmp_path / "s.db"
    with Store(db) as st:
        st.enroll("Alice", [np.array([1, 0], np.float32)], "f" * 64)
    for new in ("", "   "):
        assert main(["persons", "--store", str(db), "rename", "Alice", new]) == 1
        assert "a person's name cannot be empty" in _err(capsys)
    assert main(["persons", "--store", str(db), "list", "--json"]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)] == ["Alice"]


def test_enroll_refuses_a_bad_name_before_reading_any_photo(tmp_path, capsys):
    # no models in --models: a name checked after the photos would fail on the models instead
    for name, message in (("Al\nice", "U+000A"), ("", "cannot be empty"), ("x" * 101, "at most 100 characters")):
        assert main(["--models", str(tmp_path), "enroll", "--store", str(tmp_path / "s.db"), "--name", name, "a.jpg"]) == 1
        assert message in _err(capsys)
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("gallery, message", [
    (None, "found NoneType"), (42, "found int"), ("", "found an empty path"), ("/no/such/gallery", "/no/such/gallery: no such gallery"),
])
def test_find_names_the_gallery_types_it_takes(tmp_path, gallery, message):
    from edge.api import Recognizer
    from edge.errors import GalleryError

    rec = Recognizer(models_dir=tmp_path)  # no models: the gallery is refused before any is needed
    with pytest.raises(GalleryError, match=message) as e:
        rec.find("door.jpg", gallery)
    assert "a folder with one subfolder of photos per person, a .npz gallery file, an edgeface store (.db) or an edge.Gallery" in str(e.value)


@pytest.mark.parametrize("content, message", [
    ('{"state": "running", "pid": 1', "not JSON (Invalid JSON"),
    ("[1, 2]", "the whole file: input should be an object"),
    ('{"state": "stopped", "pid": 1}', "no 'device_id', 'version'"),
    ('{"state": "stopped", "pid": "one", "camera": {}}', "pid: input should be a valid integer"),
    ('{"state": "stopped", "pid": 1, "device_id": "d", "uptime_s": "long", "camera": {"source": "x"}}', "uptime_s: input should be a valid number"),
    ("\xff\xfe", "cannot read"),
])
def test_a_malformed_status_file_is_reported_not_a_traceback(tmp_path, capsys, content, message):
    from edge.unit.status import status_path

    store = tmp_path / "s.db"
    store.touch()
    status_path(store).write_bytes(content.encode("latin-1"))
    for extra in ([], ["--json"]):
        assert main(["status", "--store", str(store), *extra]) == 1
        err = _err(capsys)
        assert message in err and str(status_path(store)) in err, err
    if message != "cannot read":
        assert "expected the status file edgeface run writes" in err


@pytest.mark.parametrize("argv", [
    ["faces", "x.jpg", "--draw", "{tmp}/out.txt"],
    ["evaluate", "pairs.csv", "--root", ".", "--det", "{tmp}/det.pdf"],
    ["calibrate", "labels.csv", "--det", "{tmp}/det"],
])
def test_image_outputs_with_a_non_image_suffix_are_refused_before_any_work(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as e:
        main([a.format(tmp=tmp_path) for a in argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "expected an image file name ending in .png, .jpg, .jpeg" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_image_output_in_a_missing_folder_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["faces", "x.jpg", "--draw", str(tmp_path / "no" / "out.png")])
    assert f"folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err


def test_demo_workdir_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    assert main(["demo", "--workdir", str(f), "--no-broker"]) == 1
    assert "is a file; expected a folder for the demo's store" in _err(capsys)
    assert f.read_text() == "keep me"



def test_options_that_do_not_go_together_are_a_usage_error(capsys):
    assert main(["evaluate", "a.csv", "b.csv"]) == 2  # two pairs files but no --root: which is which is unsaid
    assert "usage: edgeface evaluate" in _err(capsys)


def test_one_exception_per_condition():
    from edge.errors import EdgeFaceError, FingerprintError, ModelError, StoreError

    # another model's embeddings: one class, caught as a model or a store problem alike
    assert issubclass(FingerprintError, ModelError) and issubclass(FingerprintError, StoreError)
    from edge.match import Gallery

    g = Gallery(("a",), np.eye(1, 128, dtype=np.float32), "f" * 64)
    with pytest.raises(FingerprintError):
        g.search(np.eye(1, 128, dtype=np.float32)[0], 0.5, fingerprint="e" * 64)
    assert issubclass(FingerprintError, EdgeFaceError)
