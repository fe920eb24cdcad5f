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
    """20,000 templates of 5,000 people: one product of the whole template matrix with the probe
    (no loop over people or templates), then the best template per person."""
    rng = np.random.default_rng(0)
    emb = _unit(rng.normal(size=(20000, 128)))
    g = Gallery(tuple(f"p{i % 5000}" for i in range(20000)), emb, "fp")
    products: list[tuple[int, ...]] = []

    class Counted(np.ndarray):
        def __matmul__(self, other):
            products.append(self.shape)
            return np.asarray(self) @ other

        def __getitem__(self, key):  # a loop would index rows: count it as such
            products.append(("row",))
            return np.asarray(self)[key]

    object.__setattr__(g, "_sorted", g._sorted.view(Counted))
    res = g.search(emb[1234], 0.99, top_k=2)
    assert products == [(20000, 128)]
    assert res[0].identity == "p1234" and res[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert res[1].identity != "p1234" and res[1].similarity < 0.5  # one row per person, not per template
