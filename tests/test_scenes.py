"""Synthetic sound scenes (synth/sounds.py, synth/scenes.py), diarization references and the silero-vad peer
in `bench events`, and event recipes that start from an align model's backbone."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from frametool.bench.events import EventCounts, reference_events, score_file
from frametool.bench.vad import merge_spans, read_rttm_speech, read_uem
from frametool.cli import app
from frametool.errors import InputError, UsageError
from frametool.synth import scenes, sounds
from frametool.synth.scenes import (SceneConfig, SpeechSource, generate_scenes, make_scene, read_speech_sources,
                                    speech_excerpt)

RATE = 16000


def fake_speech_corpus(folder: Path, count: int = 3) -> Path:
    """Utterances of 'words' (noise bursts) with known times, in a corpus manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        x = np.zeros(4 * RATE, dtype=np.float32)
        words, t = [], 0.3
        while t < 3.4:
            length = rng.uniform(0.15, 0.4)
            a, b = int(t * RATE), int((t + length) * RATE)
            x[a:b] = rng.standard_normal(b - a) * 0.2
            words.append({"label": "w", "start_s": round(t, 4), "end_s": round(t + length, 4)})
            t += length + (0.1 if rng.random() < 0.6 else 0.5)
        sf.write(folder / f"u{i}.wav", x, RATE)
        rows.append({"id": f"u{i}", "audio": f"u{i}.wav", "words": words})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def test_generated_sounds_are_audible_and_reproducible():
    for name, make in sounds.GENERATORS.items():
        a, b = make(np.random.default_rng(5)), make(np.random.default_rng(5))
        assert np.array_equal(a, b), name
        assert 0.04 * RATE < len(a) < 6 * RATE and np.abs(a).max() > 0.1, name
        span = sounds.audible_span(a)
        assert span is not None and span[1] - span[0] > 0.03 * RATE, name


