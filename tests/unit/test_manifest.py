import shutil

import pytest

from edge.errors import ModelError
from edge.manifest import MODELS_DIR, load_manifest
from edge.tensors import Model


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


def test_a_misspelt_preprocess_or_decoding_key_fails_with_its_path(tmp_path):
    import yaml

    dst = tmp_path / "sface"
    shutil.copytree(MODELS_DIR / "sface", dst)
    m = yaml.safe_load((dst / "manifest.yaml").read_text())
    m["preprocess"]["bordr"] = m["preprocess"].pop("border")
    m["decoding"]["outptu"] = m["decoding"].pop("output")
    (dst / "manifest.yaml").write_text(yaml.safe_dump(m))
    with pytest.raises(ModelError) as e:
        load_manifest(dst)
    assert "preprocess.bordr: unknown key" in str(e.value) and "decoding.outptu: unknown key" in str(e.value)
    m["preprocess"]["border"] = "mirror"  # a value outside the schema
    del m["preprocess"]["bordr"]
    m["decoding"]["output"] = m["decoding"].pop("outptu")
    (dst / "manifest.yaml").write_text(yaml.safe_dump(m))
    with pytest.raises(ModelError, match=r"preprocess\.border: Input should be 'constant' or 'replicate'"):
        load_manifest(dst)


def test_every_bundled_manifest_meets_the_schema():
    from edge.manifest import check_sections

    for path in sorted(MODELS_DIR.glob("*/manifest.yaml")):
        m = load_manifest(path)
        check_sections(m.preprocess, m.decoding, str(path))
