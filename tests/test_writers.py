import csv
import io
import json

from praatio import textgrid

from frametool.annotation import Annotation, Item, Tier
from frametool.writers import WRITERS, write_atomic
from frametool.writers.tabular import render_csv, render_json, render_rttm


def sample():
    items = (Item("Hello", 0.31, 0.62, (0.3, 0.33), (0.6, 0.64), 0.91),
             Item("world", 0.62, 1.1, (0.61, 0.63), (1.0, 1.2), 0.42, ("low_confidence",)))
    return Annotation("a.wav", 2.5, "tiny-align", "align", (Tier("words", items),))


def test_textgrid_round_trip_with_silences(tmp_path):
    path = tmp_path / "a.TextGrid"
    write_atomic(path, WRITERS["textgrid"][1](sample(), confidence_tier=True))
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    words = grid.getTier("words")
    assert grid.maxTimestamp == 2.5
    assert [(e.start, e.end, e.label) for e in words.entries] == [
        (0.0, 0.31, ""), (0.31, 0.62, "Hello"), (0.62, 1.1, "world"), (1.1, 2.5, "")]
    assert [e.label for e in grid.getTier("words - confidence").entries if e.label] == ["0.910", "0.420"]


def test_json_and_csv_columns():
    data = json.loads(render_json(sample()))
    assert data["duration_s"] == 2.5 and data["task"] == "align"
    assert data["items"][1] == {"tier": "words", "label": "world", "start_s": 0.62, "end_s": 1.1,
                                "start_ci_s": [0.61, 0.63], "end_ci_s": [1.0, 1.2], "confidence": 0.42,
                                "flags": ["low_confidence"]}
    rows = list(csv.DictReader(io.StringIO(render_csv(sample()))))
    assert rows[0]["label"] == "Hello" and float(rows[0]["start_ci_low_s"]) == 0.3
    assert rows[1]["flags"] == "low_confidence"


def test_rttm_lines():
    ann = Annotation("c.wav", 9.0, "m", "diarize", (Tier("speakers", (
        Item("spk2", 4.0, 5.5), Item("spk1", 0.5, 2.0))),))
    assert render_rttm(ann, "c").splitlines() == [
        "SPEAKER c 1 0.500 1.500 <NA> <NA> spk1 <NA> <NA>",
        "SPEAKER c 1 4.000 1.500 <NA> <NA> spk2 <NA> <NA>"]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "out" / "x.json"
    write_atomic(path, "first")
    write_atomic(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]
