"""Event models: prompts, decoding, scoring, importers, training, `frametool events` and `bench events`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from frametool.bench.energy import EnergyBaseline, EnergyParams, band_energy_db, energy_segments
from frametool.bench.events import Event, edit_distance, in_regions, matched_pairs, score_file
from frametool.cli import app
from frametool.decoders.events import DecodeConfig, decode_events, decode_exclusive, pick_onsets
from frametool.errors import InputError, UsageError
from frametool.framegrid import FrameGrid
from frametool.tasks.events import (EventModel, EventModelConfig, check_labels, detect, event_channels,
                                    label_text, load_event_model, prompt_ids, save_event_model, window_starts)
from frametool.training.event_import import (import_event_corpus, read_event_manifest, read_raven_events,
                                             read_tsv_events, write_event_import)

RATE = 16000
TOY_BACKBONE = {"n_mels": 16, "feature_hop_s": 0.005, "n_fft": 128, "subsample": 2, "d_model": 32,
                "n_heads": 2, "enc_layers": 1, "dec_layers": 1, "dropout": 0.0}


def tone_scene(seed: int, duration_s: float = 4.0):
    """Noise with beeps (1 kHz) and chirps (2->4 kHz sweeps) at random non-overlapping times."""
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(duration_s * RATE)) * 0.003).astype(np.float32)
    events, t = [], 0.2
    while t < duration_s - 0.4:
        label = "beep" if rng.random() < 0.5 else "chirp"
        length = rng.uniform(0.06, 0.15)
        n = int(length * RATE)
        time = np.arange(n) / RATE
        if label == "beep":
            wave = np.sin(2 * np.pi * 1000 * time)
        else:
            wave = np.sin(2 * np.pi * (2000 * time + 1000 * time ** 2 / length))
        start = int(t * RATE)
        samples[start:start + n] += 0.3 * wave.astype(np.float32)
        events.append((round(start / RATE, 4), round((start + n) / RATE, 4), label))
        t += length + rng.uniform(0.05, 0.3)
    return samples, events


def write_scene_corpus(folder: Path, count: int, seed: int = 0) -> list[list]:
    folder.mkdir(parents=True, exist_ok=True)
    all_events = []
    for i in range(count):
        samples, events = tone_scene(seed + i)
        sf.write(folder / f"scene{i}.wav", samples, RATE)
        (folder / f"scene{i}.tsv").write_text("".join(f"{a}\t{b}\t{lab}\n" for a, b, lab in events))
        all_events.append(events)
    return all_events


def toy_model(labels=("beep", "chirp"), window_s: float = 1.0, seed: int = 0, **decoding) -> EventModel:
    torch.manual_seed(seed)
    model = EventModel(EventModelConfig(backbone_config=dict(TOY_BACKBONE), labels=tuple(labels),
                                        window_s=window_s, decoding=decoding, name="toy-events"))
    return model.eval()


# --- prompts ---------------------------------------------------------------------------------------------

def test_label_text_reads_digits_and_separators():
    assert label_text("syllable_3") == "syllable three"
    assert label_text("Dog-bark") == "dog bark"
    assert prompt_ids("syllable_3") != prompt_ids("syllable_4")


def test_labels_that_read_the_same_are_refused():
    check_labels(["syllable_1", "syllable_2"])
    with pytest.raises(UsageError, match="read the same"):
        check_labels(["dog_bark", "dog-bark"])
    with pytest.raises(UsageError, match="no letters"):
        check_labels(["???"])


# --- decoding --------------------------------------------------------------------------------------------

def _channels(T: int, events: list[tuple[int, int]], dt: float) -> np.ndarray:
    """Activity 0.95 inside events, onset/offset intensity bumps holding one expected event each."""
    values = np.zeros((T, 3))
    values[:, 0] = 0.02
    k = np.arange(T)
    for a, b in events:
        values[a:b, 0] = 0.95
        for c, centre in ((1, a), (2, b - 1)):
            bump = np.exp(-0.5 * ((k - centre) / 1.0) ** 2)
            values[:, c] += bump / (bump.sum() * dt)
    return values


def test_decode_events_recovers_adjacent_events_and_their_intervals():
    dt = 0.005
    truth = [(20, 40), (41, 60), (100, 130)]  # the first two touch (a trill)
    grid = FrameGrid(dt, 200)
    items = decode_events(_channels(200, truth, dt), grid, "x", DecodeConfig())
    assert len(items) == 3
    for item, (a, b) in zip(items, truth):
        assert abs(item.start_s - grid.center_s(a)) < 1e-9
        assert abs(item.end_s - grid.center_s(b - 1)) < 1e-9
        assert item.start_ci_s[0] <= item.start_s <= item.start_ci_s[1]
        assert item.end_ci_s[0] <= item.end_s <= item.end_ci_s[1]
        assert item.start_ci_s[1] - item.start_ci_s[0] < 0.03
        assert item.confidence > 0.9


def test_decode_events_ignores_weak_peaks_and_adds_unmarked_activity():
    dt = 0.01
    values = np.zeros((100, 3))
    values[:, 1] = 0.5  # flat: 0.005 expected onsets per frame, no peak with mass
    values[30:50, 0] = 0.9  # sounding, but the onset channel says nothing
    items = decode_events(values, FrameGrid(dt, 100), "x", DecodeConfig())
    assert len(items) == 1 and abs(items[0].start_s - 0.305) < 1e-9
    assert pick_onsets(values[:, 1], dt, DecodeConfig()) == []



def test_offset_until_quiet_keeps_a_later_sounds_offset_from_stretching_an_event():
    dt = 0.02
    grid = FrameGrid(dt, 300)
    values = _channels(300, [(50, 100)], dt)
    values[:, 2] = 0.0
    bump = np.exp(-0.5 * ((np.arange(300) - 200) / 1.0) ** 2)
    values[:, 2] = bump / (bump.sum() * dt)  # the only offset evidence: 2 s after the sound has stopped
    loose = decode_events(values, grid, "x", DecodeConfig(min_gap_s=0.2, max_duration_s=30.0))
    assert loose == []  # stretched to frame 200 its mean activity falls below the threshold: lost
    tight = decode_events(values, grid, "x", DecodeConfig(min_gap_s=0.2, max_duration_s=30.0, offset_until_quiet=True))
    assert len(tight) == 1 and abs(tight[0].start_s - grid.center_s(50)) < 1e-9
    assert abs(tight[0].end_s - grid.center_s(100)) <= dt + 1e-9 and tight[0].confidence > 0.9



def test_onset_first_starts_an_event_at_its_first_beep_not_its_loudest():
    dt = 0.02
    k = np.arange(200)
    onset = np.zeros(200)
    for centre, mass in ((20, 1.0), (60, 0.6), (75, 1.5)):  # an earlier event; then a soft first beep, a loud one
        bump = np.exp(-0.5 * ((k - centre) / 1.0) ** 2)
        onset += mass * bump / (bump.sum() * dt)
    loudest = pick_onsets(onset, dt, DecodeConfig(min_gap_s=0.5, onset_mass=0.5))
    assert loudest == [20, 75]  # 60 is shut out by the louder peak 15 frames later
    first = pick_onsets(onset, dt, DecodeConfig(min_gap_s=0.5, onset_mass=0.5, onset_first=True))
    assert first == [20, 60]
    # never closer than min_gap_s to the onset before it, and never to a peak without enough mass
    assert pick_onsets(onset, dt, DecodeConfig(min_gap_s=0.9, onset_mass=0.5, onset_first=True)) == [20, 75]
    assert pick_onsets(onset, dt, DecodeConfig(min_gap_s=0.5, onset_mass=0.7, onset_first=True)) == [20, 75]

def test_merge_gap_joins_a_sound_with_pauses_into_one_event():
    dt = 0.02
    grid = FrameGrid(dt, 300)
    beeps = [(50, 80), (95, 125), (140, 170), (240, 270)]  # three beeps 0.3 s apart, then one 1.4 s later
    values = _channels(300, beeps, dt)
    apart = decode_events(values, grid, "x", DecodeConfig(min_gap_s=0.1))
    assert len(apart) == 4
    joined = decode_events(values, grid, "x", DecodeConfig(min_gap_s=0.1, merge_gap_s=0.5))
    assert len(joined) == 2
    assert (joined[0].start_s, joined[0].start_ci_s) == (apart[0].start_s, apart[0].start_ci_s)
    assert (joined[0].end_s, joined[0].end_ci_s) == (apart[2].end_s, apart[2].end_ci_s)
    assert 0.5 < joined[0].confidence < 0.95  # the pauses count in its mean activity
    assert joined[1] == apart[3]

def test_exclusive_labels_decode_as_one_stream_and_take_the_likeliest_label():
    dt = 0.005
    grid = FrameGrid(dt, 200)
    both = _channels(200, [(20, 40), (41, 60)], dt)
    # label a holds the first event, b the second, each with half the onset/offset mass of both
    a, b = both.copy(), both.copy()
    a[:, 1:] *= 0.5
    b[:, 1:] *= 0.5
    a[41:60, 0], b[20:40, 0] = 0.3, 0.3
    a[20:40, 0], b[41:60, 0] = 0.6, 0.6
    a[60:, 0] = b[60:, 0] = a[:20, 0] = b[:20, 0] = 0.01
    values = np.stack([a, b])
    items = decode_exclusive(values, grid, ["a", "b"], DecodeConfig(exclusive=True))
    assert [it.label for it in items] == ["a", "b"]
    assert abs(items[1].start_s - grid.center_s(41)) < 1e-9 and items[0].confidence == pytest.approx(0.6, abs=0.02)


# --- scoring ---------------------------------------------------------------------------------------------

def test_matching_is_one_to_one_and_maximal():
    # a greedy nearest match would pair 0.10-0.11 and leave 0.09 and 0.125 unmatched
    pairs = matched_pairs(np.array([0.10, 0.125]), np.array([0.09, 0.11]), 0.02)
    assert len(pairs) == 2
    assert matched_pairs(np.array([0.1]), np.array([0.2]), 0.02) == []


def test_score_file_tolerances_labels_and_regions():
    ref = [Event("a", 1.0, 1.1), Event("b", 1.2, 1.3), Event("a", 1.4, 1.5), Event("c", 5.0, 5.1)]
    shifted = [Event(e.label, e.start_s + 0.03, e.end_s + 0.03) for e in ref]
    regions = [(0.5, 2.0)]  # the event at 5 s lies outside the annotated bout
    same = score_file(ref, ref, regions)
    assert same.n_ref == 3 and same.f1(0.02) == 1.0 and same.syllable_error_rate == 0.0
    late = score_file(ref, shifted, regions)
    assert late.f1(0.02) == 0.0 and late.f1(0.05) == 1.0 and late.offset_accuracy(0.05) == 1.0
    relabelled = [Event("b" if e.label == "a" else e.label, e.start_s, e.end_s) for e in ref]
    wrong = score_file(ref, relabelled, regions)
    assert wrong.f1(0.02) == 1.0 and wrong.f1(0.02, labelled=True) == pytest.approx(2 * 1 / 6)
    assert wrong.syllable_error_rate == pytest.approx(2 / 3)
    assert edit_distance(list("abc"), list("axcd")) == 2
    with_ci = [Event(e.label, e.start_s + 0.01, e.end_s, (e.start_s - 0.005, e.start_s + 0.02)) for e in ref[:2]]
    with_ci.append(Event("a", 1.41, 1.5, (1.405, 1.42)))  # its interval misses the reference onset 1.40
    counts = score_file(ref, with_ci, regions)
    assert (counts.ci_matched, counts.ci_inside) == (3, 2) and counts.summary()["onsets_inside_ci"] == 0.6667


def test_in_regions_groups_by_midpoint():
    events = [Event("a", 0.9, 1.2), Event("a", 1.95, 2.2), Event("a", 3.0, 3.1)]
    groups = in_regions(events, [(1.0, 2.0), (2.0, 2.5)])
    assert [len(g) for g in groups] == [1, 1]


def test_energy_baseline_finds_tones_and_learns_their_labels(tmp_path):
    from frametool.training.events_train import Recording

    recordings = []
    for seed in range(4):
        samples, events = tone_scene(seed)
        recordings.append(Recording(f"r{seed}", samples, events, [(0.0, len(samples) / RATE)]))
    baseline = EnergyBaseline().fit(recordings[:3])
    samples, events = tone_scene(3)
    found = baseline.detect(samples)
    counts = score_file([Event(lab, a, b) for a, b, lab in events], found)
    assert counts.f1(0.02) > 0.9
    assert counts.syllable_error_rate < 0.2
    assert energy_segments(band_energy_db(np.zeros(RATE, dtype=np.float32)), EnergyParams()) == []


# --- importers -------------------------------------------------------------------------------------------

def test_import_tsv_audacity_raven_and_textgrid(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a", "b", "c"):
        sf.write(corpus / f"{name}.wav", np.zeros(RATE * 2, dtype=np.float32), RATE)
    (corpus / "a.tsv").write_text("0.1\t0.2\tcall\n0.5\t0.7\tsong\n")
    (corpus / "b.txt").write_text("0.3\t0.4\tcall\n\\\t200.0\t3000.0\n")  # Audacity, with a frequency line
    (corpus / "manifest.jsonl").write_text(json.dumps({"id": "a", "annotated_sequences": [[0.0, 1.0]]}) + "\n")
    report = import_event_corpus(corpus, "events-tsv")
    rows = {r["id"]: r for r in report.rows}
    assert rows["a"]["events"] == [[0.1, 0.2, "call"], [0.5, 0.7, "song"]]
    assert rows["a"]["regions"] == [[0.0, 1.0]] and rows["b"]["regions"] is None
    assert rows["b"]["events"] == [[0.3, 0.4, "call"]]
    assert [Path(p).name for p, _ in report.failures] == ["c.wav"]
    written = write_event_import(report, tmp_path / "out", dev_files=1, seed=0)
    back = read_event_manifest(written["train.jsonl"]) + read_event_manifest(written["dev.jsonl"])
    assert sorted(r["id"] for r in back) == ["a", "b"]
    assert (tmp_path / "out" / "failures.tsv").read_text().count("\n") == 2

    raven = tmp_path / "raven.txt"
    raven.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
                     "1\tWaveform 1\t1\t0.1\t0.2\tchip\n1\tSpectrogram 1\t1\t0.1\t0.2\tchip\n"
                     "2\tSpectrogram 1\t1\t0.5\t0.9\ttrill\n")
    assert read_raven_events(raven) == [(0.1, 0.2, "chip"), (0.5, 0.9, "trill")]
    with pytest.raises(InputError, match="label column"):
        read_raven_events(raven, "Species")

    from praatio import textgrid

    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier("events", [(0.2, 0.4, "dog")], 0, 2.0))
    grid.save(str(corpus / "c.TextGrid"), format="long_textgrid", includeBlankSpaces=True)
    rows = {r["id"]: r for r in import_event_corpus(corpus, "textgrid-events").rows}
    assert rows["c"]["events"] == [[0.2, 0.4, "dog"]]


def test_import_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "x.tsv"
    bad.write_text("0.1\t0.2\tcall\nzero\t0.3\tcall\n")
    with pytest.raises(InputError) as info:
        read_tsv_events(bad)
    assert str(info.value.path) == str(bad) and "line 2" in info.value.problem
    corpus = tmp_path / "c"
    corpus.mkdir()
    sf.write(corpus / "x.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (corpus / "x.tsv").write_text("0.5\t3.0\tcall\n0.9\t0.8\tcall\n")
    report = import_event_corpus(corpus, "events-tsv")
    assert not report.rows and "outside the audio" in report.failures[0][1]


# --- the model -------------------------------------------------------------------------------------------

def test_window_starts_cover_the_recording():
    assert window_starts(50, 100, 66) == [0]
    starts = window_starts(1000, 100, 66)
    assert starts[0] == 0 and starts[-1] == 900 and all(b - a <= 66 for a, b in zip(starts, starts[1:]))


def test_event_model_round_trip_and_windows(tmp_path):
    model = toy_model(window_s=1.0)
    samples, _ = tone_scene(1, duration_s=3.3)
    values, grid = event_channels(model, samples, ["beep", "chirp"])
    assert values.shape == (2, grid.num_frames, 3) and np.isfinite(values).all()
    assert ((values[..., 0] > 0) & (values[..., 0] < 1)).all()
    save_event_model(model, tmp_path / "m", dtype=torch.float16)
    again = load_event_model(str(tmp_path / "m"))
    values16, _ = event_channels(again, samples, ["beep", "chirp"])
    assert np.allclose(values[..., 0], values16[..., 0], atol=2e-2)
    # one window holding the whole recording gives the same frames the windows gave at their centres
    whole = toy_model(window_s=10.0)
    whole.load_state_dict(model.state_dict())
    values_whole, _ = event_channels(whole, samples, ["beep", "chirp"])
    assert values_whole.shape == values.shape
    with pytest.raises(UsageError, match="knows no event"):
        detect(model, samples, ["siren"])


def test_load_event_model_refuses_an_align_model():
    from frametool.errors import ModelError

    with pytest.raises(ModelError, match="not trained for `events`"):
        load_event_model("tiny-align")


def test_training_learns_tone_events(tmp_path):
    """A few dozen steps on tone scenes: the loss falls and the best checkpoint loads and detects."""
    from frametool.training.event_import import import_event_corpus, write_event_import
    from frametool.training.events_train import load_event_recipe, train_events

    write_scene_corpus(tmp_path / "corpus", 6)
    written = write_event_import(import_event_corpus(tmp_path / "corpus", "events-tsv"), tmp_path / "data",
                                 dev_files=1, seed=0)
    recipe = tmp_path / "r.toml"
    backbone = ", ".join(f"{k} = {json.dumps(v)}" for k, v in TOY_BACKBONE.items())
    recipe.write_text(f"""[train]
