import csv

from typer.testing import CliRunner

from frametool import cli
from tests.conftest import REPO
from tests.test_align_e2e import make_bad_corpus

runner = CliRunner()


def test_validate_clean_corpus_exits_0(tmp_path):
    report = tmp_path / "report.tsv"
    result = runner.invoke(cli.app, ["validate", str(REPO / "examples" / "corpus"), "--report", str(report)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(report), delimiter="\t"))
    assert rows and all(r["problems"] == "" and r["sample_rate_hz"] == "16000" for r in rows)


def test_validate_names_every_problem(tmp_path):
    corpus = tmp_path / "bad"
    make_bad_corpus(corpus)
    report = tmp_path / "report.tsv"
    result = runner.invoke(cli.app, ["validate", str(corpus), "--report", str(report)])
    assert result.exit_code == 1
    rows = {r["audio"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(report), delimiter="\t")}
    assert rows["stereo.wav"]["problems"] == "" and rows["stereo.wav"]["channels"] == "2"
    assert "no transcript" in rows["notranscript.wav"]["problems"]
    assert "empty" in rows["empty.wav"]["problems"]
    assert "cannot be decoded" in rows["corrupt.wav"]["problems"]
    assert "0.0 s" in rows["zero.wav"]["problems"]
    assert "not UTF-8" in rows["latin1.wav"]["problems"]
    assert "words per second" in rows["crowded.wav"]["problems"]


def test_validate_checks_the_models_limits(tmp_path):
    import json

    import numpy as np
    import soundfile as sf

    corpus = tmp_path / "c"
    corpus.mkdir()
    sf.write(corpus / "tiny.wav", np.zeros(320, np.float32), 16000)  # 0.02 s
    (corpus / "tiny.lab").write_text("hi\n")
    sf.write(corpus / "long.wav", np.zeros(16000 * 130, np.float32), 16000)  # 130 s
    (corpus / "long.lab").write_text(" ".join(["word"] * 300) + "\n")
    one_piece = tmp_path / "m1"
    one_piece.mkdir()
    (one_piece / "config.json").write_text(json.dumps({"backbone_config": {"max_words": 256}}))
    windowed = tmp_path / "m2"
    windowed.mkdir()
    (windowed / "config.json").write_text(json.dumps({"backbone_config": {"ctc": True}}))
    for model, expect_long in ((one_piece, True), (windowed, False)):
        report = tmp_path / f"{model.name}.tsv"
        result = runner.invoke(cli.app, ["validate", str(corpus), "--report", str(report), "--model", str(model)])
        assert result.exit_code == 1
        rows = {r["audio"].rsplit("/", 1)[-1]: r["problems"] for r in csv.DictReader(open(report), delimiter="\t")}
        assert "at least 0.05 s" in rows["tiny.wav"]
        assert ("over 120 s" in rows["long.wav"] and "at most 256" in rows["long.wav"]) == expect_long
        assert (rows["long.wav"] == "") == (not expect_long)
