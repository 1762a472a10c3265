import numpy as np
import pytest

from frametool.bench.metrics import aas_s, boundary_stats, word_errors


def test_word_errors_match_in_order_and_skip_first_onset():
    pred = [(0.10, 0.30), (0.32, 0.50), (0.60, 0.90)]
    ref = [(0.00, 0.31), (0.31, 0.55), (0.61, 0.88)]
    on, off = word_errors(pred, ref)
    assert np.allclose(on, [0.10, 0.01, -0.01]) and np.allclose(off, [-0.01, -0.05, 0.02])
    on, _ = word_errors(pred, ref, score_first_onset=False)
    assert np.allclose(on, [0.01, -0.01])
    with pytest.raises(ValueError):
        word_errors(pred[:2], ref)


def test_boundary_stats_exact_values():
    stats = boundary_stats(np.array([0.005, -0.02, 0.03, 0.2]))
    assert stats.count == 4
    assert stats.mae_s == pytest.approx(0.06375)
    assert stats.within[0.010] == 0.25
    assert stats.within[0.020] == 0.5  # an error equal to the threshold counts as within
    assert stats.within[0.050] == 0.75
    assert stats.within[0.100] == 0.75
    d = stats.as_dict()
    assert d["mae_ms"] == 63.75 and d["within_20ms"] == 50.0
    assert aas_s(stats, boundary_stats(np.array([0.01, 0.03]))) == pytest.approx((0.06375 + 0.02) / 2)


def test_empty_stats():
    stats = boundary_stats(np.zeros(0))
    assert stats.count == 0 and np.isnan(stats.mae_s)
