"""Training under `accelerate launch`: two CPU processes (DDP over gloo) of the tiny model, a few steps.

`accelerate launch --cpu` starts one process per machine (several need mpirun); torchrun-style processes on
one CPU machine come from `--multi_gpu` with the recipe's device = "cpu" (Accelerate then uses gloo)."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, noise_manifest

pytest.importorskip("accelerate")


def _recipe(tmp_path, **train) -> str:
    manifest = noise_manifest(tmp_path, 8)
    lines = {"train_manifest": f'"{manifest}"', "dev_manifest": f'"{manifest}"', "out_dir": f'"{tmp_path / "run"}"',
             "steps": 3, "warmup_steps": 1, "batch_seconds": 2.0, "max_batch_size": 1, "eval_every": 100,
             "save_every": 100, "dev_limit": 1, "threads": 1, "device": '"cpu"', "data_log": "true", **train}
    text = "[train]\n" + "".join(f"{k} = {v}\n" for k, v in lines.items())
    text += "[backbone]\nd_model = 16\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\nff_mult = 2\n"
    path = tmp_path / "ddp.toml"
    path.write_text(text)
    return str(path)


def _launch(recipe: str, *overrides: str, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                           str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           "--num_cpu_threads_per_process", "1", "-m", "frametool", "train", recipe, *overrides],
                          capture_output=True, text=True, env=env, timeout=240, cwd=REPO)


def test_two_processes_train_on_different_data_end_with_the_same_weights_and_resume(tmp_path):
    recipe = _recipe(tmp_path, save_every=3)
    result = _launch(recipe)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [json.loads((tmp_path / "run" / "data-log" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [log["world_size"] for log in logs] == [2, 2]
    seen = [log["audio"] for log in logs]
    assert len(seen[0]) == len(seen[1]) == 3  # one utterance per step, three steps each
    assert not set(seen[0]) & set(seen[1])  # each rank its own share of the data
    assert logs[0]["weights_sha256"] == logs[1]["weights_sha256"]  # DDP kept the replicas equal
    seen_digest = logs[0]["weights_sha256"]
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert "2 process(es)" in result.stderr and result.stderr.count("parameters:") == 1  # only rank 0 logs
    # the saved state (model, optimizer, scheduler, step) carries a second launch on from step 3
    assert (tmp_path / "run" / "state" / "trainer.json").is_file()
    again = _launch(recipe, "steps=5", "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr and "at step 3" in again.stderr
    logs = [json.loads((tmp_path / "run" / "data-log" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(log["audio"]) for log in logs] == [2, 2]  # steps 4 and 5 only
    assert logs[0]["weights_sha256"] == logs[1]["weights_sha256"] != seen_digest


def test_batch_groups_are_shared_out_evenly():
    from frametool.training.distributed import shard

    groups = list(range(7))
    assert [shard(groups, r, 3) for r in range(3)] == [[0, 3], [1, 4], [2, 5]]  # group 6 would leave ranks unequal
    assert shard(groups, 0, 1) == groups


def test_only_a_launch_selects_the_accelerate_runtime(monkeypatch):
    from frametool.training.distributed import launched_by_accelerate

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_by_accelerate()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched_by_accelerate()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert launched_by_accelerate()


def test_one_process_accumulates_gradients_over_batches(tmp_path, monkeypatch):
    from frametool.training.train import load_recipe, train

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    lines = []
    train(load_recipe(__import__("pathlib").Path(_recipe(tmp_path, steps=2, gradient_accumulation_steps=3))),
          log=lines.append)
    log = json.loads((tmp_path / "run" / "data-log" / "rank0.json").read_text())
    assert log["world_size"] == 1 and len(log["audio"]) == 6  # 2 optimizer steps x 3 batches
    assert "1 process(es); 3 batch(es) per optimizer step" in lines
