"""Training manifests: a manifest still being written is read up to its last complete line."""
import json

import pytest

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
