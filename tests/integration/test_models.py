"""The committed models: what the manifests promise holds for the files."""

import shutil

import numpy as np
import pytest

from edge.errors import ModelError
from edge.manifest import MODELS_DIR, load_manifest
from edge.tensors import Model, pixels_to_input

NAMES = ["yunet", "blazeface", "sface", "age", "gender", "emotion"]


@pytest.mark.parametrize("name", NAMES)
def test_manifest_matches_file_and_is_full_integer(name):
    man = load_manifest(MODELS_DIR / name)
    man.verify_file()
    assert man.input.dtype == "uint8" and man.input.scale == 1.0 and man.input.zero_point == 0
    assert all(o.dtype == "int8" for o in man.outputs)
    assert "DEQUANTIZE" not in man.raw["ops"] and man.raw["ops"].get("QUANTIZE", 0) <= 1
    assert man.raw["fidelity"]["passed"] is True
    assert man.raw["fidelity"]["calibration_samples"] >= 250  # several hundred, per the toolchain's contract
    assert man.raw["source"]["sha256"] and "==" in man.raw["source"]["package"]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_vary_with_input(name):
    man = load_manifest(MODELS_DIR / name)
    m = Model(man, threads=1)
    rng = np.random.default_rng(0)
    shape = man.input.shape[1:]
    a = m.run(pixels_to_input(rng.integers(0, 256, shape, dtype=np.uint8), man.input))
    b = m.run(pixels_to_input(np.full(shape, 128, np.uint8), man.input))
    assert any(not np.allclose(a[k], b[k]) for k in a)


def test_total_model_size_under_20mb():
    total = sum(p.stat().st_size for p in MODELS_DIR.glob("*/*.tflite"))
    assert total < 20 * 1024 * 1024


@pytest.mark.parametrize("name", NAMES)
def test_every_op_is_in_the_edgetpu_list(name):
    man = load_manifest(MODELS_DIR / name)
    assert man.raw["edgetpu"]["ops_not_in_published_list"] == []


def test_sface_int8_runs_as_one_xnnpack_partition():
    """Int8 PRELU (and standalone int8 RELU) are not delegated to XNNPACK: each split the graph
    and ran on slow reference kernels (42.9 ms vs 8.2 ms float). The toolchain rewrites PReLU as
    depthwise 1x1 convolutions + ADD; this keeps the whole graph in one XNNPACK partition."""
    from collections import Counter

    m = Model(load_manifest(MODELS_DIR / "sface"), threads=1)
    ops = Counter(o["op_name"] for o in m.interpreter._get_ops_details())
    assert "PRELU" not in ops
    assert ops["DELEGATE"] == 1


# --- a manifest and its model file must agree (moved from tests/unit: these load interpreters) ---


@pytest.fixture
def model_copy(tmp_path):
    dst = tmp_path / "gender"
    shutil.copytree(MODELS_DIR / "gender", dst)
    return dst


def test_corrupt_model_file_is_refused(model_copy):
    f = model_copy / "gender_int8.tflite"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(ModelError, match="sha256 is .* but manifest.yaml expects"):
        Model(load_manifest(model_copy))


def test_wrong_model_file_is_refused(model_copy):
    shutil.copy(MODELS_DIR / "emotion" / "emotion_int8.tflite", model_copy / "gender_int8.tflite")
    with pytest.raises(ModelError, match="sha256"):
        Model(load_manifest(model_copy))
    # Even with the hash check off, the input spec catches a swapped file.
    with pytest.raises(ModelError, match="do not belong together"):
        Model(load_manifest(model_copy), verify=False)


def test_not_a_tflite_file(model_copy):
    (model_copy / "gender_int8.tflite").write_bytes(b"\x00" * 4096)
    with pytest.raises(ModelError, match="cannot load this file as a TFLite model"):
        Model(load_manifest(model_copy), verify=False)


def test_missing_and_malformed_manifests(tmp_path, model_copy):
    with pytest.raises(ModelError, match="no such model manifest; expected models/<name>/manifest.yaml"):
        load_manifest(tmp_path / "nothing")
    (model_copy / "manifest.yaml").write_text("schema: 99\n")
    with pytest.raises(ModelError, match="expected a manifest with schema: 1, found 99"):
        load_manifest(model_copy)
    (model_copy / "manifest.yaml").write_text("schema: 1\nname: x\n")
    with pytest.raises(ModelError, match="missing key"):
        load_manifest(model_copy)


def test_edgetpu_missing_is_an_error_unless_fallback_is_asked(model_copy):
    from edge.errors import RuntimeNotAvailableError

    man = load_manifest(model_copy)
    with pytest.raises(RuntimeNotAvailableError, match="libedgetpu1-std"):
        Model(man, edgetpu="usb")
    m = Model(man, edgetpu="usb", cpu_fallback=True)  # explicit: runs on the CPU
    assert m.input_shape == man.input.shape
