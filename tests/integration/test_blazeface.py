"""The second detector, MediaPipe BlazeFace short-range, on the real int8 model and real photos."""

import numpy as np
import pytest

from edge.api import Recognizer
from edge.detect import BlazeFace, YuNet
from edge.manifest import MODELS_DIR, load_manifest
from edge.tensors import Model

OBAMA, OBAMA2, BIDEN = "face_recognition__obama.jpg", "face_recognition__obama2.jpg", "face_recognition__biden.jpg"


@pytest.fixture(scope="module")
def blaze():
    return Recognizer(threads=2, detector="blazeface")


@pytest.fixture(scope="module")
def blaze_detector():
    return BlazeFace(Model(load_manifest(MODELS_DIR / "blazeface"), threads=2))


def test_finds_the_face_where_yunet_does(data, blaze_detector):
    yunet = YuNet(Model(load_manifest(MODELS_DIR / "yunet"), threads=2))
    from edge.image import load_image

    for name in (OBAMA, OBAMA2, BIDEN, "insightface__1423.jpg"):
        img = load_image(data / name)
        b, *rest = blaze_detector.detect(img)  # best first
        # int8 noise can lift a borderline candidate (float score just under 0.5) over the threshold
        assert all(r.score < 0.6 for r in rest), name
        y = max(yunet.detect(img), key=lambda d: d.box.area)
        iod = float(np.linalg.norm(y.landmarks[0] - y.landmarks[1]))
        # Two different models: eyes and nose within 0.3 of the eye distance of each other (the
        # float BlazeFace itself is 0.07-0.26 away from YuNet on these; its int8 0.008-0.03 from float).
        assert np.linalg.norm(b.landmarks[:3] - y.landmarks[:3], axis=1).max() < 0.3 * iod, name
        assert 0.5 < b.score <= 1.0


def test_no_face_gives_nothing(data, blaze_detector):
    from edge.image import load_image

    assert blaze_detector.detect(load_image(data / "insightface__no_face.png")) == []


def test_verify_with_blazeface_alignment(blaze, data):
    assert blaze.verify(data / OBAMA, data / OBAMA2).verified
    assert not blaze.verify(data / OBAMA, data / BIDEN).verified
    a = blaze.represent(data / OBAMA)[0].embedding
    b = blaze.represent(data / BIDEN)[0].embedding
    assert float(a @ b) < 0.5 and not np.allclose(a, b)


def test_replicas_round_differently_and_the_host_averages_them(data, blaze_detector):
    """The int8 model holds two re-parametrised copies of the network (tools/replicas.py): same
    float function, different int8 rounding. Their outputs are stacked on axis 1, close but not
    identical, and decoding uses their mean."""
    from edge.detect import letterbox
    from edge.image import load_image

    canvas, _ = letterbox(load_image(data / OBAMA), 128, 128, blaze_detector.pad)
    out = blaze_detector.raw(canvas)
    n = blaze_detector.anchors.shape[0]
    reg = out["regressors"].reshape(-1, n, 16)
    assert reg.shape[0] == load_manifest(MODELS_DIR / "blazeface").raw["graph_rewrites"]["replicas"]["count"] == 2
    face = np.argmax(out["classificators"].reshape(-1, n).mean(0))
    diff = np.abs(reg[0, face] - reg[1, face])
    assert diff.max() > 0 and diff.max() < 0.5  # bounded units (0..6): the copies agree to rounding noise
    both = blaze_detector.decode(out, 0.5)
    mean = blaze_detector.decode({k: v.reshape(-1, n, v.shape[-1]).mean(0, keepdims=True) for k, v in out.items()}, 0.5)
    single = blaze_detector.decode({k: v.reshape(-1, n, v.shape[-1])[:1] for k, v in out.items()}, 0.5)
    assert all(np.allclose(x, y) for x, y in zip(both, mean, strict=True))
    assert not np.allclose(both[1], single[1])  # the second copy changes the answer


def test_cli_detector_option(data, capsys):
    import json

    from edge.apps.cli import main

    assert main(["--detector", "blazeface", "faces", str(data / OBAMA), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)[0]
    assert main(["faces", str(data / OBAMA), "--json"]) == 0
    y = json.loads(capsys.readouterr().out)[0]
    assert b["box"] != y["box"]  # another model answered
    assert np.abs(np.asarray(b["landmarks"])[:2] - np.asarray(y["landmarks"])[:2]).max() < 15
