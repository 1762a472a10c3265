"""CTC forced alignment: the single best path of a character sequence through per-frame log-probabilities.

Labels are interleaved with blanks (blank, c1, blank, c2, ..., cL, blank); a path stays on a state, moves
to the next one, or skips a blank between two different characters. With `free_end` the path may stop at
any state, so a stretch of audio can be matched to a prefix of a longer text (the words it really holds).
"""
from __future__ import annotations

import numpy as np

BLANK = 0


def _viterbi(lp: np.ndarray, ext: np.ndarray, free_end: bool) -> tuple[np.ndarray, float]:
    """lp (T, S) log-probabilities of the extended labels -> best state per frame (T,) and its score."""
    T, S = lp.shape
    skip_ok = np.zeros(S, dtype=bool)
    skip_ok[2:] = (ext[2:] != BLANK) & (ext[2:] != ext[:-2])
    back = np.zeros((T, S), dtype=np.int8)
    delta = np.full(S, -np.inf)
    delta[0] = lp[0, 0]
    if S > 1:
        delta[1] = lp[0, 1]
    candidates = np.full((3, S), -np.inf)
    for t in range(1, T):
        candidates[0] = delta
        candidates[1, 1:] = delta[:-1]
        candidates[2, 2:] = np.where(skip_ok[2:], delta[:-2], -np.inf)
        choice = np.argmax(candidates, axis=0)
        back[t] = choice
        delta = candidates[choice, np.arange(S)] + lp[t]
    if free_end:
        end = int(np.argmax(delta))
    else:
        end = S - 1 if S == 1 or delta[S - 1] >= delta[S - 2] else S - 2
    score = float(delta[end])
    states = np.empty(T, dtype=np.int64)
    s = end
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])
    return states, score


def forced_align(log_probs: np.ndarray, labels: np.ndarray, free_end: bool = False) -> tuple[np.ndarray, float]:
    """(T, V) log-probabilities, (L,) label ids (no blanks) -> (L, 2) [first, last] frame of each label's
    emission (-1 where a free-ending path never reached it) and the path's log-probability (-inf when
    the labels cannot fit in T frames and the end is fixed)."""
    labels = np.asarray(labels, dtype=np.int64)
    ext = np.full(2 * len(labels) + 1, BLANK, dtype=np.int64)
    ext[1::2] = labels
    T = log_probs.shape[0]
    spans = np.full((len(labels), 2), -1, dtype=np.int64)
    if T == 0:
        return spans, (0.0 if not len(labels) else -np.inf)
    states, score = _viterbi(np.asarray(log_probs, dtype=np.float64)[:, ext], ext, free_end)
    if not np.isfinite(score):
        return spans, score
    on_label = states % 2 == 1
    if not on_label.any():
        return spans, score
    frames = np.nonzero(on_label)[0]
    which = states[on_label] // 2
    first = np.full(len(labels), -1, dtype=np.int64)
    last = np.full(len(labels), -1, dtype=np.int64)
    # the path is monotonic: the first/last frame of each label are where its run starts/ends
    order = np.r_[True, which[1:] != which[:-1]]
    first[which[order]] = frames[order]
    ends = np.r_[which[1:] != which[:-1], True]
    last[which[ends]] = frames[ends]
    spans[:, 0], spans[:, 1] = first, last
    return spans, score


def word_spans(char_spans: np.ndarray, char_word: np.ndarray, n_words: int) -> np.ndarray:
    """(L, 2) character spans and (L,) word index of each character -> (n_words, 2) [first frame, last
    frame + 1) per word; -1 for a word whose last character the path did not reach (labels are never
    skipped, so a word is either wholly emitted or cut off by a free end)."""
    out = np.full((n_words, 2), -1, dtype=np.int64)
    for w in range(n_words):
        mine = char_spans[char_word == w]
        if len(mine) and mine[-1, 0] >= 0:
            out[w] = (mine[:, 0].min(), mine[:, 1].max() + 1)
    return out
