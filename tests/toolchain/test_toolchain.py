"""The toolchain still builds models that meet their bars.

Runs in the toolchain environment (.venv-tools, made by ``setup.sh --tools``):
TensorFlow cannot share the device environment (onnx2tf pins numpy 1.26).
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
TOOLS_PY = REPO / ".venv-tools" / "bin" / "python"

pytestmark = [
    pytest.mark.toolchain,
    pytest.mark.skipif(not TOOLS_PY.exists(), reason="toolchain environment missing: run ./setup.sh --tools"),
]


def _tools(*args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOLS_PY), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_rebuild_detectors_gender_emotion_meet_bars_and_match_manifests():
    proc = _tools("-m", "tools.build", "--check", "yunet", "blazeface", "gender", "emotion")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("yunet", "blazeface", "gender", "emotion"):
        assert f"{name}: rebuilt, fidelity passed" in proc.stdout


def test_float_ops_are_refused():
    code = textwrap.dedent(
        """
        import tempfile, pathlib, tensorflow as tf
        from tools.quantize import require_full_integer
        from edge.errors import ConversionError
        m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3)])
        p = pathlib.Path(tempfile.mkdtemp()) / "float.tflite"
        p.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
        try:
            require_full_integer(p)
        except ConversionError as e:
            print("REFUSED:", e)
        """
    )
    proc = _tools("-c", code, timeout=300)
    assert "REFUSED:" in proc.stdout and "expected a full-integer int8 graph" in proc.stdout, proc.stderr[-2000:]
    assert "float32" in proc.stdout


def test_unknown_model_name_is_an_error():
    proc = _tools("-m", "tools.build", "no_such_model", timeout=300)
    assert proc.returncode == 1
    assert "unknown model(s) ['no_such_model']" in proc.stderr


def test_calibration_folder_without_faces_is_refused(tmp_path):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "wall.png"), np.full((120, 160, 3), 128, np.uint8))
    proc = _tools("-m", "tools.build", "--check", "gender", "--calib-folder", str(tmp_path), timeout=600)
    assert proc.returncode == 1
    assert "found no faces" in proc.stderr


def _has_torch() -> bool:
    return TOOLS_PY.exists() and _tools("-c", "import torch", timeout=120).returncode == 0


@pytest.mark.skipif(not _has_torch(), reason="PyTorch not in .venv-tools (pip install -r tools/requirements-torch.txt)")
def test_minifasnet_weights_load_strictly_and_replicas_are_exact():
    code = textwrap.dedent(
        """
        import copy, torch
        from tools import minifasnet
        from tools.sources import fetch, load_sources
        x = torch.rand(4, 3, 80, 80) * 255
        for name in ("minifasnet_v2", "minifasnet_v1se"):
            src = load_sources()[name]
            net = minifasnet.load(fetch(src), src.build["architecture"])  # strict=True inside
            eq = copy.deepcopy(net)
            minifasnet.equalise(eq)
            rep = minifasnet.Replicas(eq, 3, 0.3, 0).eval()
            with torch.no_grad():
                d = (torch.softmax(rep(x), 1) - torch.softmax(net(x), 1)).abs().max().item()
            print(name, sum(p.numel() for p in net.parameters()), d)
            assert d < 1e-4
        print("OK")
        """
    )
    proc = _tools("-c", code, timeout=300)
    assert proc.stdout.strip().endswith("OK"), proc.stdout + proc.stderr[-2000:]
