"""End to end on the Qwen2.5-Omni backbone at toy size: `frametool train` a few steps from a recipe that
points at a toy thinker folder, then `frametool align` a small corpus with the trained run."""
import json

import soundfile as sf
import torch
from praatio import textgrid
from typer.testing import CliRunner

from frametool import cli
from tests.conftest import tone_speech

runner = CliRunner()
TRANSCRIPTS = ["one two three", "red green", "alpha bravo charlie delta"]


def _corpus(folder):
    """Tone bursts with .lab transcripts (speaker folders), and a manifest whose words share the time evenly."""
    rows = []
    for k, text in enumerate(TRANSCRIPTS):
        duration_s = 1.2 + 0.4 * k
        wav = folder / f"spk{k % 2}" / f"utt{k}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, tone_speech(duration_s, seed=k), 16000)
        wav.with_suffix(".lab").write_text(text + "\n")
        words = text.split()
        step = duration_s / len(words)
        rows.append({"audio": str(wav.relative_to(folder)), "transcript": text, "duration_s": duration_s,
                     "words": [{"label": w, "start_s": i * step + 0.05, "end_s": (i + 1) * step - 0.05}
                               for i, w in enumerate(words)]})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "manifest.jsonl"


def test_train_then_align_a_corpus_on_a_toy_qwen_thinker(tmp_path):
    from frametool.backbones.qwen_shapes import make_toy_checkpoint

    torch.set_num_threads(1)
    make_toy_checkpoint(tmp_path / "toy-thinker")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    manifest = _corpus(corpus)
    recipe = tmp_path / "qwen.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{manifest}"\ndev_manifest = "{manifest}"\nout_dir = "run"\n'
                      'name = "toy-qwen-align"\nsteps = 3\nwarmup_steps = 1\nlr = 1e-3\nbatch_seconds = 4.0\n'
                      'eval_every = 3\nsave_every = 3\ndev_limit = 3\nthreads = 1\ndevice = "cpu"\n'
                      '[backbone]\nkind = "qwen2.5-omni"\nmodel_path = "toy-thinker"\n')  # relative to the recipe
    trained = runner.invoke(cli.app, ["train", str(recipe)])
    assert trained.exit_code == 0, trained.output
    best = tmp_path / "run" / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["backbone"] == "qwen2.5-omni" and config["frame_shift_s"] == 0.04
    assert (best / "thinker" / "model.safetensors").is_file()  # full fine-tuning: its own thinker

    out = tmp_path / "aligned"
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out), "--model", str(best), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for k, text in enumerate(TRANSCRIPTS):
        grid = textgrid.openTextgrid(str(out / f"spk{k % 2}" / f"utt{k}.TextGrid"), includeEmptyIntervals=True)
        words = grid.getTier("words")
        labelled = [e for e in words.entries if e.label]
        assert [e.label for e in labelled] == text.split()
        edges = [t for e in labelled for t in (e.start, e.end)]
        assert edges == sorted(edges)  # monotonic, non-overlapping word intervals
        assert abs(grid.maxTimestamp - (1.2 + 0.4 * k)) < 1e-3


def test_a_qwen_recipe_without_model_path_is_refused(tmp_path):
    (tmp_path / "m.jsonl").write_text("")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "m.jsonl"}"\ndev_manifest = "{tmp_path / "m.jsonl"}"\n'
                      f'out_dir = "{tmp_path / "run"}"\n[backbone]\nkind = "qwen2.5-omni"\n')
    result = runner.invoke(cli.app, ["train", str(recipe)])
    assert result.exit_code == 2 and "model_path" in result.output


def test_the_shipped_qwen_recipes_and_accelerate_configs_read():
    import pytest

    from frametool.backbones.qwen_omni import QwenConfig
    from frametool.training.train import backbone_of, load_recipe
    from tests.conftest import REPO

    recipes = sorted((REPO / "recipes").glob("qwen-*.toml"))
    assert recipes
    for recipe in recipes:
        kind, fields = backbone_of(load_recipe(recipe))
        assert kind == "qwen2.5-omni" and QwenConfig(**fields).model_path
    yaml = pytest.importorskip("yaml")
    configs = sorted((REPO / "recipes" / "accelerate").glob("*.yaml"))
    assert {yaml.safe_load(c.read_text())["distributed_type"] for c in configs} == {"MULTI_GPU", "FSDP"}
