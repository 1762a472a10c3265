"""Window crops: joined utterances cut into windows with words present, absent or cut by an edge."""
import random

import numpy as np

from frametool.text.normalize import tokenize
from frametool.training.crops import ABSENT, IGNORED, PRESENT, SAMPLE_RATE_HZ, crop


def _piece(n_words, seconds=4.0):
    tokens = tokenize(" ".join(f"w{i}" for i in range(n_words)).replace("w", "word"))
    step = seconds / n_words
    spans = [(i * step + 0.05, (i + 1) * step - 0.05) for i in range(n_words)]
    return np.ones(int(seconds * SAMPLE_RATE_HZ), np.float32), tokens, spans


def test_crop_statuses_follow_the_window():
    for seed in range(50):
        sample = crop([_piece(8), _piece(6, 3.0)], random.Random(seed), max_window_s=5.0)
        if sample is None:
            continue
        duration = len(sample.wave) / SAMPLE_RATE_HZ
        assert sample.status[0] == PRESENT  # the window starts at a given word
        assert len(sample.tokens) == len(sample.spans_s) == len(sample.status)
        for (a, b), status in zip(sample.spans_s, sample.status):
            if status == PRESENT:
                assert -1e-9 <= a < b <= duration + 1e-9
            elif status == ABSENT:
                assert a >= duration - 1e-9  # only later words are absent
            else:
                assert status == IGNORED and a < duration < b
        kinds = "".join("PAI"[s] for s in sample.status)
        assert kinds.rstrip("A").rstrip("I").strip("P") == ""  # present run, at most one cut word, then absent
