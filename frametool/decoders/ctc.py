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
    # predecessors: stay (0), from the previous state (1), skip a blank (2); ties go to the lowest move
    stay_or_step = np.empty(S)
    from_prev = np.full(S, -np.inf)
    from_skip = np.full(S, -np.inf)
    step = np.empty(S, dtype=bool)
    skip = np.empty(S, dtype=bool)
    for t in range(1, T):
        from_prev[1:] = delta[:-1]
        np.copyto(from_skip[2:], delta[:-2], where=skip_ok[2:])
        np.greater(from_prev, delta, out=step)
        np.maximum(delta, from_prev, out=stay_or_step)
        np.greater(from_skip, stay_or_step, out=skip)
        row = back[t]
        row[:] = step
        row[skip] = 2
        delta = np.maximum(stay_or_step, from_skip) + lp[t]
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
    return _spans_from_states(states, len(labels)), score


def _spans_from_states(states: np.ndarray, n_labels: int) -> np.ndarray:
    """Best state per frame -> (L, 2) [first, last] frame of each label's emission (-1: never emitted)."""
    spans = np.full((n_labels, 2), -1, dtype=np.int64)
    on_label = states % 2 == 1
    if not on_label.any():
        return spans
    frames = np.nonzero(on_label)[0]
    which = states[on_label] // 2
    # the path is monotonic: the first/last frame of each label are where its run starts/ends
    starts = np.r_[True, which[1:] != which[:-1]]
    ends = np.r_[which[1:] != which[:-1], True]
    spans[which[starts], 0] = frames[starts]
    spans[which[ends], 1] = frames[ends]
    return spans


def word_spans(char_spans: np.ndarray, char_word: np.ndarray, n_words: int) -> np.ndarray:
    """(L, 2) character spans and (L,) word index of each character (-1 for none) -> (n_words, 2)
    [first frame, last frame + 1) per word; -1 for a word whose last character the path did not reach
    (labels are never skipped, so a word is either wholly emitted or cut off by a free end)."""
    out = np.full((n_words, 2), -1, dtype=np.int64)
    char_word = np.asarray(char_word)
    mine = np.nonzero((char_word >= 0) & (char_word < n_words))[0]
    if not len(mine):
        return out
    words = char_word[mine]
    first = np.full(n_words, np.iinfo(np.int64).max)
    last = np.full(n_words, -1, dtype=np.int64)
    np.minimum.at(first, words, np.where(char_spans[mine, 0] >= 0, char_spans[mine, 0], np.iinfo(np.int64).max))
    np.maximum.at(last, words, char_spans[mine, 1])
    # the word's last character (its highest label index) decides whether the word was reached
    final = np.full(n_words, -1, dtype=np.int64)
    np.maximum.at(final, words, mine)
    has = final >= 0
    reached = np.zeros(n_words, dtype=bool)
    reached[has] = char_spans[final[has], 0] >= 0
    out[reached, 0] = first[reached]
    out[reached, 1] = last[reached] + 1
    return out


def banded_forced_align(log_probs: np.ndarray, labels: np.ndarray, center: np.ndarray,
                        width: int) -> tuple[np.ndarray, float]:
    """Fixed-end forced alignment searched only in a band of `width` extended-label states around
    `center` (T,) (an extended-state index per frame, e.g. from a first pass): memory T x width instead of
    T x (2L + 1), so a whole recording is aligned in one piece. Same outputs as `forced_align`; -inf when
    no path lies inside the band."""
    labels = np.asarray(labels, dtype=np.int64)
    ext = np.full(2 * len(labels) + 1, BLANK, dtype=np.int64)
    ext[1::2] = labels
    T, S = log_probs.shape[0], len(ext)
    spans = np.full((len(labels), 2), -1, dtype=np.int64)
    if T == 0:
        return spans, (0.0 if not len(labels) else -np.inf)
    B = min(S, max(3, int(width)))
    off = np.clip(np.asarray(center, dtype=np.int64) - B // 2, 0, S - B)
    off = np.maximum.accumulate(off)
    # the band starts at state 0 and ends on the last state, and moves at most 2 states a frame (a path
    # cannot move faster)
    off[0], off[-1] = 0, S - B
    for t in range(1, T):
        off[t] = min(off[t], off[t - 1] + 2)
    for t in range(T - 2, -1, -1):
        off[t] = max(off[t], off[t + 1] - 2)
    if off[0] != 0 or off[-1] != S - B:  # the band cannot get from the first state to the last
        return spans, -np.inf
    skip_ok = np.zeros(S, dtype=bool)
    skip_ok[2:] = (ext[2:] != BLANK) & (ext[2:] != ext[:-2])
    lp = np.asarray(log_probs, dtype=np.float64)
    back = np.zeros((T, B), dtype=np.int8)
    delta = np.full(B, -np.inf)
    delta[0] = lp[0, ext[0]]
    if B > 1:
        delta[1] = lp[0, ext[1]]
    cand = np.empty((3, B))
    for t in range(1, T):
        shift = int(off[t] - off[t - 1])
        pad = np.concatenate(([-np.inf, -np.inf], delta, np.full(shift, -np.inf)))
        cand[0] = pad[shift + 2: shift + 2 + B]
        cand[1] = pad[shift + 1: shift + 1 + B]
        cand[2] = np.where(skip_ok[off[t]: off[t] + B], pad[shift: shift + B], -np.inf)
        choice = np.argmax(cand, axis=0)
        back[t] = choice
        delta = cand[choice, np.arange(B)] + lp[t, ext[off[t]: off[t] + B]]
    last = S - 1 if S == 1 or delta[B - 1] >= delta[B - 2] else S - 2
    score = float(delta[last - off[-1]])
    if not np.isfinite(score):
        return spans, score
    states = np.empty(T, dtype=np.int64)
    s = last
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s - off[t]])
    return _spans_from_states(states, len(labels)), score
