"""`frametool bench speed`: frame-level inference vs token generation on the same backbone.

For each bucket of timestamps per answer (1-5 ... 26+) and batch size, the same inputs (synthetic audio of
a length that holds the words, a transcript of that many words) go through
- frame-level: one forward pass (backbone + pointer head) and the exact monotonic decoder -> all word times;
- token generation: the same backbone reads [prompt; audio] and writes the answer "[0.21, 0.49, ...]"
  character by character with a key/value cache (backbones/generate.py), exactly as many characters as the
  true answer has (so the timing does not depend on the baseline's weights).
Timings are medians over repeats after a warm-up, on this process's torch threads.
"""
from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from frametool.config import DEFAULT_MODEL

BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, 25), (26, 40))
BATCH_SIZES = (1, 4, 16)
WORD_S = 0.4  # seconds of audio per word in the synthetic inputs (about 150 words per minute)


@dataclass
class SpeedRow:
    bucket: str
    timestamps: int
    batch_size: int
    audio_s: float  # per item
    answer_chars: int
    frame_s: float  # per batch
    token_s: float
    speedup: float
    frame_rtf: float
    token_rtf: float


def _inputs(n_words: int, batch_size: int, rng: np.random.Generator):
    from frametool.text.normalize import tokenize

    audio_s = 1.0 + WORD_S * n_words
    waves = [(rng.standard_normal(int(audio_s * 16000)) * 0.1).astype(np.float32) for _ in range(batch_size)]
    words = ["time", "word", "speech", "sound", "frame", "audio", "model", "token"]
    tokens = [tokenize(" ".join(words[(i + b) % len(words)] for i in range(n_words))) for b in range(batch_size)]
    times = [0.5 + WORD_S * i for i in range(n_words)]
    return waves, tokens, times, audio_s


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def run_speed(model_name: str = DEFAULT_MODEL, repeats: int = 3, batch_sizes=BATCH_SIZES, buckets=BUCKETS,
              seed: int = 0) -> dict:
    from frametool.backbones.generate import AnswerHead, answer_text, encode_answer, generate
    from frametool.model import load_model, make_batch
    from frametool.tasks.align import AlignRequest, align_batch

    model = load_model(model_name)
    backbone = model.backbone
    torch.manual_seed(seed)
    answer = AnswerHead(backbone.config.d_model).eval()
    rng = np.random.default_rng(seed)
    rows = []
    for lo, hi in buckets:
        n = (lo + hi) // 2 if hi - lo < 10 else lo + 4  # 3, 8, 13, 18, 23, 30
        for batch_size in batch_sizes:
            waves, tokens, times, audio_s = _inputs(n, batch_size, rng)
            steps = len(encode_answer(answer_text(times)))
            frame_s = _median_time(lambda: align_batch(model, [AlignRequest(w, t) for w, t in zip(waves, tokens)]),
                                   repeats)

            def tokens_fn():
                batch = make_batch(waves, tokens, features=backbone.config.features)
                generate(backbone, answer, batch.feats, batch.feat_lens, batch.ids, batch.word_index, steps)

            token_s = _median_time(tokens_fn, repeats)
            rows.append(SpeedRow(f"{lo}-{hi}" if hi < 40 else f"{lo}+", n, batch_size, audio_s, steps,
                                 frame_s, token_s, token_s / frame_s,
                                 round(frame_s / (audio_s * batch_size), 5),
                                 round(token_s / (audio_s * batch_size), 5)))
    return {"model": model_name, "threads": torch.get_num_threads(), "rows": [asdict(r) for r in rows],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def table(report: dict) -> str:
    head = f"{'bucket':8s} {'n':>3s} {'batch':>5s} {'audio s':>8s} {'chars':>6s} {'frame s':>9s} {'token s':>9s} {'speedup':>8s} {'frame RTF':>10s}"
    lines = [head, "-" * len(head)]
    for r in report["rows"]:
        lines.append(f"{r['bucket']:8s} {r['timestamps']:3d} {r['batch_size']:5d} {r['audio_s']:8.1f} "
                     f"{r['answer_chars']:6d} {r['frame_s']:9.4f} {r['token_s']:9.4f} {r['speedup']:8.2f} "
                     f"{r['frame_rtf']:10.5f}")
    lines.append(f"model {report['model']}, {report['threads']} torch threads, peak RSS {report['peak_rss_mb']} MB; "
                 "times per batch (median); the token baseline writes the true answer's characters with a KV cache.")
    return "\n".join(lines)


def plot(report: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for batch_size in sorted({r["batch_size"] for r in report["rows"]}):
        rows = [r for r in report["rows"] if r["batch_size"] == batch_size]
        ax.plot([r["bucket"] for r in rows], [r["speedup"] for r in rows], marker="o", label=f"batch {batch_size}")
    ax.set_xlabel("timestamps per answer")
    ax.set_ylabel("speed-up of frame-level over token generation")
    ax.set_title(f"frametool bench speed ({report['model']}, {report['threads']} CPU threads)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
