import numpy as np
import pytest

from edge.errors import EdgeFaceError
from edge.evaluate import read_pairs, roc


def test_roc_and_perfect_separation():
    sims = np.array([0.9, 0.8, 0.3, 0.2, 0.1], np.float32)
    labels = np.array([1, 1, 0, 0, 0], bool)
    far, tar, thr = roc(sims, labels)
    assert far[0] == 0 and tar[0] == 0 and far[-1] == 1 and tar[-1] == 1
    assert tar[2] == 1.0 and far[2] == 0.0  # threshold 0.8 accepts both genuine pairs, no impostor


def test_roc_with_an_impostor_above_a_genuine_pair():
    sims = np.array([0.9, 0.7, 0.5], np.float32)
    labels = np.array([1, 0, 1], bool)
    far, tar, _ = roc(sims, labels)
    assert list(zip(far.tolist(), tar.tolist(), strict=True)) == [(0, 0), (0, 0.5), (1, 0.5), (1, 1)]


def test_pairs_file_must_have_the_columns(tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(EdgeFaceError, match="file_a, file_b, same"):
        read_pairs(p)
    with pytest.raises(EdgeFaceError, match="cannot read"):
        read_pairs(tmp_path / "missing.csv")
