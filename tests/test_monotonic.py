import itertools

import numpy as np
import pytest

from frametool.decoders.monotonic import decode_words, monotonic_path
from frametool.framegrid import FrameGrid


@pytest.mark.parametrize("seed", range(5))
def test_path_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(4, 7))
    got = monotonic_path(scores)
    best = max((c for c in itertools.product(range(7), repeat=4) if list(c) == sorted(c)),
               key=lambda c: sum(scores[i, c[i]] for i in range(4)))
    assert np.isclose(sum(scores[i, got[i]] for i in range(4)), sum(scores[i, best[i]] for i in range(4)))
    assert np.all(np.diff(got) >= 0)


def peaked(T, frames, height=8.0):
    out = np.zeros((len(frames), T))
    for i, f in enumerate(frames):
        out[i, f] = height
    return out


def test_decode_words_handmade_emissions():
    grid = FrameGrid(0.02, 60)
    onset, offset = peaked(60, [5, 20, 40]), peaked(60, [18, 35, 50])
    times = decode_words(onset, offset, grid, "mode")
    assert np.allclose(times.start_s, (np.array([5, 20, 40]) + 0.5) * 0.02)
    assert np.allclose(times.end_s, (np.array([18, 35, 50]) + 0.5) * 0.02)
    median = decode_words(onset, offset, grid, "median")
    assert np.allclose(median.start_s, times.start_s, atol=0.003)
    assert np.all(median.start_ci_s[:, 0] <= median.start_s) and np.all(median.start_s <= median.start_ci_s[:, 1])
    assert np.all(median.confidence > 0.9)


def test_monotonic_decoding_resolves_a_swapped_peak():
    # word 1's onset has a stronger peak BEFORE word 0's onset; the joint decoder keeps order
    grid = FrameGrid(0.02, 50)
    onset = peaked(50, [10, 30])
    onset[1, 5] = 9.0
    offset = peaked(50, [25, 45])
    times = decode_words(onset, offset, grid, "mode")
    assert np.all(np.diff(np.ravel(np.column_stack([times.start_s, times.end_s]))) >= 0)
    assert times.start_s[1] == pytest.approx(30.5 * 0.02)


def test_median_splits_mass_between_two_frames():
    grid = FrameGrid(0.02, 20)
    onset = np.full((1, 20), -50.0)
    onset[0, 4] = onset[0, 5] = 0.0
    offset = peaked(20, [15])
    times = decode_words(onset, offset, grid, "median")
    assert times.start_s[0] == pytest.approx(5 * 0.02, abs=1e-6)  # boundary between the two frames


def test_sub_frame_gaps_close_but_real_pauses_stay():
    grid = FrameGrid(0.02, 60)
    onset, offset = peaked(60, [5, 20, 40]), peaked(60, [19, 30, 50])
    offset[0, 20] = 8.0  # word 0 ends at the 19/20 frame edge (0.40 s), word 1 starts mid-frame 20 (0.41 s)
    times = decode_words(onset, offset, grid, "median")
    assert times.end_s[0] == times.start_s[1]  # gap < one frame -> one shared boundary
    assert times.start_s[2] - times.end_s[1] > 0.15  # a real pause is kept


def test_adjacent_words_share_the_boundary_of_the_product_of_their_posteriors():
    T = 40
    grid = FrameGrid(0.02, T)
    onset, offset = np.full((2, T), -30.0), np.full((2, T), -30.0)
    onset[0, 2] = onset[1, 11] = 0.0  # word 1 starts in frame 11
    offset[1, 30] = 0.0
    offset[0, 9:12] = 0.0  # word 0 ends somewhere in frames 9-11: alone its median is frame 10.5
    times = decode_words(onset, offset, grid)
    # the product of both posteriors is concentrated in frame 11: the shared boundary is its median 11.5
    assert times.end_s[0] == pytest.approx(times.start_s[1])
    assert times.start_s[1] == pytest.approx(11.5 * 0.02, abs=1e-3)
    untied = decode_words(onset, offset, grid, tie_frames=0.0)
    assert untied.end_s[0] == pytest.approx(10.5 * 0.02, abs=1e-3)
    assert untied.start_s[1] == pytest.approx(11.5 * 0.02, abs=1e-3)


def test_words_with_a_pause_between_them_are_not_tied():
    grid = FrameGrid(0.02, 60)
    onset, offset = peaked(60, [5, 30]), peaked(60, [20, 50])
    times = decode_words(onset, offset, grid)
    assert times.end_s[0] == pytest.approx(20.5 * 0.02, abs=2e-3)
    assert times.start_s[1] == pytest.approx(30.5 * 0.02, abs=2e-3)


def test_a_model_config_carries_its_decoding_settings():
    from types import SimpleNamespace

    from frametool.tasks.long import LongConfig, long_config_for

    model = SimpleNamespace(config=SimpleNamespace(decoding={"prior_shift_on_s": 0.0, "ci_pad_s": 0.005}))
    assert long_config_for(model) == LongConfig(prior_shift_on_s=0.0)
    assert long_config_for(SimpleNamespace(config=SimpleNamespace(decoding={}))) == LongConfig()


def test_a_model_s_ci_pad_widens_its_intervals_by_that_much():
    import torch

    from frametool.model import FrameModel, ModelConfig
    from frametool.tasks.align import AlignRequest, align_batch
    from frametool.text.normalize import tokenize
    from tests.conftest import tone_speech

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config={"d_model": 32, "n_heads": 2, "enc_layers": 1,
                                                    "dec_layers": 1})).eval()
    request = [AlignRequest(tone_speech(1.0), tokenize("one two three"))]
    plain = align_batch(model, request)[0]
    model.config.decoding = {"ci_pad_s": 0.05}
    padded = align_batch(model, request)[0]
    np.testing.assert_array_equal(plain.start_s, padded.start_s)
    np.testing.assert_allclose(padded.start_ci_s - plain.start_ci_s, np.tile([-0.05, 0.05], (3, 1)))
    np.testing.assert_allclose(padded.end_ci_s - plain.end_ci_s, np.tile([-0.05, 0.05], (3, 1)))
