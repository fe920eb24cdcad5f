import shutil

import pytest

from edge.errors import ModelError
from edge.manifest import MODELS_DIR, load_manifest


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
