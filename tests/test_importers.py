"""`frametool import`: training manifests from word-aligned corpora (MFA-style TextGrids, LibriSpeech)."""
import json

import numpy as np
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

from frametool.cli import app
from frametool.training.data import read_manifest
from frametool.training.importers import import_librispeech, import_textgrid_corpus, parse_alignment_line

SR = 16000


def _textgrid(path, tiers, xmax):
    """Praat long-format TextGrid with interval tiers {name: [(start, end, label)]}."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for n, (name, intervals) in enumerate(tiers.items(), 1):
        lines += [f"    item [{n}]:", '        class = "IntervalTier"', f'        name = "{name}"',
                  "        xmin = 0", f"        xmax = {xmax}", f"        intervals: size = {len(intervals)}"]
        for k, (a, b, label) in enumerate(intervals, 1):
            lines += [f"        intervals [{k}]:", f"            xmin = {a}", f"            xmax = {b}",
                      f'            text = "{label}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _wav(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * SR), np.float32), SR)


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    _wav(root / "spk1" / "a.wav", 2.0)
    _textgrid(root / "spk1" / "a.TextGrid", {
        "words": [(0, 0.3, ""), (0.3, 0.7, "hello"), (0.7, 0.9, "sil"), (0.9, 1.2, "<unk>"), (1.2, 1.6, "world"),
                  (1.6, 2.0, "")],
        "phones": [(0, 2.0, "x")]}, 2.0)
    _wav(root / "spk2" / "b.wav", 1.5)
    _textgrid(root / "spk2" / "b.TextGrid", {"spk2 - words": [(0.1, 0.5, "good"), (0.5, 1.0, "morning")]}, 1.5)
    _wav(root / "spk2" / "c.wav", 1.0)  # no TextGrid
    _wav(root / "spk3" / "d.wav", 1.0)
    _textgrid(root / "spk3" / "d.TextGrid", {"words": [(0.1, 1.4, "toolong")]}, 1.4)  # past the audio's end
    _wav(root / "spk3" / "e.wav", 1.0)
    _textgrid(root / "spk3" / "e.TextGrid", {"phones": [(0.1, 0.4, "AH")]}, 1.0)  # no words tier
    return root


def test_textgrid_corpus_rows_and_reasons(corpus, tmp_path):
    out = tmp_path / "out"
    report = import_textgrid_corpus(corpus, out)
    rows = {r["id"]: r for r in report.rows}
    assert set(rows) == {"a", "b"}
    assert rows["a"]["transcript"] == "hello world"
    assert rows["a"]["words"] == [{"label": "hello", "start_s": 0.3, "end_s": 0.7},
                                  {"label": "world", "start_s": 1.2, "end_s": 1.6}]
    assert rows["a"]["speaker"] == "spk1" and rows["a"]["duration_s"] == 2.0
    assert rows["b"]["transcript"] == "good morning"  # MFA's "SPEAKER - words" tier
    assert report.dropped_labels == 2  # "sil" and "<unk>"
    reasons = dict(report.failures)
    assert "no TextGrid" in reasons[str(corpus / "spk2" / "c.wav")]
    assert "after the audio's end" in reasons[str(corpus / "spk3" / "d.TextGrid")]
    assert "no interval tier named 'words'" in reasons[str(corpus / "spk3" / "e.TextGrid")]


def test_librispeech_alignment_line():
    utt, words, silences = parse_alignment_line('84-121123-0000 ",GO,,DO,YOU,HEAR," "0.490,0.890,1.270,1.380,1.490,1.890,2.09"')
    assert utt == "84-121123-0000"
    assert words == [("go", 0.49, 0.89), ("do", 1.27, 1.38), ("you", 1.38, 1.49), ("hear", 1.49, 1.89)]
    assert silences == 3
    with pytest.raises(ValueError, match="3 words but 2 end times"):
        parse_alignment_line('x ",A," "0.1,0.2"')
    with pytest.raises(ValueError, match="backwards"):
        parse_alignment_line('x ",A,B" "0.5,0.4,0.6"')


def test_librispeech_book(tmp_path):
    book = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    _wav(book / "84-121123-0000.wav", 2.2)
    (book / "84-121123.alignment.txt").write_text(
        '84-121123-0000 ",GO,,DO,YOU,HEAR," "0.490,0.890,1.270,1.380,1.490,1.890,2.09"\n'
        '84-121123-0001 ",BUT," "0.2,0.5,0.6"\n', encoding="utf-8")
    report = import_librispeech(tmp_path / "LibriSpeech", tmp_path / "out")
    assert [r["transcript"] for r in report.rows] == ["go do you hear"]
    assert report.rows[0]["speaker"] == "84"
    assert report.failures[0][0].endswith("84-121123.alignment.txt:2") and "no audio" in report.failures[0][1]


def test_cli_writes_manifests_that_training_reads(corpus, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", str(corpus), "--out", str(out), "--dev-speakers", "1"])
    assert result.exit_code == 0, result.output
    assert "imported 2 utterances" in result.output and "skipped 3" in result.output
    examples = read_manifest(out / "manifest.jsonl")
    assert [e.audio.resolve() for e in examples] == [(corpus / "spk1" / "a.wav").resolve(),
                                                      (corpus / "spk2" / "b.wav").resolve()]
    assert examples[0].spans_s == [(0.3, 0.7), (1.2, 1.6)]
    train = [json.loads(x)["speaker"] for x in (out / "train.jsonl").read_text().splitlines()]
    dev = [json.loads(x)["speaker"] for x in (out / "dev.jsonl").read_text().splitlines()]
    assert len(train) == len(dev) == 1 and set(train) != set(dev)
    assert (out / "failures.tsv").read_text().count("\n") == 4  # header + 3 files


def test_cli_refuses_a_corpus_with_nothing_usable(tmp_path):
    _wav(tmp_path / "c" / "x.wav", 1.0)
    result = CliRunner().invoke(app, ["import", str(tmp_path / "c"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no usable utterance" in result.output and "no TextGrid" in result.output
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


def test_ipa_is_read_as_arpabet_longest_symbols_first():
    from frametool.text.arpabet import ipa_to_arpabet

    assert ipa_to_arpabet("ʃˈɑːpbɔɪ") == ["SH", "AA", "P", "B", "OY"]
    assert ipa_to_arpabet("fɹˈɪndʒd") == ["F", "R", "IH", "N", "JH", "D"]
    assert ipa_to_arpabet("wˈɜːkhaʊs") == ["W", "ER", "K", "HH", "AW", "S"]
    assert ipa_to_arpabet("ˈˌ") == []


def test_pocketsphinx_import_times_words_of_untimed_speech(tmp_path):
    """A corpus with transcripts only: pocketsphinx times its words (a made-up word is pronounced by
    espeak-ng); the rows keep the user's tokens and their order."""
    pytest.importorskip("pocketsphinx")
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from frametool.training.importers import import_untimed_corpus

    corpus = tmp_path / "corpus" / "spk1"
    corpus.mkdir(parents=True)
    text = "the zorblat sat on the mat"
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "raw.wav"), text], check=True)
    speech, rate = sf.read(tmp_path / "raw.wav", dtype="float32")
    speech, rate = soxr.resample(speech, rate, 16000).astype(np.float32), 16000
    pad = np.zeros(rate // 2, dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 0.003, len(speech) + rate).astype(np.float32)
    sf.write(corpus / "u1.wav", np.concatenate([pad, speech, pad]) + noise, rate)  # pocketsphinx wants a noise floor
    (corpus / "u1.lab").write_text(text + "\n")
    (corpus / "u2.wav").write_bytes(b"not audio")
    (corpus / "u2.lab").write_text("hello\n")
    report = import_untimed_corpus(tmp_path / "corpus", tmp_path / "out")
    assert [p for p, _ in report.failures] == [str(corpus / "u2.wav")]
    (row,) = report.rows
    assert not any("phones" in w for w in row["words"]) and report.phone_words == 0
    with_phones = import_untimed_corpus(tmp_path / "corpus", tmp_path / "out", with_phones=True)
    (timed,) = with_phones.rows
    # the phone pass searches without pocketsphinx's best-path step, so word times may move a frame or two
    assert np.allclose([w["start_s"] for w in timed["words"]], [w["start_s"] for w in row["words"]], atol=0.021)
    have = [w for w in timed["words"] if "phones" in w]
    assert len(have) >= 4 and with_phones.phone_words == len(have)  # "zorblat" has no dictionary entry
    for w in have:
        assert w["phones"][0]["start_s"] == w["start_s"] and w["phones"][-1]["end_s"] == w["end_s"]
        assert all(a["end_s"] == b["start_s"] for a, b in zip(w["phones"], w["phones"][1:]))
    cat = next(w for w in have if w["label"] == "mat")
    assert [p["label"] for p in cat["phones"]] == ["M", "AE1", "T"]
    assert row["speaker"] == "spk1" and row["transcript"] == text
    assert [w["label"] for w in row["words"]] == text.split()
    starts = [w["start_s"] for w in row["words"]]
    assert starts == sorted(starts) and all(w["end_s"] > w["start_s"] for w in row["words"])
    assert row["words"][-1]["end_s"] <= row["duration_s"] + 0.02


def test_silver_phones_take_the_dictionary_pronunciation_they_say_and_stay_inside_their_word():
    from frametool.training.importers import word_phones

    words = [("the", 0.10, 0.20), ("cat", 0.20, 0.50), ("1984", 0.60, 1.40), ("sat", 1.50, 1.80)]
    pieces = [(0, "the"), (1, "cat"), (2, "nineteen"), (2, "eighty"), (2, "four"), (3, "sat")]
    heard = [[("DH", 0.10, 0.14), ("AH", 0.14, 0.20)],
             [("K", 0.19, 0.27), ("AE", 0.27, 0.42), ("T", 0.42, 0.51)],  # a frame outside its word's span
             [("N", 0.60, 0.65), ("AY", 0.65, 0.75), ("N", 0.75, 0.80), ("T", 0.80, 0.85), ("IY", 0.85, 0.95),
              ("N", 0.95, 1.00)],
             [("EY", 1.00, 1.10), ("T", 1.10, 1.15), ("IY", 1.15, 1.20)],
             [("F", 1.20, 1.30), ("AO", 1.30, 1.35), ("R", 1.35, 1.40)],
             [("Z", 1.50, 1.60), ("AE", 1.60, 1.70), ("T", 1.70, 1.80)]]  # says no pronunciation of "sat"
    the, cat, year, sat = word_phones(words, pieces, heard)
    assert [p for p, _, _ in the] == ["DH", "AH0"] and the[0][1] == 0.10 and the[-1][2] == 0.20
    assert [p for p, _, _ in cat] == ["K", "AE1", "T"] and cat[0][1] == 0.20 and cat[-1][2] == 0.50
    assert [p for p, _, _ in year] == "N AY1 N T IY1 N EY1 T IY0 F AO1 R".split()
    assert all(a1 == b0 for (_, _, b0), (_, a1, _) in zip(year, year[1:]))
    assert sat is None


def test_phones_flag_needs_the_pocketsphinx_layout(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    result = CliRunner().invoke(app, ["import", str(corpus), "--out", str(tmp_path / "o"), "--phones"])
    assert result.exit_code == 2 and "--phones goes with --format pocketsphinx" in result.output


def test_cli_pocketsphinx_import_names_the_files_it_could_not_use(tmp_path):
    pytest.importorskip("pocketsphinx")
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "bad.wav").write_bytes(b"not audio")
    (corpus / "bad.lab").write_text("hello there\n")
    _wav(corpus / "quiet.wav", 1.0)  # no transcript next to it
    result = CliRunner().invoke(app, ["import", str(corpus), "--out", str(tmp_path / "o"), "--format", "pocketsphinx"])
    assert result.exit_code == 2
    assert "no usable utterance" in result.output and "bad.wav" in result.output
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


def test_split_like_keeps_an_earlier_speaker_split_and_joins_manifests(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    rows = [{"id": f"u{i}", "audio": f"u{i}.wav", "words": []} for i in range(4)]
    (new / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (old / "train.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in ("u0", "u2", "gone")))
    (old / "dev.jsonl").write_text(json.dumps({"id": "u3"}) + "\n")
    script = str(REPO / "recipes" / "split_like.py")
    subprocess.run([sys.executable, script, str(new / "manifest.jsonl"), str(old)], check=True, capture_output=True)
    train = [json.loads(line)["id"] for line in (new / "train.jsonl").read_text().splitlines()]
    dev = [json.loads(line)["id"] for line in (new / "dev.jsonl").read_text().splitlines()]
    assert train == ["u0", "u2"] and dev == ["u3"]
    joined = tmp_path / "joined.jsonl"
    subprocess.run([sys.executable, script, "--join", str(new / "train.jsonl"), str(new / "dev.jsonl"), "--out",
                    str(joined)], check=True, capture_output=True)
    audio = [json.loads(line)["audio"] for line in joined.read_text().splitlines()]
    assert audio == [str((new / f"u{i}.wav").resolve()) for i in (0, 2, 3)]


def test_real_speaker_split_draws_dev_speakers_from_the_in_dictionary_clips(tmp_path):
    import importlib.util
    import random

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("real_speaker_split", REPO / "recipes" / "real_speaker_split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpus = tmp_path / "clips"
    for speaker, text in [("11", "a cat sat"), ("12", "the dog ran"), ("13", "a zyzzyva sat"), ("14", "the cat ran")]:
        (corpus / speaker).mkdir(parents=True)
        sf.write(corpus / speaker / f"{speaker}-1-0000.wav", np.zeros(1600, dtype=np.float32), 16000)
        (corpus / speaker / f"{speaker}-1-0000.lab").write_text(text)
    names, speakers = module.in_dictionary_clips(corpus, lambda word: word == "zyzzyva")
    assert speakers == {"11", "12", "14"} and "13-1-0000.wav" not in names and len(names) == 3
    everything = [{"id": f"u{s}", "speaker": s, "words": []} for s in ("11", "12", "13", "14")]
    train, dev, held = module.split(everything, speakers, count=2, seed=3)
    assert held == set(random.Random(3).sample(["11", "12", "14"], 2)) and "13" not in held
    assert {r["speaker"] for r in dev} == held and {r["speaker"] for r in train} == {"11", "12", "13", "14"} - held
