"""The least time an aligner of the `tiny` architecture can take on a corpus: one audio-encoder + CTC pass
over all of its audio in 16 s windows, for the bundled shape and smaller ones. `frametool align` reads its
windows with 1 s of overlap on each side, so it encodes a little more than this: the result is a lower bound.

Timing does not depend on the weights, so untrained encoders of each shape are timed. Compare the result with
the wall-time budget of a benchmark (e.g. 1/5 of a peer's wall time on the same files): a shape whose pass
alone exceeds it cannot meet it, whatever the decoding costs.

    python benchmarks/encoder_floor.py CORPUS [--shapes 192x20,128x40] [--threads 2]

Each shape is D_MODEL x FRAME_MS (4 encoder layers, 4 heads). CORPUS is any folder `frametool align` reads.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from frametool.audio.features import log_mel_batch
from frametool.audio.io import TARGET_RATE_HZ, load_audio
from frametool.backbones.tiny import TinyAudioLM, TinyConfig
from frametool.tasks.corpus import discover
from frametool.tasks.long import LongConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--shapes", default="192x20,128x20,192x40,128x40")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    window = int(LongConfig().encoder_window_s * TARGET_RATE_HZ)
    pieces = []
    for item in discover(str(args.corpus)):
        samples = load_audio(item.audio).samples
        pieces += [torch.from_numpy(np.asarray(samples[a:a + window], dtype=np.float32))
                   for a in range(0, len(samples), window)]
    if not pieces:
        raise SystemExit(f"no audio found in {args.corpus}")
    audio_s = sum(len(p) for p in pieces) / TARGET_RATE_HZ
    began = time.perf_counter()
    feats = [log_mel_batch([p])[0][None] for p in pieces]
    print(f"{len(pieces)} windows, {audio_s:.1f} s of audio, {args.threads} threads; "
          f"features {time.perf_counter() - began:.3f} s")
    for shape in args.shapes.split(","):
        d_model, frame_ms = (int(v) for v in shape.split("x"))
        model = TinyAudioLM(TinyConfig(d_model=d_model, subsample=frame_ms // 10, ctc=True)).eval()
        with torch.inference_mode():
            for f in feats[:3]:  # warm-up
                model.ctc_log_probs(model.encode_audio(f, torch.tensor([f.shape[1]]))[0])
            began = time.perf_counter()
            for f in feats:
                model.ctc_log_probs(model.encode_audio(f, torch.tensor([f.shape[1]]))[0])
        print(f"d {d_model:4d}, {frame_ms} ms frames: encoder + CTC pass {time.perf_counter() - began:.3f} s")


if __name__ == "__main__":
    main()
