import numpy as np

from tools.compare import max_rel_diff


def test_relative_to_the_reference_but_absolute_near_zero():
    assert max_rel_diff([10.0, 20.0], [10.0, 19.0]) == 1.0 / 19.0
    assert max_rel_diff(np.array([0.01]), np.array([0.0])) == 0.01  # small outputs: absolute
    assert max_rel_diff(np.zeros((1, 4)), np.zeros(4)) == 0.0  # shapes reconciled to the reference's


def test_equalisation_scale_evens_both_ranges_and_leaves_dead_channels():
    from tools.compare import equalisation_scale

    ra, rb = np.array([4.0, 1.0, 0.0]), np.array([1.0, 4.0, 2.0])
    s = equalisation_scale(ra, rb)
    assert np.allclose(s, [2.0, 0.5, 1.0])
    assert np.allclose((ra / s)[:2], (rb * s)[:2])  # both layers' ranges become equal
