"""benchmarks/gpu_check.py: its toy run on the CPU (as CI runs it) and the 3B shapes it builds on a GPU."""
import importlib.util
import json

import pytest
import torch

from tests.conftest import REPO


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_run_times_both_paths_and_writes_its_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OUT", str(tmp_path))
    gpu_check = _module()
    assert gpu_check.main(["--toy", "--counts", "1,3", "--batch-sizes", "1,2", "--audio-s", "2", "--repeats", "1"]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["shapes"] == "toy" and report["device"] == "cpu"
    assert [(r["batch_size"], r["timestamps"], r["new_tokens"]) for r in report["rows"]] == [
        (1, 1, 8), (1, 3, 24), (2, 1, 8), (2, 3, 24)]
    assert all(r["frame_level_ms"] > 0 and r["generate_ms"] > 0 for r in report["rows"])
    printed = capsys.readouterr().out
    assert "frame-level ms" in printed and json.loads(printed.strip().splitlines()[-1]) == report


def test_the_3b_shapes_read_30_s_of_audio_as_750_frames():
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from frametool.backbones.qwen_omni import QwenOmniBackbone
    from frametool.backbones.qwen_shapes import thinker_3b_config

    with torch.device("meta"):  # shapes only: no memory for 4.7 B parameters
        thinker = Qwen2_5OmniThinkerForConditionalGeneration._from_config(thinker_3b_config(), dtype=torch.bfloat16)
    backbone = QwenOmniBackbone(thinker)
    assert backbone.num_frames(torch.tensor([3000])).tolist() == [750]  # 25 per second
    parameters = {n: sum(p.numel() for p in m.parameters()) for n, m in thinker.model.named_children()}
    assert 3.0e9 < parameters["language_model"] < 3.2e9 and 0.6e9 < parameters["audio_tower"] < 0.7e9


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the default run would run")
def test_without_cuda_the_default_run_says_so(capsys):
    assert _module().main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err