task = "events"
train_manifest = "{written['train.jsonl']}"
dev_manifest = "{written['dev.jsonl']}"
out_dir = "{tmp_path / 'run'}"
steps = 60
lr = 3e-3
warmup_steps = 5
crops_per_step = 4
window_s = 1.0
conditioning = "query"
eval_every = 30
save_every = 30
threads = 1
[backbone]
{backbone.replace(', ', chr(10))}
""")
    lines: list[str] = []
    best = train_events(load_event_recipe(recipe), log=lines.append)
    model = load_event_model(str(best))
    assert model.config.labels == ("beep", "chirp") and model.config.task == "events"
    assert any("dev onset F1" in line for line in lines)
    assert any(line.startswith("decoding chosen on dev") for line in lines)
    assert set(model.config.decoding) == {"min_gap_s", "onset_mass", "activity"}  # stored with the model
    losses = [float(line.split(" onset ")[1].split()[0]) for line in lines if line.startswith("step")]
    assert len(losses) == 2 and losses[1] < losses[0] - 1.0  # the onset NLL falls between the evaluations



def test_zero_steps_only_chooses_the_decoding_of_the_start_model(tmp_path):
    """steps = 0: the start model's weights are kept as they are; only its thresholds are chosen on dev, over
    the recipe's grid."""
    from safetensors.torch import load_file

    from frametool.training.event_import import import_event_corpus, write_event_import
    from frametool.training.events_train import load_event_recipe, train_events

    write_scene_corpus(tmp_path / "corpus", 3)
    written = write_event_import(import_event_corpus(tmp_path / "corpus", "events-tsv"), tmp_path / "data",
                                 dev_files=1, seed=0)
    start = tmp_path / "start"
    save_event_model(toy_model(window_s=1.0), start)
    recipe = tmp_path / "r.toml"
    body = f"""[train]
task = "events"
train_manifest = "{written['train.jsonl']}"
dev_manifest = "{written['dev.jsonl']}"
out_dir = "{tmp_path / 'run'}"
init_from = "{start}"
steps = 0
window_s = 1.0
threads = 1
[decoding_grid]
min_gap_s = [0.05, 2.5]
onset_mass = [0.5]
activity = [0.5]
"""
    recipe.write_text(body)
    lines: list[str] = []
    best = train_events(load_event_recipe(recipe), log=lines.append)
    assert not any(line.startswith("step ") for line in lines)  # nothing trained
    before, after = load_file(str(start / "model.safetensors")), load_file(str(best / "model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    chosen = load_event_model(str(best)).config.decoding
    assert chosen["min_gap_s"] in (0.05, 2.5) and chosen["onset_mass"] == 0.5
    recipe.write_text(body.replace(f'init_from = "{start}"\n', ""))
    with pytest.raises(UsageError, match="needs init_from"):
        train_events(load_event_recipe(recipe), log=lines.append)


# --- the CLI ---------------------------------------------------------------------------------------------

@pytest.fixture()
def toy_model_dir(tmp_path) -> Path:
    folder = tmp_path / "toy-model"
    save_event_model(toy_model(window_s=1.0), folder)
    return folder


def test_events_cli_writes_outputs_resumes_and_records_failures(tmp_path, toy_model_dir):
    corpus = tmp_path / "scenes"
    write_scene_corpus(corpus, 2)
    sf.write(corpus / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["events", str(corpus), "--model", str(toy_model_dir), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output  # one file failed, the others landed
    doc = json.loads((out / "scene0.json").read_text())
    assert doc["task"] == "events" and doc["model"] == "toy-events" and doc["duration_s"] == 4.0
    for item in doc["items"]:
        assert set(item) >= {"label", "start_s", "end_s", "start_ci_s", "end_ci_s", "confidence"}
        assert item["label"] in ("beep", "chirp") and item["start_s"] <= item["end_s"]
    failures = (out / "failures.tsv").read_text()
    assert "empty.wav" in failures and "0.0 s long" in failures
    again = runner.invoke(app, ["events", str(corpus), "--model", str(toy_model_dir), "--out", str(out)])
    assert "skipped 2" in again.output
    tsv = runner.invoke(app, ["events", str(corpus / "scene1.wav"), "--model", str(toy_model_dir), "--out",
                              str(tmp_path / "tsv"), "--format", "tsv", "--event", "beep"])
    assert tsv.exit_code == 0, tsv.output
    header, *rows = (tmp_path / "tsv" / "scene1.tsv").read_text().splitlines()
    assert header.split("\t")[:5] == ["file", "tier", "label", "start_s", "end_s"]
    assert all(r.split("\t")[2] == "beep" for r in rows)
    stdout = runner.invoke(app, ["events", str(corpus / "scene1.wav"), "--model", str(toy_model_dir)])
    assert stdout.exit_code == 0 and json.loads(stdout.stdout.splitlines()[0])["task"] == "events"


def test_events_cli_usage_errors(tmp_path, toy_model_dir):
    runner = CliRunner()
    listed = runner.invoke(app, ["events", "--model", str(toy_model_dir), "--list-events"])
    assert listed.exit_code == 0 and listed.stdout.split() == ["beep", "chirp"]
    samples, _ = tone_scene(0)
    sf.write(tmp_path / "a.wav", samples, RATE)
    unknown = runner.invoke(app, ["events", str(tmp_path / "a.wav"), "--model", str(toy_model_dir),
                                  "--event", "siren", "--out", str(tmp_path / "o")])
    assert unknown.exit_code == 2 and "knows no event 'siren'" in unknown.output
    assert not list((tmp_path / "o").glob("*.json"))
    align_model = runner.invoke(app, ["events", str(tmp_path / "a.wav"), "--model", "tiny-align"])
    assert align_model.exit_code == 2 and "not trained for `events`" in align_model.output


def test_two_hour_recording_in_one_call(tmp_path):
    """A 2-hour file is read in windows with bounded memory: every frame gets channels."""
    backbone = {**TOY_BACKBONE, "feature_hop_s": 0.02, "n_fft": 400, "d_model": 16}
    torch.manual_seed(0)
    model = EventModel(EventModelConfig(backbone_config=backbone, labels=("beep",), window_s=30.0)).eval()
    samples = np.zeros(2 * 3600 * RATE, dtype=np.float32)
    samples[RATE * 3600: RATE * 3600 + 1600] = 0.3
    values, grid = event_channels(model, samples, ["beep"], batch_windows=32)
    assert grid.duration_s >= 7200 and values.shape[1] == grid.num_frames
    assert np.isfinite(values).all() and (values[0, :-2, 0] > 0).all()


def test_bench_events_cli_scores_model_and_baseline(tmp_path, toy_model_dir):
    corpus, reference = tmp_path / "eval", tmp_path / "ref"
    write_scene_corpus(corpus, 2, seed=10)
    reference.mkdir()
    for tsv in corpus.glob("*.tsv"):
        tsv.rename(reference / tsv.name)
    train = tmp_path / "train"
    write_scene_corpus(train, 3, seed=20)
    written = write_event_import(import_event_corpus(train, "events-tsv"), tmp_path / "data")
    result = CliRunner().invoke(app, ["bench", "events", str(corpus), "--reference", str(reference), "--model",
                                      str(toy_model_dir), "--baseline-train", str(written["manifest.jsonl"]),
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["energy baseline"]["onset_f1_20ms"] > 0.9
    assert 0.0 <= report["frametool"]["onset_f1_20ms"] <= 1.0
    assert "| onset F1 @20 ms |" in result.stdout


def test_align_refuses_an_event_model(toy_model_dir):
    from frametool.errors import ModelError
    from frametool.model import load_model

    with pytest.raises(ModelError, match="trained for `events`"):
        load_model(str(toy_model_dir))


def test_every_events_flag_reaches_its_config(tmp_path, toy_model_dir, monkeypatch):
    import frametool.cli as cli

    seen = {}

    def fake_run(config, inputs, model):
        seen.update(config=config, inputs=inputs, model=model)
        return 0

    monkeypatch.setattr(cli, "run_events", fake_run)
    result = CliRunner().invoke(app, ["events", "a.wav", "b/", "--model", str(toy_model_dir), "--event", "beep",
                                      "-e", "chirp", "--out", str(tmp_path / "o"), "--format", "CSV", "--device",
                                      "cpu", "--jobs", "3", "--overwrite"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert seen["inputs"] == ["a.wav", "b/"] and seen["model"].config.name == "toy-events"
    assert (config.labels, config.out, config.format, config.device, config.jobs, config.overwrite) == (
        ("beep", "chirp"), str(tmp_path / "o"), "csv", "cpu", 3, True)
    bad = CliRunner().invoke(app, ["events", "a.wav", "--model", str(toy_model_dir), "--format", "textgrid"])
    assert bad.exit_code == 2 and "--format must be one of json, tsv, csv" in bad.output


def test_import_cli_for_event_layouts(tmp_path):
    corpus = tmp_path / "scenes"
    write_scene_corpus(corpus, 3)
    runner = CliRunner()
    ok = runner.invoke(app, ["import", str(corpus), "--format", "events-tsv", "--out", str(tmp_path / "m"),
                             "--dev-files", "1"])
    assert ok.exit_code == 0, ok.output
    assert "imported 3 recordings" in ok.output and (tmp_path / "m" / "dev.jsonl").read_text().count("\n") == 1
    too_many = runner.invoke(app, ["import", str(corpus), "--format", "events-tsv", "--out", str(tmp_path / "n"),
                                   "--dev-files", "3"])
    assert too_many.exit_code == 2 and "--dev-files 3" in too_many.output
    assert not (tmp_path / "n" / "manifest.jsonl").exists()
    none = runner.invoke(app, ["import", str(corpus), "--format", "raven", "--out", str(tmp_path / "r")])
    assert none.exit_code == 2 and "no usable recording" in none.output and "no annotation file" in none.output


def test_event_recipe_paths_are_relative_to_it_and_init_from_may_name_a_bundled_model(tmp_path):
    from frametool.training.events_train import load_event_recipe, recipe_task

    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\ntask = "events"\ntrain_manifest = "d/train.jsonl"\ndev_manifest = "d/dev.jsonl"\n'
                      'out_dir = "run"\ninit_from = "bengalese-finch"\n')
    config = load_event_recipe(recipe, ["steps=7"])
    assert recipe_task(recipe) == "events" and config.steps == 7
    assert config.train_manifest == str((tmp_path / "d" / "train.jsonl").resolve())
    assert config.init_from == "bengalese-finch"
    recipe.write_text('[train]\ntask = "events"\nsteps = [\n')
    with pytest.raises(UsageError, match=str(recipe)):
        recipe_task(recipe)
