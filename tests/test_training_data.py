"""Training manifests: a manifest still being written is read up to its last complete line."""
import json

import pytest
from pathlib import Path

from frametool.training.data import read_manifest


def _row(i):
    return {"audio": f"a{i}.wav", "transcript": "hello world", "duration_s": 1.0,
            "words": [{"label": "hello", "start_s": 0.1, "end_s": 0.4}, {"label": "world", "start_s": 0.5, "end_s": 0.9}]}


def test_growing_manifest_skips_the_unfinished_last_line(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text(json.dumps(_row(0)) + "\n" + json.dumps(_row(1))[:25])
    examples = read_manifest(path, growing=True)
    assert [e.audio.name for e in examples] == ["a0.wav"]
    assert examples[0].spans_s == [(0.1, 0.4), (0.5, 0.9)]
    with pytest.raises(json.JSONDecodeError):
        read_manifest(path)  # a finished manifest must be whole


def test_prefetched_keeps_order_and_loads_each_group_once():
    from frametool.training.data import prefetched

    calls = []

    def load(group):
        calls.append(tuple(group))
        return sum(group)

    groups = [[i, i + 1] for i in range(0, 20, 2)]
    assert list(prefetched(groups, load, depth=3, workers=2)) == [(g, sum(g)) for g in groups]
    assert sorted(calls) == sorted(tuple(g) for g in groups)


def test_speed_perturbation_scales_audio_and_word_times():
    import random

    import numpy as np

    from frametool.training.data import Example, speed_perturbed

    wave = np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32)  # 2 s
    example = Example(Path("a.wav"), [], [(0.5, 1.0), (1.2, 1.9)], 2.0)
    [fast], [fast_wave] = speed_perturbed([example], [wave], (1.25, 1.25), 1.0, random.Random(0))
    assert abs(len(fast_wave) - 32000 / 1.25) <= 2
    assert fast.spans_s == [(0.4, 0.8), (0.96, 1.52)] and fast.duration_s == 1.6
    [same], [same_wave] = speed_perturbed([example], [wave], (0.8, 1.2), 0.0, random.Random(0))
    assert same is example and same_wave is wave
    # slowing down must not push an utterance past the encoder's limit
    [slow], [slow_wave] = speed_perturbed([example], [wave], (0.5, 0.5), 1.0, random.Random(0), longest_s=3.0)
    assert slow.duration_s <= 3.0 + 1e-9 and len(slow_wave) <= 3.0 * 16000 + 2
