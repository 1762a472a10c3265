"""The bundled diarization model on hard inputs: silence, one speaker, music-like tones, 8 kHz telephone audio,
stereo (voices: the synthetic speakers of examples/corpus, which no diarization training heard)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from frametool.audio.io import load_audio
from frametool.tasks.diarize import diarize_samples, load_diarize_model

RATE = 16000
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "corpus"


@pytest.fixture(scope="module")
def model():
    return load_diarize_model("whisper-diarize")


def speaker_audio(voice: str, pause_s: float = 0.6) -> np.ndarray:
    clips = [load_audio(p).samples for p in sorted((EXAMPLES / voice).glob("*.wav"))]
    gap = np.zeros(int(pause_s * RATE), dtype=np.float32)
    return np.concatenate([piece for clip in clips for piece in (clip, gap)])


def speech_s(turns) -> float:
    spans = sorted((it.start_s, it.end_s) for it in turns)
    total, end = 0.0, -1.0
    for a, b in spans:
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return total


def test_silence_and_faint_noise_have_no_speakers(model):
    silent = diarize_samples(model, np.zeros(10 * RATE, dtype=np.float32))
    assert silent.turns == [] and silent.num_speakers == 0
    noise = (np.random.default_rng(0).standard_normal(10 * RATE) * 1e-3).astype(np.float32)
    assert speech_s(diarize_samples(model, noise).turns) < 1.0


@pytest.mark.parametrize("voice", ["speaker-en-gb-x-gbclan-Annie", "speaker-en-us-m6"])
def test_one_speaker_is_one_speaker(model, voice):
    samples = speaker_audio(voice)
    out = diarize_samples(model, samples)
    main = max({it.label for it in out.turns}, key=lambda s: speech_s([t for t in out.turns if t.label == s]))
    assert speech_s([t for t in out.turns if t.label == main]) >= 0.8 * speech_s(out.turns) > 5.0


def test_music_like_tones_are_mostly_not_speech(model):
    t = np.arange(12 * RATE) / RATE
    notes = 220 * 2 ** (np.floor(t * 2) % 12 / 12)  # a new note every 0.5 s
    tones = sum(np.sin(2 * np.pi * k * notes * t) / k for k in (1, 2, 3)) * 0.1
    out = diarize_samples(model, tones.astype(np.float32))
    assert speech_s(out.turns) < 0.3 * 12


def test_telephone_band_stereo_speech_is_found(tmp_path, model):
    a = speaker_audio("speaker-en-gb-x-gbclan-Annie")
    b = speaker_audio("speaker-en-us-m6")
    n = min(len(a), len(b))
    two = np.concatenate([a[:n // 2], b[:n // 2], a[n // 2:n]])
    narrow = resample_poly(two, 1, 2).astype(np.float32)  # 8 kHz
    sf.write(tmp_path / "call.wav", np.stack([narrow, 0.8 * narrow], axis=1), 8000, subtype="PCM_16")
    wave = load_audio(tmp_path / "call.wav")
    out = diarize_samples(model, wave.samples)
    assert abs(wave.duration_s - len(two) / RATE) < 0.01
    assert speech_s(out.turns) > 0.4 * wave.duration_s and out.num_speakers >= 1


def test_speech_gate_keeps_speech_and_drops_tones():
    from frametool.framegrid import FrameGrid
    from frametool.tasks.diarize import GateConfig, gated, speech_mask

    gate = GateConfig("sound-events", threshold=0.5, pad_s=0.2)
    speech = speaker_audio("speaker-en-us-m6")
    grid = FrameGrid.covering(len(speech) / RATE, 0.02)
    mask = speech_mask(gate, speech, grid)
    assert mask.shape == (grid.num_frames,) and mask.mean() > 0.5  # clips with 0.6 s pauses between them
    t = np.arange(12 * RATE) / RATE
    notes = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
    tones = (sum(np.sin(2 * np.pi * k * notes * t) / k for k in (1, 2, 3)) * 0.1).astype(np.float32)
    assert speech_mask(gate, tones, FrameGrid.covering(12.0, 0.02)).mean() < 0.2
    values = np.ones((3, 10, 3), dtype=np.float32)
    keep = np.array([True] * 4 + [False] * 6)
    (s, out), = gated([(2, values)], np.concatenate([[False, False], keep]))
    assert s == 2 and out[:, :4, 0].min() == 1 and out[:, 4:, 0].max() == 0 and out[..., 1:].min() == 1
    assert values.min() == 1  # the input is left alone


def test_a_speech_gate_needs_a_speech_label():
    from frametool.errors import ModelError
    from frametool.framegrid import FrameGrid
    from frametool.tasks.diarize import GateConfig, speech_mask

    with pytest.raises(ModelError, match="speech"):
        speech_mask(GateConfig("bengalese-finch"), np.zeros(RATE, dtype=np.float32), FrameGrid(0.02, 50))


def test_diarize_cli_speech_gate_refuses_a_model_without_speech_and_gates_tones(tmp_path):
    from typer.testing import CliRunner

    from frametool.cli import app

    t = np.arange(12 * RATE) / RATE
    notes = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
    sf.write(str(tmp_path / "tones.wav"), (sum(np.sin(2 * np.pi * k * notes * t) / k for k in (1, 2, 3)) * 0.1)
             .astype(np.float32), RATE)
    runner = CliRunner()
    bad = runner.invoke(app, ["diarize", str(tmp_path / "tones.wav"), "--out", str(tmp_path / "bad"),
                              "--speech-gate", "bengalese-finch"])
    assert bad.exit_code == 2 and "speech" in bad.output and not (tmp_path / "bad").exists()
    good = runner.invoke(app, ["diarize", str(tmp_path / "tones.wav"), "--out", str(tmp_path / "out"),
                               "--speech-gate", "sound-events"])
    assert good.exit_code == 0, good.output
    assert (tmp_path / "out" / "tones.rttm").read_text() == ""  # the tones are nobody's turn
