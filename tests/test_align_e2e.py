"""End to end: `frametool align` with the bundled model on examples/ and on a corpus of bad inputs."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
from praatio import textgrid
from typer.testing import CliRunner

from frametool import cli
from frametool.text.normalize import tokenize
from tests.conftest import REPO

runner = CliRunner()
EXAMPLES = REPO / "examples" / "corpus"


def test_align_examples_writes_every_transcript_word(tmp_path):
    out = tmp_path / "aligned"
    result = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    labs = sorted(EXAMPLES.rglob("*.lab"))
    assert labs
    for lab in labs:
        grid_path = out / lab.relative_to(EXAMPLES).with_suffix(".TextGrid")
        grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=True)
        duration = sf.info(str(lab.with_suffix(".wav"))).duration
        words = grid.getTier("words")
        assert [e.label for e in words.entries if e.label] == [t.text for t in tokenize(lab.read_text())]
        assert abs(grid.maxTimestamp - duration) < 1e-3
        starts = [e.start for e in words.entries]
        assert starts == sorted(starts)
        # the bundled model has a phone head: a phones tier under words, every phone inside one word
        assert grid.tierNames == ("words", "phones")
        spoken = [e for e in words.entries if e.label]
        phones = [e for e in grid.getTier("phones").entries if e.label]
        assert phones and all(any(w.start - 1e-6 <= p.start <= p.end <= w.end + 1e-6 for w in spoken) for p in phones)
    # a second run skips everything (resume); --overwrite redoes it
    again = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", str(out)])
    assert again.exit_code == 0 and "skipped %d" % len(labs) in again.output


def test_align_json_lines_on_stdout_and_csv(tmp_path):
    one = sorted(EXAMPLES.rglob("*.wav"))[0]
    result = runner.invoke(cli.app, ["align", str(one), "--out", "-"])
    assert result.exit_code == 0
    row = json.loads(result.stdout.splitlines()[0])
    assert row["task"] == "align" and row["items"]
    item = row["items"][0]
    assert item["start_ci_s"][0] <= item["start_s"] <= item["start_ci_s"][1] + 1e-6
    result = runner.invoke(cli.app, ["align", str(one), "--out", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(open(tmp_path / (one.stem + ".csv"))))
    assert [r["label"] for r in rows if r["tier"] == "words"] == \
        [t.text for t in tokenize(one.with_suffix(".lab").read_text())]
    assert [r["tier"] for r in rows if r["tier"] != "words"] and {r["tier"] for r in rows} == {"words", "phones"}


def make_bad_corpus(root: Path) -> dict[str, str]:
    """A corpus where each file breaks one rule; returns file name -> expected words in the failure."""
    good_wav = sorted(EXAMPLES.rglob("*.wav"))[0]
    audio, rate = sf.read(good_wav)
    text = good_wav.with_suffix(".lab").read_text()
    root.mkdir()
    # stereo 44.1 kHz with an upper-case, punctuated transcript: must simply work
    import soxr

    stereo = np.stack([soxr.resample(audio, rate, 44100)] * 2, axis=1)
    sf.write(root / "stereo.wav", stereo, 44100)
    (root / "stereo.lab").write_text(text.upper().replace(" ", ", ", 1) + "!!\n")
    shutil.copy(good_wav, root / "notranscript.wav")
    shutil.copy(good_wav, root / "empty.wav")
    (root / "empty.lab").write_text("  \n")
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "corrupt.lab").write_text("hello\n")
    sf.write(root / "zero.wav", np.zeros(0), 16000)
    (root / "zero.lab").write_text("hello\n")
    shutil.copy(good_wav, root / "latin1.wav")
    (root / "latin1.lab").write_bytes("caf\xe9 au lait".encode("latin-1"))
    sf.write(root / "crowded.wav", audio[: rate // 2], rate)
    (root / "crowded.lab").write_text(" ".join(["word"] * 200))
    return {"notranscript.wav": "no transcript", "empty.lab": "empty", "corrupt.wav": "cannot be decoded",
            "zero.wav": "0.0 s", "latin1.lab": "not UTF-8", "crowded.lab": "200 words"}


def test_bad_inputs_are_reported_and_the_rest_aligned(tmp_path):
    corpus = tmp_path / "bad"
    expected = make_bad_corpus(corpus)
    out = tmp_path / "out"
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out)])
    assert result.exit_code == 1, result.output
    rows = list(csv.DictReader(open(out / "failures.tsv"), delimiter="\t"))
    by_name = {Path(r["path"]).name: r["message"] for r in rows}
    assert set(by_name) == set(expected)
    for name, words in expected.items():
        assert words in by_name[name], (name, by_name[name])
    grid = textgrid.openTextgrid(str(out / "stereo.TextGrid"), includeEmptyIntervals=False)
    labels = [e.label for e in grid.getTier("words").entries]
    assert labels and labels[0].isupper() and all(not l.endswith((",", "!")) for l in labels)
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_workers_give_the_same_outputs_failures_and_resume(tmp_path):
    """--workers 2: the same TextGrids as one process (up to float rounding), the same failures.tsv, the same
    skipping of finished outputs, and JSON lines on stdout in corpus order."""
    corpus = tmp_path / "mixed"
    shutil.copytree(EXAMPLES, corpus)
    expected = make_bad_corpus(corpus / "bad")
    one, two = tmp_path / "one", tmp_path / "two"
    first = runner.invoke(cli.app, ["align", str(corpus), "--out", str(one)])
    second = runner.invoke(cli.app, ["align", str(corpus), "--out", str(two), "--workers", "2", "--jobs", "2"])
    assert first.exit_code == second.exit_code == 1, second.output
    grids = sorted(p.relative_to(one) for p in one.rglob("*.TextGrid"))
    assert grids and grids == sorted(p.relative_to(two) for p in two.rglob("*.TextGrid"))
    for rel in grids:
        a = textgrid.openTextgrid(str(one / rel), includeEmptyIntervals=True).getTier("words").entries
        b = textgrid.openTextgrid(str(two / rel), includeEmptyIntervals=True).getTier("words").entries
        assert [e.label for e in a] == [e.label for e in b]
        assert np.allclose([(e.start, e.end) for e in a], [(e.start, e.end) for e in b], atol=1e-4)

    def failures(folder):
        return sorted((Path(r["path"]).name, r["stage"], r["message"])
                      for r in csv.DictReader(open(folder / "failures.tsv"), delimiter="\t"))

    assert failures(one) == failures(two) and {f[0] for f in failures(two)} == set(expected)
    again = runner.invoke(cli.app, ["align", str(corpus), "--out", str(two), "--workers", "2"])
    assert "skipped %d" % len(grids) in again.output
    lines = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", "-", "--workers", "2"])
    assert lines.exit_code == 0
    sources = [json.loads(line)["file"] for line in lines.stdout.splitlines() if line.startswith("{")]
    single = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", "-"])
    assert len(sources) == 11 and sources == [json.loads(line)["file"] for line in single.stdout.splitlines() if line.startswith("{")]
