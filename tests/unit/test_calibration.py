"""False-accept calibration: Clopper-Pearson bounds, thresholds per target rate, refusals, operating points."""

import math

import numpy as np
import pytest

from edge.calibration import FarCalibration, calibrate, max_false_accepts, upper_bound
from edge.errors import ConfigError, ModelError


def test_upper_bound_matches_known_values():
    # k = 0: 1 - 0.05^(1/n), the "rule of three" (about 3/n)
    assert upper_bound(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000))
    assert upper_bound(0, 1_000_000) == pytest.approx(3.0e-6, rel=0.01)
    # one-sided 95% Clopper-Pearson = Beta(0.95; k+1, n-k): reference values from scipy 1.18 stats.beta.ppf
    assert upper_bound(2, 204) == pytest.approx(0.030538394461942887, rel=1e-9)
    assert upper_bound(171, 2642) == pytest.approx(0.07315086863547768, rel=1e-9)
    assert upper_bound(28, 3910945) == pytest.approx(9.81574800732375e-06, rel=1e-7)
    assert upper_bound(10, 10) == 1.0


def test_max_false_accepts_is_the_largest_count_whose_bound_fits():
    for n, far in ((1000, 0.01), (2_000_000, 1e-5), (50_000, 1e-3)):
        k = max_false_accepts(n, far)
        assert upper_bound(k, n) <= far * (1 + 1e-9)
        assert upper_bound(k + 1, n) > far
    assert max_false_accepts(200, 0.01) == -1  # 200 pairs cannot back 1%: even 0 false accepts bound it at 1.5%


def test_calibrate_sets_thresholds_that_back_each_rate_in_every_condition():
    rng = np.random.default_rng(1)
    imp = {"clean": rng.normal(0.0, 0.1, 200_000).astype(np.float32), "night": rng.normal(0.05, 0.1, 100_000).astype(np.float32)}
    gen = {"clean": rng.normal(0.6, 0.1, 2000).astype(np.float32), "night": rng.normal(0.5, 0.1, 2000).astype(np.float32)}
    cal = calibrate(imp, gen, identities=50, photos=500)
    for p in cal.points:
        for c, s in imp.items():  # the rate holds in each condition, with its upper bound
            k = int(np.count_nonzero(s >= p.threshold))
            assert upper_bound(k, len(s)) <= p.far * (1 + 1e-9), (p, c)
    # night has the heavier impostor tail: it sets the thresholds
    assert {p.condition for p in cal.points} == {"night"}
    assert [p.far for p in cal.points] == sorted((p.far for p in cal.points), reverse=True)
    # the lowest rate stated needs about 3/rate pairs in the smallest condition
    assert cal.lowest_far >= 3 / 100_000 * 0.9
    with pytest.raises(ConfigError, match="cannot be backed"):
        cal.threshold_for(cal.lowest_far / 10)
    assert cal.threshold_for(1e-3) == cal.point_for(1e-3).threshold


def test_too_few_impostor_pairs_are_refused():
    with pytest.raises(ConfigError, match="cannot back even"):
        calibrate({"clean": np.zeros(20, np.float32)}, {"clean": np.ones(5, np.float32)}, identities=3, photos=10)


def test_operating_point_divides_the_rate_by_the_templates_and_says_when_it_cannot():
    rng = np.random.default_rng(2)
    cal = calibrate({"clean": rng.normal(0, 0.1, 500_000).astype(np.float32)}, {"clean": np.ones(10, np.float32)}, identities=20, photos=100)
    one = cal.operating_point("announce", 1e-2, 1)
    many = cal.operating_point("announce", 1e-2, 100)
    assert one.backed and many.backed and many.threshold > one.threshold
    assert many.threshold == cal.threshold_for(1e-4) and many.bound == pytest.approx(100 * 1e-4)
    far_too_many = cal.operating_point("door", 1e-4, 1000)  # 1e-7 per comparison: below what 500k pairs back
    assert not far_too_many.backed and far_too_many.threshold == cal.points[-1].threshold
    assert far_too_many.bound > 1e-4 and "NOT backed" in far_too_many.describe()
    visit = cal.operating_point("announce", 1e-2, 50, visit_factor=2.0)  # 50 templates x a visit's 2x chances
    assert visit.threshold == many.threshold and visit.bound == pytest.approx(many.bound)
    raw = cal.override("door", 0.99, 10)
    assert raw.source == "cosine_threshold" and raw.target is None and raw.bound is not None


def test_round_trip_and_malformed_sections():
    rng = np.random.default_rng(3)
    cal = calibrate({"clean": rng.normal(0, 0.1, 50_000).astype(np.float32)}, {"clean": rng.normal(0.6, 0.1, 100).astype(np.float32)},
                    identities=10, photos=60)
    again = FarCalibration.from_dict(cal.to_dict(), "here")
    assert [(p.far, p.threshold, p.false_accepts, p.pairs) for p in again.points] == [(p.far, p.threshold, p.false_accepts, p.pairs) for p in cal.points]
    assert [p.upper for p in again.points] == pytest.approx([p.upper for p in cal.points], rel=1e-2) and again.pairs == cal.pairs
    bad = cal.to_dict()
    bad["points"] = list(reversed(bad["points"]))
    with pytest.raises(ModelError, match="falling rates"):
        FarCalibration.from_dict(bad, "here")
    with pytest.raises(ModelError, match="malformed"):
        FarCalibration.from_dict({"points": [{"far": 0.1}]}, "here")
    assert not math.isnan(cal.points[0].upper)
