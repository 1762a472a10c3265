"""Implausible word times are flagged, never written as normal."""
import numpy as np

from frametool.decoders.monotonic import WordTimes
from frametool.tasks.align import flags_for, piled_up, to_annotation
from frametool.text.normalize import tokenize


def test_piled_up_marks_runs_of_crammed_onsets_only():
    starts = np.array([0.1, 0.5, 0.52, 0.54, 0.9, 1.3, 1.35])
    assert piled_up(starts).tolist() == [False, True, True, True, False, False, False]
    assert not piled_up(np.array([0.0, 0.1])).any()


def test_flags_for_each_kind():
    assert flags_for(0.0, 3.5, 0.9) == ("long",)
    assert flags_for(1.0, 1.0, 0.9) == ("zero_length",)
    assert flags_for(1.0, 1.2, 0.01) == ("low_confidence",)
    assert flags_for(1.0, 1.2, 0.9) == ()


def test_annotation_carries_the_flags():
    tokens = tokenize("a b c d")
    starts = np.array([0.1, 0.11, 0.12, 0.5])
    ends = np.array([0.11, 0.12, 0.5, 4.2])
    times = WordTimes(starts, ends, np.stack([starts, starts], 1), np.stack([ends, ends], 1), np.full(4, 0.9))
    items = to_annotation("f.wav", 5.0, "m", tokens, times).tiers[0].items
    assert [it.flags for it in items] == [("piled_up",), ("piled_up",), ("piled_up",), ("long",)]
