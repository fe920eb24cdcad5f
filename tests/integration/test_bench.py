"""``edgeface bench``'s photo pass: runs, counts what it should and says what is wrong with a folder (not timed)."""

import subprocess
import sys
from pathlib import Path

from edge.apps.bench import photo_pass
from edge.apps.peer import OpenCVPipeline

REPO = Path(__file__).resolve().parent.parent.parent


def test_the_photo_pass_counts_photos_with_a_face_and_reports_each_stage(data):
    files = [data / "face_recognition__obama.jpg", data / "insightface__t1.jpg", data / "insightface__no_face.png"]
    seen = []
    res = photo_pass(files, passes=1, progress=lambda n, total: seen.append((n, total)))
    assert res["images"] == 3 and res["images_with_a_face"]["edgeface"] == 2
    assert res["detections"] >= 1 + 6  # obama, and the six faces of the group photo
    assert set(res["edgeface_ms_per_image"]) == {"decode", "detect", "align", "embed"}
    assert all(v > 0 for v in res["edgeface_ms_per_image"].values())
    assert seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1]  # progress up to the end, once per photo and pass
    if OpenCVPipeline.bundled():  # the fp32 peer's ONNX files are there (python -m tools.peer --models-only)
        assert res["images_with_a_face"]["opencv"] == 2 and res["speed_ratio_vs_opencv"] > 0
    else:
        assert "speed_ratio_vs_opencv" not in res


def test_a_folder_without_photos_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "notes.txt").write_text("no photos here")
    out = subprocess.run([sys.executable, "-m", "edge.apps.cli", "bench", "--images", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "no photos found" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""  # refused before the stage benchmark started
