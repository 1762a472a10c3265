"""CTC forced alignment against brute force, and word spans from it."""
import itertools

import numpy as np
import pytest

from frametool.decoders.ctc import BLANK, forced_align, word_spans


def _collapse(path):
    out, prev = [], None
    for p in path:
        if p != prev and p != BLANK:
            out.append(p)
        prev = p
    return out


def _brute(lp, labels, free_end):
    """Best path score by enumerating every frame labelling."""
    T, V = lp.shape
    best = -np.inf
    for path in itertools.product(range(V), repeat=T):
        got = _collapse(path)
        ok = got == list(labels) or (free_end and got == list(labels[: len(got)]))
        if ok:
            best = max(best, sum(lp[t, p] for t, p in enumerate(path)))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("free_end", [False, True])
def test_viterbi_score_is_the_best_path(seed, free_end):
    rng = np.random.default_rng(seed)
    T, V = 6, 3
    lp = np.log(rng.dirichlet(np.ones(V), size=T))
    labels = [[1, 2], [1, 1], [2, 1, 2], [1]][seed % 4]
    spans, score = forced_align(lp, np.array(labels), free_end=free_end)
    assert score == pytest.approx(_brute(lp, labels, free_end))
    reached = spans[spans[:, 0] >= 0]
    assert np.all(reached[:, 0] <= reached[:, 1])
    assert np.all(np.diff(reached[:, 0]) > 0)


def test_spans_follow_the_evidence_and_a_free_end_stops_at_what_the_audio_holds():
    T, V = 40, 5
    lp = np.full((T, V), np.log(0.01))
    lp[:, BLANK] = np.log(0.9)
    for label, frames in ((1, range(5, 8)), (2, range(12, 13)), (3, range(20, 24))):
        lp[list(frames)] = np.log(0.01)
        lp[list(frames), label] = np.log(0.9)
    spans, _ = forced_align(lp, np.array([1, 2, 3]))
    assert spans.tolist() == [[5, 7], [12, 12], [20, 23]]
    spans, _ = forced_align(lp, np.array([1, 2, 3, 4, 4]), free_end=True)
    assert spans[:3].tolist() == [[5, 7], [12, 12], [20, 23]] and np.all(spans[3:] == -1)


def test_labels_that_cannot_fit_have_no_fixed_end_path():
    lp = np.log(np.full((3, 3), 1 / 3))
    spans, score = forced_align(lp, np.array([1, 1, 1]))  # needs 5 frames (blanks between repeats)
    assert score == -np.inf and np.all(spans == -1)


def test_word_spans_cover_their_characters_and_skip_cut_words():
    char_spans = np.array([[2, 3], [4, 4], [-1, -1], [7, 9], [11, 12], [14, 15], [-1, -1]])
    char_word = np.array([0, 0, -1, 1, 1, -1, 2])
    char_spans[2] = [5, 5]
    got = word_spans(char_spans, char_word, 3)
    assert got.tolist() == [[2, 5], [7, 13], [-1, -1]]


@pytest.mark.parametrize("seed", range(4))
def test_banded_alignment_equals_the_full_one_when_the_band_holds_the_path(seed):
    from frametool.decoders.ctc import banded_forced_align

    rng = np.random.default_rng(seed)
    T, V, L = 120, 6, 25
    labels = rng.integers(1, V, size=L)
    lp = np.log(rng.dirichlet(np.ones(V) * 0.3, size=T))
    spans, score = forced_align(lp, labels)
    states = np.zeros(T, dtype=np.int64)
    for j, (a, b) in enumerate(spans):  # the full path's label states, as a band centre
        states[a:b + 1] = 2 * j + 1
    center = np.maximum.accumulate(states)
    got, got_score = banded_forced_align(lp, labels, center, width=24)
    assert got_score == pytest.approx(score) and np.array_equal(got, spans)
    wide, wide_score = banded_forced_align(lp, labels, np.zeros(T), width=10 * L)
    assert wide_score == pytest.approx(score) and np.array_equal(wide, spans)
    narrow, narrow_score = banded_forced_align(lp, labels, np.zeros(T), width=4)  # cannot reach the end
    assert narrow_score <= score
