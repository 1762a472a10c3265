"""Dev sweep of a model's word-decoding settings: how `frametool align` turns the CTC pass and the pointer
head into word times (tasks/long.py LongConfig: the CTC prior's slope, width and shifts, the segmentation),
and how well each setting's 90 % credible intervals cover the reference onsets.

    python benchmarks/align_decoding.py MODEL DEV_MANIFEST [DEV_MANIFEST ...]
        [--try 'prior_slope=100' --try 'prior_slope=100,prior_halfwidth_s=0.05' ...] [--limit N] [--json]

Every row is one setting over the model's own (its config.json `decoding`, the first row) on each dev
manifest (training-manifest rows with exact or silver word times): onsets within 20/50/100 ms, onset MAE,
and the share of reference onsets inside the credible interval widened by 10 ms each side (as `frametool
bench accuracy` reports it). Settings are chosen on dev manifests only, never on ../shared/eval.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from frametool.audio.io import load_audio
from frametool.bench.accuracy import CI_MARGIN_S
from frametool.bench.metrics import boundary_stats
from frametool.model import load_model
from frametool.tasks.long import align_long, decoding_keys, long_config_for
from frametool.training.data import read_manifest


def parse_setting(text: str) -> dict[str, float]:
    """'prior_slope=100,prior_halfwidth_s=0.05' -> {name: value}, names checked against LongConfig (and
    ci_pad_s)."""
    known = decoding_keys()
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in known or not value:
            raise SystemExit(f"--try {text!r}: {part!r} is not NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        out[name] = float(value)
    return out


def score(model, entries, audio, setting: dict[str, float]) -> dict[str, float]:
    decoding = dict(model.config.decoding or {})
    config = replace(long_config_for(model), **{k: v for k, v in setting.items() if k != "ci_pad_s"})
    if "ci_pad_s" in setting:
        model.config.decoding = {**decoding, "ci_pad_s": setting["ci_pad_s"]}
    try:
        errors, covered = [], []
        for entry, samples in zip(entries, audio):
            times = align_long(model, samples, entry.tokens, config=config)
            ref = np.asarray(entry.spans_s)[:, 0]
            errors.append(np.asarray(times.start_s) - ref)
            ci = np.asarray(times.start_ci_s)
            covered.append((ref >= ci[:, 0] - CI_MARGIN_S) & (ref <= ci[:, 1] + CI_MARGIN_S))
    finally:
        model.config.decoding = decoding
    stats = boundary_stats(np.concatenate(errors)).as_dict()
    return {"onsets": stats["count"], "on20": stats["within_20ms"], "on50": stats["within_50ms"],
            "on100": stats["within_100ms"], "mae_ms": stats["mae_ms"],
            "ci_coverage": round(100 * float(np.concatenate(covered).mean()), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("dev", nargs="+", type=Path)
    parser.add_argument("--try", dest="settings", action="append", default=[],
                        help="NAME=VALUE[,NAME=VALUE...] over the model's own decoding settings")
    parser.add_argument("--limit", type=int, default=None, help="the first N rows of each manifest")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    model.eval()
    settings = [{}] + [parse_setting(s) for s in args.settings]
    rows = []
    for manifest in args.dev:
        entries = read_manifest(manifest)[: args.limit]
        audio = [load_audio(e.audio).samples for e in entries]
        for setting in settings:
            row = {"dev": str(manifest), "setting": setting or "model's own", **score(model, entries, audio, setting)}
            rows.append(row)
            print(f"{manifest.parent.name + '/' + manifest.name:36s} {json.dumps(row['setting']):60s} "
                  f"on<20 {row['on20']:6.2f} on<50 {row['on50']:6.2f} on<100 {row['on100']:6.2f} "
                  f"MAE {row['mae_ms']:6.2f} CI {row['ci_coverage']:6.2f}", flush=True)
    print(f"model {args.model}: its own decoding {json.dumps(model.config.decoding or {})}")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
