import numpy as np
import pytest

from edge.errors import ModelError
from edge.match import Gallery


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_best_template_per_identity_sorted():
    g = Gallery(("a", "b", "a", "c"), _unit([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0], [0, 0, 1]]), "fp")
    res = g.search(_unit([0.5, 1.0, 0]), threshold=0.9, top_k=3)
    assert [m.identity for m in res] == ["a", "b", "c"]
    assert res[0].similarity == pytest.approx(float(_unit([0.6, 0.8, 0]) @ _unit([0.5, 1.0, 0])))
    assert [m.verified for m in res] == [True, False, False]


def test_fingerprint_and_dimension_checks():
    g = Gallery(("a",), _unit([[1, 0]]), "fp1")
    with pytest.raises(ModelError, match="different models"):
        g.search(_unit([1, 0]), 0.5, fingerprint="fp2")
    with pytest.raises(ModelError, match="dimensions"):
        g.search(_unit([1, 0, 0]), 0.5)
    assert Gallery((), np.zeros((0, 2), np.float32), "fp").search(_unit([1, 0]), 0.5) == []


def test_large_gallery_is_one_matrix_product():
    rng = np.random.default_rng(0)
    emb = _unit(rng.normal(size=(20000, 128)))
    g = Gallery(tuple(f"p{i % 5000}" for i in range(20000)), emb, "fp")
    res = g.search(emb[1234], 0.99, top_k=2)
    assert res[0].identity == "p1234" and res[0].similarity == pytest.approx(1.0, abs=1e-5)
