"""The committed MiniFASNet int8 models on upstream's own samples, through the device stage."""

from pathlib import Path

import numpy as np
import pytest

from edge.antispoof import AntiSpoof, SpoofScore, crop_for
from edge.detect import YuNet
from edge.image import load_image
from edge.manifest import MODELS_DIR, find_manifest, load_manifest
from edge.tensors import Model

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = ["minifasnet_v2", "minifasnet_v1se"]
#: Float (PyTorch, the published weights) live probabilities on the largest YuNet face, per model,
#: measured 2026-12-01 with tools/minifasnet.py: T1 live, F1 and F2 spoofs, as upstream labels them.
FLOAT_LIVE = {
    "minifasnet__image_T1.jpg": (0.9999, 1.0000),
    "minifasnet__image_F1.jpg": (0.0116, 0.3174),
    "minifasnet__image_F2.jpg": (0.0013, 0.0023),
}


@pytest.fixture(scope="module")
def stage():
    return AntiSpoof([Model(find_manifest(n), threads=1) for n in NAMES])


@pytest.fixture(scope="module")
def boxes():
    det = YuNet(Model(find_manifest("yunet"), threads=1))
    out = {}
    for f in FLOAT_LIVE:
        img = load_image(DATA / f)
        out[f] = (img, max(det.detect(img), key=lambda d: d.box.area).box)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_manifest_is_full_integer_with_licence_and_scaled_box(name):
    man = load_manifest(MODELS_DIR / name)
    man.verify_file()
    assert man.input.dtype == "uint8" and man.input.scale == 1.0 and man.colour_order == "BGR"
    assert all(o.dtype == "int8" for o in man.outputs) and "DEQUANTIZE" not in man.raw["ops"]
    assert man.preprocess["kind"] == "scaled_box" and man.preprocess["size"] == 80
    assert man.preprocess["scale"] == {"minifasnet_v2": 2.7, "minifasnet_v1se": 4.0}[name]
    fid = man.raw["fidelity"]
    assert fid["passed"] is True and fid["live_agreement_repeatable"] >= fid["bars"]["live_agreement_repeatable"] >= 0.98
    assert fid["repeatable_share"] >= 0.9 and fid["live_agreement"] >= 0.95  # all crops: reported, not the bar
    assert man.raw["source"]["path"].startswith("../shared/models/minifasnet/")
    assert "Apache" in (MODELS_DIR / name / "LICENSE").read_text() and "Apache-2.0" in (MODELS_DIR / name / "NOTICE").read_text()


@pytest.mark.parametrize("file", list(FLOAT_LIVE))
def test_upstream_samples_get_upstream_verdicts(stage, boxes, file):
    img, box = boxes[file]
    s = stage.score(img, box)
    assert isinstance(s, SpoofScore) and len(s.per_model) == 2
    live = file.endswith("T1.jpg")
    assert s.is_live() is live
    assert s.live == pytest.approx(float(np.mean(s.per_model)))
    # each model's int8 verdict agrees with its float one
    for got, want in zip(s.per_model, FLOAT_LIVE[file], strict=True):
        assert (got >= 0.5) == (want >= 0.5)


def test_crop_uses_each_models_scale(stage):
    img = load_image(DATA / "face_recognition__obama.jpg")  # a face small enough for both scales to fit
    box = max(YuNet(Model(find_manifest("yunet"), threads=1)).detect(img), key=lambda d: d.box.area).box
    a, b = (crop_for(img, box, m.manifest.preprocess["scale"]) for m in stage.models)
    assert a.shape == b.shape == (80, 80, 3) and not np.array_equal(a, b)


def test_a_detector_manifest_is_refused():
    from edge.errors import ModelError

    with pytest.raises(ModelError, match="scaled_box"):
        AntiSpoof([Model(find_manifest("yunet"), threads=1)])
