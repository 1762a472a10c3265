"""Every flag reaches its config field; usage errors exit 2; --help does not import torch."""
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frametool import cli
from frametool.config import DEFAULT_MODEL, AlignConfig

runner = CliRunner()


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def fake_run_align(config):
        seen["config"] = config
        return 0

    monkeypatch.setattr(cli, "run_align", fake_run_align)
    return seen


def test_align_flags_reach_config(captured, tmp_path):
    result = runner.invoke(cli.app, [
        "align", "corpus_dir", "--out", "outdir", "--transcripts", str(tmp_path), "--format", "CSV",
        "--model", "mymodel", "--device", "cpu", "--batch-size", "3", "--jobs", "2", "--overwrite",
        "--decode", "mode", "--confidence-tier", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert captured["config"] == AlignConfig(
        corpus="corpus_dir", out="outdir", transcripts=tmp_path, format="csv", model="mymodel", device="cpu",
        batch_size=3, jobs=2, overwrite=True, decode="mode", confidence_tier=True, workers=2)


def test_align_defaults(captured):
    assert runner.invoke(cli.app, ["align", "c", "-o", "-"]).exit_code == 0
    config = captured["config"]
    assert (config.format, config.decode, config.model, config.overwrite, config.batch_size, config.jobs) == \
        ("textgrid", "median", DEFAULT_MODEL, False, 1, 0)


@pytest.mark.parametrize("args", [
    ["--format", "xml"], ["--decode", "mean"], ["--device", "tpu"], ["--batch-size", "0"], ["--workers", "0"],
    ["--workers", "2", "--device", "cuda"]])
def test_bad_usage_exits_2(captured, args):
    result = runner.invoke(cli.app, ["align", "c", "--out", "o", *args])
    assert result.exit_code == 2
    assert "config" not in captured


def test_missing_corpus_exits_2(tmp_path):
    result = runner.invoke(cli.app, ["align", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_events_and_diarize_say_no_model(tmp_path):
    result = runner.invoke(cli.app, ["diarize", str(tmp_path / "a.wav")])
    assert result.exit_code == 2 and "diarize" in result.output
    result = runner.invoke(cli.app, ["events", str(tmp_path / "a.wav"), "--event", "cough"])
    assert result.exit_code == 2 and "events" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from frametool.cli import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_rejects_unknown_recipe_keys(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\ntrain_manifest = "a"\ndev_manifest = "b"\nout_dir = "c"\nbogus = 1\n')
    result = runner.invoke(cli.app, ["train", str(recipe)])
    assert result.exit_code == 2 and "bogus" in result.output


def test_train_overrides_reach_config(tmp_path):
    from frametool.training.train import load_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\ntrain_manifest = "a"\ndev_manifest = "b"\nout_dir = "c"\n[backbone]\nd_model = 64\n')
    config = load_recipe(recipe, ["steps=7", "lr=0.5", "name=x"])
    assert (config.steps, config.lr, config.name, config.backbone) == (7, 0.5, "x", {"d_model": 64})
    assert Path(config.out_dir) == (tmp_path / "c").resolve()


@pytest.mark.slow
def test_train_runs_a_few_steps_on_cpu(tmp_path):
    """A real (tiny) training run on a generated corpus: `frametool train` end to end."""
    from frametool.synth.generate import SynthConfig, generate
    from frametool.training.train import load_recipe, train

    manifest = generate(SynthConfig(tmp_path / "data", split="dev", hours=60 / 3600, num_voices=2, seed=0, jobs=1))
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{manifest}"\ndev_manifest = "{manifest}"\n'
                      f'out_dir = "{tmp_path / "run"}"\nsteps = 3\neval_every = 3\nsave_every = 3\n'
                      'device = "cpu"\n[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\n')
    best = train(load_recipe(recipe), log=lambda line: None)
    assert (best / "model.safetensors").exists() and (best / "config.json").exists()


def test_synth_flags_reach_config(monkeypatch, tmp_path):
    from frametool.synth import generate as generate_module

    seen = {}
    monkeypatch.setattr(generate_module, "generate", lambda config: seen.setdefault("config", config) and "m")
    result = runner.invoke(cli.app, ["synth", str(tmp_path), "--split", "test", "--hours", "0.5", "--voices", "7",
                                     "--seed", "3", "--clean", "--jobs", "4", "--max-words", "60",
                                     "--engines", "festival"])
    assert result.exit_code == 0, result.output
    c = seen["config"]
    assert (c.out_dir, c.split, c.hours, c.num_voices, c.seed, c.augment, c.jobs, c.max_words, c.engines) == \
        (tmp_path, "test", 0.5, 7, 3, False, 4, 60, ("festival",))
    assert runner.invoke(cli.app, ["synth", str(tmp_path), "--engines", "flute"]).exit_code == 2


def test_train_recipe_extra_manifests_and_save_dtype(tmp_path):
    from frametool.training.train import load_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\ntrain_manifest = "a"\ndev_manifest = "b"\nout_dir = "c"\n')
    config = load_recipe(recipe, ["extra_manifests=x/m.jsonl,/abs/n.jsonl", "save_dtype=float16"])
    assert config.extra_manifests == (str((tmp_path / "x/m.jsonl").resolve()), "/abs/n.jsonl")
    assert config.save_dtype == "float16"


def test_bench_speed_flags_and_json(monkeypatch, tmp_path):
    import json

    from frametool.bench import speed

    seen = {}

    def fake(model, repeats, sizes):
        seen.update(model=model, repeats=repeats, sizes=sizes)
        return {"model": model, "threads": 1, "peak_rss_mb": 1.0,
                "rows": [{"bucket": "26+", "timestamps": 30, "batch_size": 1, "audio_s": 13.0, "answer_chars": 187,
                          "frame_s": 0.01, "token_s": 0.5, "speedup": 50.0, "frame_rtf": 0.001, "token_rtf": 0.04}]}

    monkeypatch.setattr(speed, "run_speed", fake)
    result = runner.invoke(cli.app, ["bench", "speed", "--model", "m", "--repeats", "2", "--batch-sizes", "1,16",
                                     "--json"])
    assert result.exit_code == 0, result.output
    assert seen == {"model": "m", "repeats": 2, "sizes": (1, 16)}
    last = json.loads(result.output.strip().splitlines()[-1])
    assert {"bucket", "batch_size", "frame_s", "token_s", "speedup"} <= set(last["rows"][0])
    assert runner.invoke(cli.app, ["bench", "speed", "--batch-sizes", "x"]).exit_code == 2
