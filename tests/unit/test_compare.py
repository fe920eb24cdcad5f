import numpy as np

from tools.compare import max_rel_diff


def test_relative_to_the_reference_but_absolute_near_zero():
    assert max_rel_diff([10.0, 20.0], [10.0, 19.0]) == 1.0 / 19.0
    assert max_rel_diff(np.array([0.01]), np.array([0.0])) == 0.01  # small outputs: absolute
    assert max_rel_diff(np.zeros((1, 4)), np.zeros(4)) == 0.0  # shapes reconciled to the reference's
