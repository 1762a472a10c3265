"""Poisson decoders against brute force on a dense grid; losses against closed forms."""
import math

import numpy as np
import pytest
import torch
from scipy.special import betaln

from frametool.decoders.poisson import (count_from_intensity, expected_count, knots, posterior_median,
                                        posterior_mode, posterior_quantiles)
from frametool.heads.poisson import PointerHead, pointer_nll, poisson_nll

DT = 0.04


def dense_density(l, n, i, fine=4000, t=None):
    """Posterior density of the i-th of n events, on a dense time grid (or at the times t)."""
    T = len(l)
    t = (np.arange(T * fine) + 0.5) / fine * DT if t is None else np.atleast_1d(t)
    lam = np.exp(l)[np.minimum((t / DT).astype(int), T - 1)]
    cum = np.interp(t, np.arange(T + 1) * DT, knots(l, DT))
    total = knots(l, DT)[-1]
    with np.errstate(divide="ignore"):
        logd = ((i - 1) * np.log(cum) + (n - i) * np.log(np.maximum(total - cum, 0)) + np.log(lam)
                - betaln(i, n - i + 1) - n * np.log(total))
    return t, np.exp(logd)


@pytest.mark.parametrize("seed,n", [(0, 1), (1, 3), (2, 5), (3, 8)])
def test_mode_matches_brute_force(seed, n):
    rng = np.random.default_rng(seed)
    l = rng.normal(0, 1.5, size=30)
    modes = posterior_mode(l, n, DT)
    for i in range(1, n + 1):
        t, d = dense_density(l, n, i)
        # the density jumps at frame edges: take the better one-sided limit at the decoded mode
        at_mode = dense_density(l, n, i, t=modes[i - 1] + np.array([-1e-9, 1e-9]))[1].max()
        assert at_mode >= d.max() * (1 - 2e-3), (i, modes[i - 1], t[np.argmax(d)])


@pytest.mark.parametrize("seed,n", [(0, 1), (1, 4), (4, 7)])
def test_quantiles_match_brute_force_cdf(seed, n):
    rng = np.random.default_rng(seed)
    l = rng.normal(0, 1.0, size=25)
    q = np.array([0.05, 0.5, 0.95])
    got = posterior_quantiles(l, n, DT, q)
    for i in range(1, n + 1):
        t, d = dense_density(l, n, i)
        cdf = np.cumsum(d) * (t[1] - t[0])
        assert cdf[-1] == pytest.approx(1.0, abs=2e-3)
        expected = np.interp(q, cdf / cdf[-1], t)
        assert np.allclose(got[i - 1], expected, atol=DT / 200)
    assert np.allclose(posterior_median(l, n, DT), got[:, 1])


def test_quantiles_ordered_and_interval_contains_median():
    l = np.random.default_rng(5).normal(size=40)
    qs = posterior_quantiles(l, 6, DT, [0.05, 0.5, 0.95])
    assert np.all(np.diff(qs, axis=1) >= 0)
    assert np.all(np.diff(qs[:, 1]) >= 0)


def test_count_is_poisson_mode_and_clipped():
    l = np.full(50, math.log(3.7 / (50 * DT)))  # Λ_T = 3.7
    assert expected_count(l, DT) == pytest.approx(3.7)
    assert count_from_intensity(l, DT) == 3
    assert count_from_intensity(l, DT, minimum=5) == 5
    assert count_from_intensity(l, DT, maximum=2) == 2


def test_full_loss_closed_form():
    l = torch.tensor([[0.1, -0.3, 0.7, 0.2]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    events = torch.tensor([[2, 0]])
    expected = -(0.7 + 0.1) + DT * torch.exp(l).sum()
    assert poisson_nll(l, mask, events, DT, "full").item() == pytest.approx(expected.item(), rel=1e-6)
    cond = -(0.7 + 0.1) + 2 * math.log(DT * torch.exp(l).sum().item())
    assert poisson_nll(l, mask, events, DT, "conditional").item() == pytest.approx(cond, rel=1e-6)


def test_conditional_loss_is_cross_entropy_and_masks_padding():
    l = torch.randn(2, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    events = torch.tensor([[3, -1], [1, 2]])
    got = poisson_nll(l, mask, events, DT, "conditional")
    ce0 = -torch.log_softmax(l[0], 0)[3]
    ce1 = -torch.log_softmax(l[1, :4], 0)[[1, 2]].sum()
    # conditional NLL = Σ_j CE_j + n log Δ (the Δ term does not depend on the model)
    expected = ((ce0 + math.log(DT)) + (ce1 + 2 * math.log(DT))) / 2
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_full_loss_gradient_matches_finite_differences():
    l = torch.randn(1, 8, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 8, dtype=torch.bool)
    events = torch.tensor([[1, 5, 5]])
    torch.autograd.gradcheck(lambda x: poisson_nll(x, mask, events, DT, "full"), (l,))
    torch.autograd.gradcheck(lambda x: poisson_nll(x, mask, events, DT, "conditional"), (l,))


def test_full_loss_optimum_expected_count_equals_event_count():
    torch.manual_seed(0)
    l = torch.zeros(1, 40, requires_grad=True)
    mask = torch.ones(1, 40, dtype=torch.bool)
    events = torch.tensor([[3, 10, 11, 30, 31]])
    opt = torch.optim.Adam([l], lr=0.1)
    for _ in range(1500):
        opt.zero_grad()
        poisson_nll(l, mask, events, DT, "full").backward()
        opt.step()
    assert expected_count(l.detach().numpy()[0], DT) == pytest.approx(5.0, rel=1e-2)


def test_pointer_loss_is_per_word_cross_entropy():
    torch.manual_seed(1)
    head = PointerHead(8, 2)
    words, frames = torch.randn(1, 3, 8), torch.randn(1, 10, 8)
    logits = head(words, frames)  # (1, 2, 3, 10)
    assert logits.shape == (1, 2, 3, 10)
    targets = torch.tensor([[[1, 4, 7], [2, 5, 9]]])
    frame_mask = torch.ones(1, 10, dtype=torch.bool)
    word_mask = torch.tensor([[True, True, False]])
    got = pointer_nll(logits, frame_mask, word_mask, targets, DT)
    ce = -torch.log_softmax(logits, -1)
    expected = (ce[0, 0, 0, 1] + ce[0, 0, 1, 4] + ce[0, 1, 0, 2] + ce[0, 1, 1, 5]) / 4 + math.log(DT)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