def test_an_event_is_labelled_where_it_is_heard_not_where_its_swell_begins():
    t = np.arange(2 * RATE) / RATE
    swell = (np.minimum(t / 1.0, 1.0) ** 3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # 1 s cubic fade-in
    clip_first, _ = sounds.audible_span(swell)  # the clip keeps the quiet start (45 dB) ...
    label_first, _ = sounds.audible_span(swell, floor_db=sounds.LABEL_DB)  # ... the label starts later (25 dB)
    assert clip_first / RATE < 0.2 and 0.3 < label_first / RATE < 0.45  # (0.1**3 is -60 dB, 0.38**3 is -25 dB)


def test_an_empty_clip_has_no_level_and_is_skipped():
    assert scenes._active_rms(np.zeros(0, dtype=np.float32)) == 0.0


def test_noise_stays_below_the_quietest_event():
    rng = np.random.default_rng(0)
    quiet = np.zeros(RATE * 4, dtype=np.float32)
    quiet[RATE:2 * RATE] = 0.01 * np.sin(np.arange(RATE) * 0.2)
    for seed in range(10):
        mixed = scenes._background(quiet.copy(), np.random.default_rng(seed), quietest=0.01 / np.sqrt(2),
                                   snr_db=(6.0, 35.0))
        event = np.sqrt(np.mean(mixed[RATE:2 * RATE] ** 2))
        noise = np.sqrt(np.mean(mixed[2 * RATE + RATE // 2:] ** 2))  # past the reverb tail
        assert noise < event / 1.5, seed  # at least ~3.5 dB under the event even with its own share of noise


def test_audible_span_finds_the_sound_inside_silence():
    x = np.zeros(RATE, dtype=np.float32)
    x[4000:8000] = np.sin(np.arange(4000) * 0.3)
    first, end = sounds.audible_span(x)
    assert abs(first - 4000) <= 80 and abs(end - 8000) <= 80
    assert sounds.audible_span(np.zeros(RATE, dtype=np.float32)) is None


def test_test_scenes_hear_instruments_training_never_hears():
    train, test = set(sounds.music_programs("train")), set(sounds.music_programs("test"))
    assert train and test and not train & test and sounds.music_programs("dev") == sorted(train)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not any(Path(p).is_file() for p in sounds.SOUNDFONTS),
                    reason="FluidSynth or a GM SoundFont is not installed")
def test_music_is_rendered_by_fluidsynth():
    clip, (first, end) = sounds.make_source("music", np.random.default_rng(1), sounds.music_programs("test"))
    assert len(clip) > RATE and np.abs(clip).max() > 0.01
    assert 0 <= first < end <= len(clip) / RATE


def test_speech_excerpt_groups_words_by_pause():
    source = SpeechSource(Path("x.wav"), ((0.5, 0.8), (0.85, 1.2), (1.8, 2.0), (2.1, 2.4)))
    samples = np.ones(3 * RATE, dtype=np.float32)
    for seed in range(20):
        clip, spans = speech_excerpt(source, samples, np.random.default_rng(seed), 8.0, 0.3)
        assert spans and all(0 <= a < b <= len(clip) / RATE + 1e-6 for a, b in spans)
        gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
        assert all(g >= 0.3 for g in gaps)  # pauses shorter than 0.3 s stay inside one speech event


def test_scenes_have_exact_nonoverlapping_labels_and_are_reproducible(tmp_path):
    manifest = fake_speech_corpus(tmp_path / "speech")
    config = SceneConfig(tmp_path / "out", (manifest,), scenes=6, duration_s=6.0, seed=3, jobs=1,
                         labels=("speech", "alarm", "knock", "chirp", "siren"), empty_p=0.0)
    sources = read_speech_sources((manifest,))
    a, events_a = make_scene(config, 2, sources)
    b, events_b = make_scene(config, 2, sources)
    assert np.array_equal(a, b) and events_a == events_b
    written = generate_scenes(config)
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(rows) == 6 and sum(len(r["events"]) for r in rows) > 6
    for row in rows:
        assert sf.info(row["audio"]).duration == pytest.approx(6.0)
        table = Path(row["audio"]).with_suffix(".tsv").read_text().splitlines()
        assert len(table) == len(row["events"])
        for label in {e[2] for e in row["events"]}:
            spans = sorted((s, e) for s, e, lab in row["events"] if lab == label)
            assert all(0 <= s < e <= 6.0 for s, e in spans)
            assert all(spans[k][1] + 0.3 - 1e-6 <= spans[k + 1][0] for k in range(len(spans) - 1)), label
    other = generate_scenes(SceneConfig(tmp_path / "dev", (manifest,), split="dev", scenes=2, duration_s=6.0,
                                        seed=3, jobs=1, labels=config.labels, empty_p=0.0))
    first_dev = json.loads(other.read_text().splitlines()[0])
    assert first_dev["events"] != rows[0]["events"]  # another split draws other scenes


def test_synth_scenes_cli_and_its_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["synth-scenes", str(tmp_path / "o"), "--speech", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "none.jsonl" in missing.output
    bad = runner.invoke(app, ["synth-scenes", str(tmp_path / "o"), "--speech", "x", "--split", "eval"])
    assert bad.exit_code == 2 and "--split" in bad.output
    for weight in ("alarm", "alarm=-1", "horn=2", "alarm=x"):
        wrong = runner.invoke(app, ["synth-scenes", str(tmp_path / "o"), "--speech", "x", "--weight", weight])
        assert wrong.exit_code == 2 and "--weight" in wrong.output, weight


def test_synth_scenes_weights_choose_how_often_each_label_is_drawn(tmp_path):
    manifest = fake_speech_corpus(tmp_path / "speech")
    result = CliRunner().invoke(app, ["synth-scenes", str(tmp_path / "o"), "--speech", str(manifest), "--scenes", "8",
                                      "--duration", "6", "--jobs", "1", "--weight", "speech=0", "--weight", "music=0",
                                      "--weight", "siren=0", "--weight", "knock=0", "--weight", "chirp=0"])
    assert result.exit_code == 0, result.output
    labels = [e[2] for line in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()
              for e in json.loads(line)["events"]]
    assert labels and set(labels) == {"alarm"}


def test_rttm_reference_is_the_union_of_turns_inside_the_uem(tmp_path):
    (tmp_path / "m.rttm").write_text("SPEAKER m 1 1.00 2.00 <NA> <NA> A <NA> <NA>\n"
                                     "SPEAKER m 1 2.50 1.00 <NA> <NA> B <NA> <NA>\n"
                                     "SPEAKER m 1 6.00 0.50 <NA> <NA> A <NA> <NA>\n")
    (tmp_path / "m.uem").write_text("m 1 0.000 5.000\n")
    events, regions = reference_events(tmp_path, Path("m.wav"))
    assert [(e.start_s, e.end_s, e.label) for e in events] == [(1.0, 3.5, "speech"), (6.0, 6.5, "speech")]
    assert regions == [(0.0, 5.0)]
    counts = score_file(events, [type(events[0])("speech", 1.1, 3.4)], regions)
    assert counts.n_ref == 1 and counts.f1(0.2) == 1.0  # the turn at 6 s lies outside the scored region
    assert merge_spans([(3, 4), (0, 1), (0.5, 2)]) == [(0, 2), (3, 4)]
    (tmp_path / "bad.rttm").write_text("SPEAKER bad 1 x 2\n")
    with pytest.raises(InputError, match="bad.rttm"):
        read_rttm_speech(tmp_path / "bad.rttm")
    (tmp_path / "bad.uem").write_text("bad 1\n")
    with pytest.raises(InputError, match="bad.uem"):
        read_uem(tmp_path / "bad.uem")


def test_silero_peer_scores_speech_against_an_rttm(tmp_path):
    pytest.importorskip("silero_vad")
    from frametool.bench.events import run_events_bench

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "m.wav", (rng.standard_normal(3 * RATE) * 0.001).astype(np.float32), RATE)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "m.rttm").write_text("SPEAKER m 1 1.00 1.00 <NA> <NA> A <NA> <NA>\n")
    report = run_events_bench(tmp_path / "m.wav", tmp_path / "ref", None, peer="silero-vad")
    assert list(report.systems) == ["silero-vad"] and report.systems["silero-vad"].n_ref == 1
    assert "silero-vad onset F1 @200 ms" in report.file_table()
    with pytest.raises(UsageError, match="--peer"):
        run_events_bench(tmp_path / "m.wav", tmp_path / "ref", None, peer="webrtc")


def test_event_recipe_starts_from_an_align_models_backbone_and_keeps_frozen_parts(tmp_path):
    from safetensors.torch import load_file, save_file

    from frametool.tasks.events import EventModel, EventModelConfig, load_event_model
    from frametool.training.events_train import load_event_recipe, selection_score, start_from, train_events
    from frametool.training.event_import import import_event_corpus, write_event_import
    from tests.test_events import TOY_BACKBONE, write_scene_corpus

    torch.manual_seed(1)
    donor = EventModel(EventModelConfig(backbone_config=dict(TOY_BACKBONE), labels=("x",)))
    align = tmp_path / "align-model"
    align.mkdir()
    state = {k: v for k, v in donor.state_dict().items() if k.startswith("backbone.")}
    state["head.key.weight"] = torch.zeros(2, 2)
    save_file(state, str(align / "model.safetensors"))
    (align / "config.json").write_text(json.dumps({"task": "align", "backbone": "tiny",
                                                   "backbone_config": TOY_BACKBONE}))
    backbone, start, whole = start_from(str(align))
    assert backbone == TOY_BACKBONE and set(start) == {k for k in state if k.startswith("backbone.")} and not whole

    write_scene_corpus(tmp_path / "corpus", 3)
    written = write_event_import(import_event_corpus(tmp_path / "corpus", "events-tsv"), tmp_path / "data",
                                 dev_files=1, seed=0)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""[train]
task = "events"
train_manifest = "{written['train.jsonl']}"
dev_manifest = "{written['dev.jsonl']}"
out_dir = "{tmp_path / 'run'}"
init_from = "{align}"
freeze = ["backbone.enc"]
select = "labelled_f1_200ms"
steps = 4
warmup_steps = 1
crops_per_step = 2
window_s = 1.0
eval_every = 2
save_every = 2
threads = 1
[decoding_grid]
activity = [0.3, 0.5]
""")
    lines: list[str] = []
    best = train_events(load_event_recipe(recipe), log=lines.append)
    assert any("its backbone" in line for line in lines) and any(line.startswith("frozen:") for line in lines)
    trained = load_file(str(best / "model.safetensors"))
    frozen = [k for k in state if k.startswith("backbone.enc")]
    assert frozen and all(torch.equal(trained[k].float(), state[k].float()) for k in frozen)
    moved = [k for k in state if k.startswith("backbone.dec") and not torch.equal(trained[k].float(), state[k].float())]
    assert moved  # what is not frozen trains
    decoding = load_event_model(str(best)).config.decoding
    assert set(decoding) - {"per_label"} == {"activity"}
    assert all(set(own) <= {"activity"} for own in decoding.get("per_label", {}).values())
    assert any("labelled_f1_200ms" in line for line in lines)
    # a later stage starts from the whole event model, whatever its recipe's [backbone] says
    second, first_out, second_out = tmp_path / "r2.toml", tmp_path / "run", tmp_path / "run2"
    second.write_text(recipe.read_text().replace(f'init_from = "{align}"', f'init_from = "{best}"')
                      .replace(f'out_dir = "{first_out}"', f'out_dir = "{second_out}"') + "[backbone]\nd_model = 8\n")
    lines2: list[str] = []
    train_events(load_event_recipe(second), log=lines2.append)
    assert any(line == f"started from {best}" for line in lines2)
    first_decoding = load_event_model(str(best)).config.decoding
    inherited = [line for line in lines2 if line.startswith("dev checkpoints decoded with the start model's")]
    assert inherited and str(first_decoding["activity"]) in inherited[0]  # not untuned defaults
    assert any(line.startswith("kept best") or line.startswith("kept last") for line in lines2)
    recipe.write_text(recipe.read_text().replace('select = "labelled_f1_200ms"', 'select = "auc"'))
    with pytest.raises(UsageError, match="select"):
        load_event_recipe(recipe)
    assert selection_score(EventCounts(), "labelled_f1_200ms") == 0.0


def test_every_music_note_is_released(tmp_path):
    """A note-off before its note-on leaves the note sounding for ever (FluidSynth then never finishes)."""
    mido = pytest.importorskip("mido")
    for seed in range(200):
        path = tmp_path / f"{seed}.mid"
        sounds._music_midi(np.random.default_rng(seed), sounds.music_programs("train"), path)
        sounding, tick = set(), 0
        for message in mido.MidiFile(str(path)).tracks[0]:
            tick += message.time
            if message.type == "note_on":
                sounding.add((message.channel, message.note))
            elif message.type == "note_off":
                sounding.discard((message.channel, message.note))
        assert not sounding, seed


def test_mixtures_number_speakers_by_first_speech_and_write_rttm(tmp_path):
    from frametool.bench.diarization import read_rttm
    from frametool.synth.mixtures import MixtureConfig, generate_mixtures

    corpora = []
    for k in range(4):  # four speakers
        manifest = fake_speech_corpus(tmp_path / f"spk{k}", count=2)
        rows = [dict(json.loads(line), speaker=f"s{k}") for line in manifest.read_text().splitlines()]
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
        corpora.append(manifest)
    for style in ("count", "conversation"):
        out = generate_mixtures(MixtureConfig(tmp_path / style, tuple(corpora), style=style, recordings=4,
                                              duration_s=6.0, min_speakers=2, max_speakers=4, jobs=1))
        for row in map(json.loads, out.read_text().splitlines()):
            turns = row["turns"]
            assert 1 <= row["num_speakers"] <= 4 and row["speakers"] == [f"speaker_{k + 1}" for k in
                                                                         range(row["num_speakers"])]
            firsts = [min(a for a, _, s in turns if s == name) for name in row["speakers"]]
            assert firsts == sorted(firsts)  # numbered by order of first speech
            assert all(0 <= a < b <= 6.0 for a, b, _ in turns)
            rttm = read_rttm(Path(row["audio"]).with_suffix(".rttm"))
            assert [(round(a, 3), s) for a, _, s in rttm] == [(round(a, 3), s) for a, _, s in turns]
    runner = CliRunner()
    few = runner.invoke(app, ["synth-mixtures", str(tmp_path / "x"), "--speech", str(corpora[0]), "--speakers", "2-3"])
    assert few.exit_code == 2 and "speakers" in few.output
    bad = runner.invoke(app, ["synth-mixtures", str(tmp_path / "x"), "--speech", str(corpora[0]), "--speakers", "a"])
    assert bad.exit_code == 2 and "--speakers" in bad.output
    sounds = runner.invoke(app, ["synth-mixtures", str(tmp_path / "x"), "--speech", str(corpora[0]), "--sounds", "-1"])
    assert sounds.exit_code == 2 and "--sounds" in sounds.output


def test_mixture_sounds_leave_the_turns_alone_and_sound_outside_them(tmp_path, monkeypatch):
    import soundfile as sf

    import frametool.synth.mixtures as mixtures

    monkeypatch.setattr(mixtures, "SOUNDS", ("alarm", "siren", "knock", "chirp"))  # music needs FluidSynth
    corpora = []
    for k in range(3):
        manifest = fake_speech_corpus(tmp_path / f"spk{k}", count=2)
        rows = [dict(json.loads(line), speaker=f"s{k}") for line in manifest.read_text().splitlines()]
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
        corpora.append(manifest)
    rows = {}
    for sounds in (0.0, 6.0):
        out = mixtures.generate_mixtures(mixtures.MixtureConfig(tmp_path / f"s{sounds:g}", tuple(corpora),
                                                                style="conversation", recordings=3, duration_s=8.0,
                                                                min_speakers=2, max_speakers=3, jobs=1, sounds=sounds))
        rows[sounds] = [json.loads(line) for line in out.read_text().splitlines()]
    added = 0.0
    for plain, noisy in zip(rows[0.0], rows[6.0]):
        assert plain["turns"] == noisy["turns"] and plain["speakers"] == noisy["speakers"]
        a, b = sf.read(plain["audio"])[0], sf.read(noisy["audio"])[0]
        silent = np.ones(len(a), dtype=bool)
        for start, end, _ in plain["turns"]:
            silent[int(start * 16000):int(end * 16000)] = False
        added += float(np.sum((b - a)[silent] ** 2))
    assert added > 0  # sounds where nobody speaks


def test_labels_may_keep_their_own_decoding_settings():
    from frametool.decoders.events import decode_channels, decode_settings
    from frametool.framegrid import FrameGrid

    T, dt = 200, 0.02
    values = np.zeros((2, T, 3), dtype=np.float32)
    values[:, 50:120, 0] = 0.6  # both labels sound from frame 50 to 120 at activity 0.6
    values[:, 50, 1] = 20.0
    values[:, 119, 2] = 20.0
    shared, own = decode_settings({"activity": 0.5, "per_label": {"b": {"activity": 0.7}}})
    assert shared.activity == 0.5 and own["b"].activity == 0.7 and set(own) == {"b"}
    items = decode_channels(values, FrameGrid(dt, T), ["a", "b"], shared, own)
    assert [it.label for it in items] == ["a"]  # b's own, stricter threshold rejects its event
    assert len(decode_channels(values, FrameGrid(dt, T), ["a", "b"], shared)) == 2


def test_bundled_sound_events_model_finds_clear_sounds_and_nothing_in_quiet_noise():
    from frametool.tasks.events import detect, load_event_model

    model = load_event_model("sound-events")
    assert set(model.config.labels) == {"speech", "music", "alarm", "siren", "knock", "chirp"}
    for k, label in enumerate(sounds.GENERATED):
        rng = np.random.default_rng(100 + k)
        clip = sounds.GENERATORS[label](rng)
        x = (rng.standard_normal(RATE * 6) * 0.003).astype(np.float32)
        x[2 * RATE:2 * RATE + len(clip)] += (clip / np.abs(clip).max() * 0.5)[: 4 * RATE]
        found = detect(model, x)
        assert [it.label for it in found] == [label], (label, found)
        assert abs(found[0].start_s - 2.0) < 0.1 and found[0].start_ci_s[0] <= found[0].start_s
    quiet = (np.random.default_rng(0).standard_normal(RATE * 5) * 0.003).astype(np.float32)
    assert detect(model, quiet) == []
