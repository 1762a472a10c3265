"""benchmarks/align_decoding.py: the dev sweep of word-decoding settings, on the bundled model and the examples."""
import importlib.util
import json

import pytest
import soundfile as sf

from frametool.bench.accuracy import read_reference
from tests.conftest import REPO


def _module():
    spec = importlib.util.spec_from_file_location("align_decoding", REPO / "benchmarks" / "align_decoding.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest(tmp_path, count):
    rows = []
    for lab in sorted((REPO / "examples" / "corpus").rglob("*.lab"))[:count]:
        ref = REPO / "examples" / "reference" / lab.parent.name / (lab.stem + ".TextGrid")
        words = [{"label": w, "start_s": a, "end_s": b} for w, a, b in read_reference(ref)]
        wav = lab.with_suffix(".wav")
        rows.append({"id": lab.stem, "audio": str(wav), "transcript": lab.read_text().strip(), "words": words,
                     "duration_s": sf.info(str(wav)).duration})
    path = tmp_path / "dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_each_setting_is_scored_on_each_manifest_and_the_model_keeps_its_own(tmp_path, capsys):
    align_decoding = _module()
    manifest = _manifest(tmp_path, 2)
    assert align_decoding.main(["whisper-align", str(manifest), "--try", "prior_slope=0",
                                "--try", "prior_slope=100,ci_pad_s=0.05", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["setting"] for r in rows] == ["model's own", {"prior_slope": 0.0},
                                           {"prior_slope": 100.0, "ci_pad_s": 0.05}]
    n_words = sum(len(json.loads(line)["words"]) for line in manifest.read_text().splitlines())
    assert all(r["onsets"] == n_words for r in rows)
    assert all(0 <= r["on20"] <= r["on50"] <= r["on100"] <= 100 for r in rows)
    # intervals 50 ms wider each side hold at least as many reference onsets
    assert rows[2]["ci_coverage"] >= rows[0]["ci_coverage"] - 1e-9
    assert rows[0]["on50"] > 80  # the bundled model on its own examples


def test_an_unknown_setting_is_refused_by_name():
    align_decoding = _module()
    with pytest.raises(SystemExit, match="prior_slop"):
        align_decoding.parse_setting("prior_slop=3")
    assert align_decoding.parse_setting("pause_s=0.3, prior_slope=50") == {"pause_s": 0.3, "prior_slope": 50.0}
