"""Edge cases of the corpus runner and writers found in review."""
import json
import shutil

import numpy as np
import soundfile as sf
from praatio import textgrid
from typer.testing import CliRunner

from frametool import cli
from frametool.annotation import Annotation, Item, Tier
from frametool.writers.textgrid import render
from tests.conftest import REPO

runner = CliRunner()
EXAMPLE = sorted((REPO / "examples" / "corpus").rglob("*.wav"))[0]


def test_paths_on_stdin_mirror_their_common_folder(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(EXAMPLE, tmp_path / "in" / sub / "utt.wav")
        shutil.copy(EXAMPLE.with_suffix(".lab"), tmp_path / "in" / sub / "utt.lab")
    paths = "\n".join(str(tmp_path / "in" / sub / "utt.wav") for sub in ("a", "b")) + "\n"
    result = runner.invoke(cli.app, ["align", "-", "--out", str(tmp_path / "out")], input=paths)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a" / "utt.TextGrid").exists() and (tmp_path / "out" / "b" / "utt.TextGrid").exists()


def test_two_files_for_one_output_are_a_usage_error(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "utt.wav")
    sf.write(tmp_path / "utt.flac", sf.read(EXAMPLE)[0], 16000)
    (tmp_path / "utt.lab").write_text("hello")
    result = runner.invoke(cli.app, ["align", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "same output" in result.output


def test_words_squeezed_at_the_end_still_make_a_valid_textgrid(tmp_path):
    items = (Item("a", 0.2, 0.9), Item("b", 1.01, 1.01), Item("c", 1.01, 1.01))
    text = render(Annotation("x.wav", 1.01, "m", "align", (Tier("words", items),)))
    path = tmp_path / "x.TextGrid"
    path.write_text(text)
    entries = textgrid.openTextgrid(str(path), includeEmptyIntervals=False).getTier("words").entries
    assert [e.label for e in entries] == ["a", "b", "c"]
    assert entries[-1].end <= 1.01 and all(e.end > e.start for e in entries)


def test_all_files_failing_exits_2_and_stale_failures_are_removed(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(EXAMPLE, corpus / "utt.wav")
    out = tmp_path / "out"
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out)])
    assert result.exit_code == 2 and (out / "failures.tsv").exists()  # no transcript: nothing could run
    shutil.copy(EXAMPLE.with_suffix(".lab"), corpus / "utt.lab")
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out)])
    assert result.exit_code == 0 and not (out / "failures.tsv").exists()


def test_very_short_audio_and_superscripts_and_bad_model_folder(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    sf.write(corpus / "short.wav", np.zeros(100), 16000)
    (corpus / "short.lab").write_text("hi")
    shutil.copy(EXAMPLE, corpus / "sup.wav")
    (corpus / "sup.lab").write_text(EXAMPLE.with_suffix(".lab").read_text().strip() + " 10²")
    out = tmp_path / "out"
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out), "--format", "json"])
    assert result.exit_code == 1
    assert "at least 0.05 s" in (out / "failures.tsv").read_text()
    words = [i for i in json.loads((out / "sup.json").read_text())["items"] if i["tier"] == "words"]
    assert words[-1]["label"] == "10²"
    bad_model = tmp_path / "m"
    bad_model.mkdir()
    (bad_model / "config.json").write_text('{"architectures": ["Other"]}')
    (bad_model / "model.safetensors").write_bytes(b"")
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out), "--model", str(bad_model)])
    assert result.exit_code == 2 and "not a frametool model config" in result.output
