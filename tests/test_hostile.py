"""Hostile inputs: each gives a clear line in failures.tsv (or simply works), never a traceback."""
import csv
import os
import shutil
import struct

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from frametool import cli
from tests.conftest import REPO

runner = CliRunner()
EXAMPLE = sorted((REPO / "examples" / "corpus").rglob("*.wav"))[0]
TEXT = EXAMPLE.with_suffix(".lab").read_text().strip()


def add(root, name, audio=None, rate=16000, text=TEXT, raw_text=None, subtype=None):
    if audio is not None:
        sf.write(root / f"{name}.wav", audio, rate, subtype=subtype)
    if raw_text is not None:
        (root / f"{name}.lab").write_bytes(raw_text)
    elif text is not None:
        (root / f"{name}.lab").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    import soxr

    root = tmp_path_factory.mktemp("hostile")
    speech, rate = sf.read(EXAMPLE, dtype="float32")
    works, fails = {}, {}
    add(root, "rate8k", soxr.resample(speech, rate, 8000), 8000)
    add(root, "rate96k", soxr.resample(speech, rate, 96000), 96000)
    add(root, "six_channels", np.stack([speech] * 6, axis=1))
    add(root, "crlf_bom", speech, raw_text=("\ufeff" + TEXT.replace(" ", "\r\n", 2) + "\r\n").encode())
    add(root, "control_chars", speech, text=TEXT.replace(" ", "\x07 ", 1))
    add(root, "emoji_extra", speech, text=TEXT + " 🙂")
    sub = root / "dir with spaces é"
    sub.mkdir()
    add(sub, "ünïcödé name", speech)
    os.symlink(root / "rate8k.wav", root / "linked.wav")
    shutil.copy(root / "rate8k.lab", root / "linked.lab")
    works.update({n: None for n in ["rate8k", "rate96k", "six_channels", "crlf_bom", "control_chars",
                                    "emoji_extra", "linked"]})
    nan = speech.copy()
    nan[100] = np.nan
    add(root, "nan_samples", nan, subtype="FLOAT")
    (root / "truncated.wav").write_bytes(EXAMPLE.read_bytes()[:30])
    add(root, "truncated")
    header = bytearray(EXAMPLE.read_bytes()[:44])
    header[40:44] = struct.pack("<I", 10 * 3600 * 16000 * 2)  # data chunk claims 10 h
    (root / "long_header.wav").write_bytes(bytes(header) + np.zeros(16000, np.int16).tobytes())
    add(root, "long_header", text="one two three")
    add(root, "ten_thousand", speech[: 3 * 16000], text=" ".join(["word"] * 10000))
    add(root, "only_punct", speech, text="... ?! -- ;")
    add(root, "rtl", speech, text="שלום עולם")
    fails.update({"nan_samples": "NaN", "truncated": "cannot be decoded", "ten_thousand": "10000 words",
                  "only_punct": "no speakable words", "rtl": "no letters the model can read"})
    out = root.parent / (root.name + "_out")
    result = runner.invoke(cli.app, ["align", str(root), "--out", str(out), "--format", "json"])
    rows = list(csv.DictReader(open(out / "failures.tsv"), delimiter="\t")) if (out / "failures.tsv").exists() else []
    return root, out, result, {os.path.basename(r["path"]).rsplit(".", 1)[0]: r for r in rows}, works, fails


def test_exit_code_and_no_traceback(hostile):
    _, _, result, _, _, _ = hostile
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def test_each_bad_file_named_with_its_problem(hostile):
    _, _, _, rows, _, fails = hostile
    for name, words in fails.items():
        assert name in rows, (name, sorted(rows))
        assert words in rows[name]["message"], (name, rows[name]["message"])


def test_long_header_is_reported_or_aligned(hostile):
    _, out, _, rows, _, _ = hostile
    assert "long_header" in rows or (out / "long_header.json").exists()


def test_odd_but_valid_inputs_simply_work(hostile):
    root, out, _, rows, works, _ = hostile
    for name in works:
        assert name not in rows, rows.get(name)
        assert (out / f"{name}.json").exists(), name
    assert (out / "dir with spaces é" / "ünïcödé name.json").exists()
