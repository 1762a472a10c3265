"""How the frame-level speed-up over token generation depends on the backbone's size, on this machine.

`frametool bench speed` times the bundled tiny backbone. The paper's > 50x comes from a 7B audio LM on a
GPU, where one decoding step (reading every weight for one token) costs nearly as much as reading the whole
prompt in parallel. This script builds untrained backbones of the `tiny` architecture at growing widths and
depths (timing does not depend on the weights: the token side writes a fixed number of characters) and
runs the 26+ bucket at batch size 1 for each, so the trend on this hardware is measured, not assumed.

    python benchmarks/speed_scaling.py [--sizes 192x2,512x6,1024x12] [--json]

Each size is D_MODEL x LAYERS (encoder and decoder both get LAYERS layers; heads = D_MODEL / 64).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from frametool.bench.speed import run_speed
from frametool.model import FrameModel, load_model, save_model


def build(d_model: int, layers: int, folder: Path) -> int:
    config = load_model("tiny-align").config
    config.backbone_config = {**config.backbone_config, "d_model": d_model, "n_heads": max(1, d_model // 64),
                              "enc_layers": layers, "dec_layers": layers}
    config.name = f"untrained-{d_model}x{layers}"
    torch.manual_seed(0)
    model = FrameModel(config)
    save_model(model, folder)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="192x2,512x6,1024x12")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            d_model, layers = (int(x) for x in size.lower().split("x"))
            folder = Path(tmp) / size
            params = build(d_model, layers, folder)
            report = run_speed(str(folder), repeats=args.repeats, batch_sizes=(1,), buckets=((26, 40),))
            row = report["rows"][0]
            rows.append({"size": size, "params_m": round(params / 1e6, 1), **row})
            print(f"{size:>10s} {params / 1e6:7.1f} M params: frame {row['frame_s']:.4f} s, "
                  f"tokens {row['token_s']:.4f} s ({row['answer_chars']} characters), speed-up {row['speedup']:.2f}x",
                  flush=True)
    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
