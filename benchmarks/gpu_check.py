"""GPU check: frame-level inference vs token generation on the Qwen2.5-Omni-3B thinker (DESIGN.md §7).

    python benchmarks/gpu_check.py            # CUDA, the real 3B shapes (random weights), bf16, 30 s of audio
    python benchmarks/gpu_check.py --toy      # the same classes at toy size, on the CPU (what CI runs)

For each batch size and number of timestamps N, it times (a) one frame-level pass: log-mel features, one
thinker forward over [prompt with N words; audio], the pointer head and the monotonic decoder; (b) the
thinker's generate() writing N timestamps as text, forced to 8 tokens per timestamp
(min_new_tokens = max_new_tokens = 8N, greedy). Weights are random: the cost of writing an answer does not
depend on what it says. Prints a table and one JSON line (also written to $OUT/gpu_check.json when OUT is
set). Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKENS_PER_TIMESTAMP = 8


def build(toy: bool, device: torch.device, dtype: torch.dtype, attn: str):
    """-> (QwenOmniBackbone over a random thinker of the chosen shapes, PointerHead)."""
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from frametool.backbones.qwen_omni import QwenOmniBackbone
    from frametool.backbones.qwen_shapes import thinker_3b_config, thinker_toy_config
    from frametool.heads.poisson import PointerHead

    config = thinker_toy_config() if toy else thinker_3b_config()
    torch.manual_seed(0)
    with torch.device(device):
        thinker = Qwen2_5OmniThinkerForConditionalGeneration._from_config(config, dtype=dtype,
                                                                          attn_implementation=attn)
        head = PointerHead(config.text_config.hidden_size, 2).to(dtype)
    return QwenOmniBackbone(thinker.eval()), head.eval()


def _batch(backbone, n_words: int, batch_size: int, audio_s: float, device, rng):
    """Noise audio and an N-word prompt of random ordinary tokens (2 per word) for every row."""
    from frametool.audio.features import log_mel_batch
    from frametool.backbones.qwen_omni import QwenBatch

    special = min(backbone.audio_token_id, backbone.audio_bos_id, backbone.audio_eos_id)
    waves = [torch.from_numpy(rng.standard_normal(int(audio_s * 16000)).astype(np.float32) * 0.1).to(device)
             for _ in range(batch_size)]
    prompts, word_last = [], []
    for _ in range(batch_size):
        ids = rng.integers(10, min(special, 150000), size=12 + 2 * n_words).tolist()
        prompts.append(ids)
        word_last.append([12 + 2 * i + 1 for i in range(n_words)])

    def make():
        feats = torch.stack(log_mel_batch(waves, backbone.config.features))  # (B, Tm, M): equal lengths
        lens = torch.full((batch_size,), feats.shape[1], dtype=torch.long)
        ids, mask, last, word_mask = backbone.build_inputs(prompts, word_last, lens, padding_side="left")
        return QwenBatch(feats, lens.to(device), ids.to(device), mask.to(device), last.to(device), word_mask.to(device))

    return make


def _timed(fn, device, repeats: int) -> float:
    """Median wall seconds of `fn` over `repeats` runs after one warm-up."""
    def once():
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeats))


def run(toy: bool, device: torch.device, counts, batch_sizes, audio_s: float, repeats: int, attn: str) -> dict:
    from frametool.decoders.monotonic import decode_words
    from frametool.framegrid import FrameGrid

    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    backbone, head = build(toy, device, dtype, attn)
    rng = np.random.default_rng(0)
    rows = []
    for batch_size in batch_sizes:
        for n in counts:
            make = _batch(backbone, n, batch_size, audio_s, device, rng)

            @torch.inference_mode()
            def frame_level():
                out = backbone(make())
                logits = head(out.words, out.frames).float().cpu()  # (B, 2, W, T)
                for b in range(batch_size):
                    T = int(out.frame_mask[b].sum())
                    decode_words(logits[b, 0, :n, :T].double().numpy(), logits[b, 1, :n, :T].double().numpy(),
                                 FrameGrid(out.frame_shift_s, T))

            new = TOKENS_PER_TIMESTAMP * n
            generated = {}

            def tokens():
                generated["ids"] = backbone.generate(make(), new, new)

            frame_s = _timed(frame_level, device, repeats)
            generate_s = _timed(tokens, device, repeats)
            assert generated["ids"].shape == (batch_size, new), generated["ids"].shape
            rows.append({"batch_size": batch_size, "timestamps": n, "new_tokens": new,
                         "frame_level_ms": round(frame_s * 1e3, 2), "generate_ms": round(generate_s * 1e3, 2),
                         "speedup": round(generate_s / frame_s, 2)})
    report = {"shapes": "toy" if toy else "Qwen2.5-Omni-3B", "device": str(device), "dtype": str(dtype).replace("torch.", ""),
              "attn_implementation": attn, "audio_s": audio_s, "tokens_per_timestamp": TOKENS_PER_TIMESTAMP,
              "repeats": repeats, "parameters_m": round(sum(p.numel() for p in backbone.parameters()) / 1e6, 1),
              "rows": rows}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
        report["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return report


def table(report: dict) -> str:
    lines = [f"{report['shapes']} thinker on {report.get('gpu', report['device'])}, {report['dtype']}, "
             f"{report['audio_s']:g} s of audio, {report['tokens_per_timestamp']} tokens per timestamp",
             f"{'batch':>5} {'N':>4} {'frame-level ms':>15} {'generate ms':>12} {'speed-up':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['batch_size']:>5} {r['timestamps']:>4} {r['frame_level_ms']:>15.1f} "
                     f"{r['generate_ms']:>12.1f} {r['speedup']:>8.1f}x")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="toy-size thinker on the CPU (for CI)")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --toy)")
    parser.add_argument("--counts", default="1,5,10,25,50", help="numbers of timestamps N")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--audio-s", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attn", default="sdpa", help="sdpa | flash_attention_2 | eager")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cpu" if args.toy else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine, or pass --toy", file=sys.stderr)
        return 2
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    from transformers.utils import logging

    logging.set_verbosity_error()
    report = run(args.toy, device, _ints(args.counts), _ints(args.batch_sizes), args.audio_s, args.repeats, args.attn)
    print(table(report))
    line = json.dumps(report)
    print(line)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ["OUT"]) / "gpu_check.json").write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
