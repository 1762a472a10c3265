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


def test_shared_rows_compare_systems_on_the_same_files_and_leave_out_self_made_references():
    from pathlib import Path

    import numpy as np

    from frametool.bench.accuracy import AccuracyReport, SystemResult

    a, b, c = Path("a.wav"), Path("b.wav"), Path("c.wav")
    ours, peer = SystemResult(), SystemResult()
    ours.scored = {a: (np.array([0.01]), np.array([0.01])), b: (np.array([0.03]), np.array([0.03])),
                   c: (np.array([0.2]), np.array([0.2]))}
    peer.scored = {a: (np.array([0.0]), np.array([0.0])), b: (np.array([0.05]), np.array([0.05]))}  # c failed
    ours.onsets = {"s": [v[0] for v in ours.scored.values()]}
    ours.offsets = {"s": [v[1] for v in ours.scored.values()]}
    peer.onsets = {"s": [v[0] for v in peer.scored.values()]}
    peer.offsets = {"s": [v[1] for v in peer.scored.values()]}
    ours.aligned, peer.aligned = {"s": 3}, {"s": 2}
    report = AccuracyReport({"frametool": ours, "peer": peer}, {"s": 3}, 10.0,
                            {a: "peer", b: "human", c: "human"})
    rows = {(r["system"], r["set"]): r for r in report.rows()}
    assert rows[("frametool", "overall")]["onset"]["count"] == 3
    assert rows[("frametool", "shared")]["onset"]["count"] == 2  # c left out: the peer did not align it
    assert abs(rows[("frametool", "shared")]["onset"]["mae_ms"] - 20.0) < 1e-6
    assert rows[("peer", "shared-ind")]["onset"]["count"] == 1  # a left out: the peer made its reference
    assert abs(rows[("peer", "shared-ind")]["onset"]["mae_ms"] - 50.0) < 1e-6
    assert abs(rows[("frametool", "shared-ind")]["onset"]["mae_ms"] - 30.0) < 1e-6
    assert [r["system"] for r in report.rows()][:4] == ["frametool"] * 4  # each system's rows together
    assert "shared-ind" in report.table()
    single = AccuracyReport({"frametool": ours}, {"s": 3}, 10.0)
    assert all(r["set"] in ("s", "overall") for r in single.rows())
