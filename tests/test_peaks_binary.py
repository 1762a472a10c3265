import numpy as np
import pytest
import torch

from frametool.decoders.peaks import hysteresis, local_maxima, top_k_peaks
from frametool.heads.binary import weighted_bce


def test_top_k_takes_peaks_not_adjacent_frames_of_one_bump():
    p = np.array([0.1, 0.8, 0.9, 0.85, 0.2, 0.1, 0.6, 0.3, 0.7, 0.1])
    # the three highest frames are 2, 3, 1 (one bump); the three highest peaks are 2, 8, 6
    assert top_k_peaks(p, 3).tolist() == [2, 6, 8]
    assert top_k_peaks(p, 2).tolist() == [2, 8]


def test_plateau_counts_once_and_edges_count():
    p = np.array([0.9, 0.1, 0.5, 0.5, 0.5, 0.2, 0.7])
    assert local_maxima(p).tolist() == [0, 2, 6]


def test_min_distance_and_more_k_than_peaks():
    p = np.array([0.0, 1.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.8, 0.0])
    assert top_k_peaks(p, 3, min_distance=3).tolist() == [1, 7]
    assert top_k_peaks(np.zeros(5), 2).tolist() == []


def test_hysteresis_segments():
    p = np.array([0.1, 0.4, 0.7, 0.5, 0.45, 0.2, 0.9, 0.3, 0.1, 0.8])
    assert hysteresis(p, high=0.6, low=0.4) == [(1, 5), (6, 7), (9, 10)]
    assert hysteresis(p, high=0.6, low=0.4, min_frames=2) == [(1, 5)]
    with pytest.raises(ValueError):
        hysteresis(p, high=0.3, low=0.5)


def test_weighted_bce_reweights_positives():
    logits = torch.tensor([[[0.3], [-1.0], [2.0], [0.0]]])
    targets = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    w = 3.0  # 3 negatives / 1 positive
    sp = torch.nn.functional.softplus
    expected = (w * sp(-logits[0, 0, 0]) + sp(logits[0, 1, 0]) + sp(logits[0, 2, 0]) + sp(logits[0, 3, 0])) / 4
    assert weighted_bce(logits, targets, mask).item() == pytest.approx(expected.item(), rel=1e-6)
    # masked frames are ignored entirely
    mask2 = torch.tensor([[True, True, False, False]])
    expected2 = (1.0 * sp(-logits[0, 0, 0]) + sp(logits[0, 1, 0])) / 2
    assert weighted_bce(logits, targets, mask2).item() == pytest.approx(expected2.item(), rel=1e-6)
