"""The `edgeface` command as a user runs it."""

import json
import subprocess
import sys

import pytest

OBAMA, OBAMA2, BIDEN = "face_recognition__obama.jpg", "face_recognition__obama2.jpg", "face_recognition__biden.jpg"


def run(*args):
    return subprocess.run([sys.executable, "-m", "edge.apps.cli", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_verify_same_and_different(data):
    same = run("verify", data / OBAMA, data / OBAMA2)
    assert same.returncode == 0 and same.stdout.startswith("same person"), same.stderr
    diff = run("verify", data / OBAMA, data / BIDEN, "--json")
    assert diff.returncode == 3, diff.stderr  # 'different people' is not an error, nor a usage error (2)
    out = json.loads(diff.stdout)
    assert out["verified"] is False and out["similarity"] < out["threshold"]
    usage = run("verify", data / OBAMA)
    assert usage.returncode == 2 and "required: image2" in usage.stderr
    broken = run("verify", data / OBAMA, data / "missing.jpg")
    assert broken.returncode == 1 and broken.stderr.splitlines()[-1].startswith("edgeface: error: ") and "no such file" in broken.stderr


def test_global_options_work_after_the_command(data):
    before = run("--threads", "1", "--detector", "blazeface", "faces", data / OBAMA, "--json")
    after = run("faces", data / OBAMA, "--json", "--threads", "1", "--detector", "blazeface")
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout
    yunet = run("faces", data / OBAMA, "--json")
    assert json.loads(yunet.stdout)[0]["landmarks"] != json.loads(after.stdout)[0]["landmarks"]  # --detector took effect


def test_faces_draws_png(tmp_path, data):
    png = tmp_path / "boxes.png"
    res = run("faces", data / "insightface__t1.jpg", "--draw", png, "--json")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == 6
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_and_represent(data):
    res = run("analyze", data / "insightface__1423.jpg", "--json")
    assert res.returncode == 0, res.stderr
    [a] = json.loads(res.stdout)
    assert a["gender"] == "female" and 0 < a["age"] < 100
    rep = json.loads(run("represent", data / OBAMA).stdout)
    assert len(rep) == 1 and len(rep[0]["embedding"]) == 128


@pytest.mark.parametrize(
    "args, message",
    [
        (("verify", "/nonexistent.jpg", "x.jpg"), "no such file"),
        (("verify", "{data}/insightface__no_face.png", "{data}/" + OBAMA), "no face found"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(data, args, message):
    res = run(*(a.format(data=data) for a in args))
    assert res.returncode == 1
    assert message in res.stderr and "Traceback" not in res.stderr


def test_models_lists_and_checks_every_model():
    res = run("models")
    assert res.returncode == 0, res.stdout
    for name in ("yunet", "sface", "age", "gender", "emotion"):
        assert name in res.stdout
    assert "BAD" not in res.stdout


def test_evaluate_on_labelled_pairs(tmp_path, data):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "file_a,file_b,same\n"
        f"{OBAMA},{OBAMA2},1\n{OBAMA},{BIDEN},0\n{OBAMA2},{BIDEN},0\n"
        "insightface__1423.jpg,insightface__happy.png,0\ninsightface__no_face.png,face_recognition__obama.jpg,0\n"
    )
    det = tmp_path / "det.png"
    res = run("evaluate", pairs, "--root", data, "--det", det, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["pairs"] == 4 and out["same"] == 1 and out["no_face"] == ["insightface__no_face.png"]
    assert out["accuracy"] == 1.0 and out["roc_auc"] == 1.0 and out["threshold_far"] == 0.001
    # 3 different pairs cannot back any reported rate: no number, and JSON null, never NaN
    assert [t["tar"] for t in out["tar_at_far"]] == [None] * 4 and "NaN" not in res.stdout
    assert det.read_bytes()[:4] == b"\x89PNG"
    text = run("evaluate", pairs, "--root", data)
    assert "TAR at FAR 0.01: not measurable: 3 different pairs, needs 300" in text.stdout, text.stderr


@pytest.mark.parametrize("content, message", [
    ("file_a,file_b,same\na.jpg,b.jpg,yes\na.jpg,c.jpg,maybe\n", "line 3: same is 'maybe'; expected 1 (same person) or 0"),
    ("file_a,file_b,same\na.jpg,b.jpg,1\na.jpg\n", "line 3: expected file_a, file_b and same, found a short row"),
])
def test_evaluate_refuses_bad_pairs_files_with_the_line(tmp_path, data, content, message):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(content)
    res = run("evaluate", pairs, "--root", data)
    assert res.returncode == 1 and message in res.stderr and "Traceback" not in res.stderr, res.stderr


TOOLS_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "tools" / "data"


def test_calibrate_on_the_bundled_photos_states_only_what_the_pairs_back(tmp_path):
    out = tmp_path / "cal.yaml"
    res = run("calibrate", TOOLS_DATA / "index.csv", "--root", TOOLS_DATA / "images", "--conditions", "clean,night", "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    cal = json.loads(res.stdout)
    n = min(cal["impostor_pairs"].values())
    assert cal["identities"] == 24 and n > 500
    assert min(p["far"] for p in cal["points"]) >= 3 / n * 0.9  # never a rate below what the pairs can back
    for p in cal["points"]:
        assert p["upper"] <= p["far"] * 1.001
    from edge.calibration import load_calibration

    assert load_calibration(out).points[0].threshold == cal["points"][0]["threshold"]
    text = run("calibrate", TOOLS_DATA / "index.csv", "--root", TOOLS_DATA / "images", "--conditions", "clean")
    assert "lowest rate these pairs can back" in text.stdout, text.stderr


def test_identification_rates_against_gallery_size():
    res = run("evaluate", "--identification", TOOLS_DATA / "index.csv", "--root", TOOLS_DATA / "images", "--sizes", "1,5,all",
              "--draws", "5", "--uncorrected", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    corrected = [r for r in rows if r["corrected"] and r["purpose"] == "announce"]
    assert [r["people"] for r in corrected] == [1, 5, 10]  # 11 identities have 2+ photos: at most 10 enrolled, one stays a stranger
    for r in corrected:
        assert r["non_mated"] > 0 and r["mated"] > 0 and 0 <= r["fpir"] <= 1 and 0 <= r["fnir"] <= 1
    # the threshold grows with the gallery when corrected, and stays put when not
    assert corrected[0]["threshold"] < corrected[2]["threshold"]
    flat = [r for r in rows if not r["corrected"] and r["purpose"] == "announce"]
    assert len({r["threshold"] for r in flat}) == 1
    door = [r for r in rows if r["corrected"] and r["purpose"] == "door"]
    assert all(d["threshold"] > a["threshold"] for d, a in zip(door, corrected, strict=True))


def test_enroll_and_persons(tmp_path, data):
    db = tmp_path / "door.db"
    res = run("enroll", "--store", db, "--name", "Barack Obama", data / OBAMA, data / OBAMA2)
    assert res.returncode == 0 and "enrolled 2 photo(s) of Barack Obama" in res.stdout, res.stderr
    res = run("enroll", "--store", db, "--name", "Group", data / BIDEN, data / "insightface__7242.jpg")
    assert res.returncode == 1 and "insightface__7242.jpg: expected exactly one face" in res.stderr
    listing = json.loads(run("persons", "--store", db, "list", "--json").stdout)
    assert [(p["name"], p["templates"]) for p in listing] == [("Barack Obama", 2)]  # the refused photos stored nothing
    assert run("persons", "--store", db, "rename", "Barack Obama", "Barack").returncode == 0
    assert run("persons", "--store", db, "remove", "Barack").returncode == 0
    assert "no one is enrolled" in run("persons", "--store", db, "list").stdout


def test_find_takes_a_store_an_export_or_a_folder_and_import_is_idempotent(tmp_path, data):
    import shutil

    db, export, folder = tmp_path / "door.db", tmp_path / "g.npz", tmp_path / "gallery"
    assert run("enroll", "--store", db, "--name", "Barack Obama", data / OBAMA).returncode == 0
    assert run("persons", "--store", db, "export", export).returncode == 0
    (folder / "Barack Obama").mkdir(parents=True)
    shutil.copy(data / OBAMA, folder / "Barack Obama")
    for gallery in (db, export, folder):
        res = run("find", data / OBAMA2, "--gallery", gallery, "--json")
        assert res.returncode == 0, res.stderr
        [[best, *_]] = json.loads(res.stdout)
        assert best["identity"] == "Barack Obama" and best["verified"], gallery
    other = tmp_path / "other.db"
    first = run("persons", "--store", other, "import", export)
    assert "imported 1 template(s) of 1 person(s)" in first.stdout, first.stderr
    again = run("persons", "--store", other, "import", export)
    assert "imported 0 template(s)" in again.stdout and f"1 already in {other}, skipped" in again.stdout, again.stderr
    assert [p["templates"] for p in json.loads(run("persons", "--store", other, "list", "--json").stdout)] == [1]


def test_a_bad_import_file_starts_no_store(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a gallery")
    new = tmp_path / "new.db"
    for bad, message in ((notes, "not a .npz archive"), (tmp_path, "is a folder"), (tmp_path / "none.npz", "no such gallery file")):
        res = run("persons", "--store", new, "import", bad)
        assert res.returncode == 1 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = run("persons", "--store", new, "import")
    assert res.returncode == 1 and "usage: edgeface persons --store PATH import FILE.npz" in res.stderr
    assert not new.exists()
