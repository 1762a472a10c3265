"""Choose a trained diarization model's decoding settings again, as `frametool train` does after training
(training/diarize_select.py: thresholds, speaker assignment and count on the recipe's dev mixtures, then the
link distance on its long dev recordings), with the recipe's [decoding] settings fixed and any given here.

    python recipes/diarize_decoding.py RECIPE MODEL_DIR OUT_DIR [--set embedder=campp ...]

How the bundled whisper-diarize got its decoding: the stage 4 run of recipes/whisper-diarize-stage4.toml, then
    python recipes/diarize_decoding.py recipes/whisper-diarize-stage4.toml /work/runs/whisper-diarize-stage4/best \
        /work/runs/s4-campp --set embedder=campp
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from frametool.tasks.events import load_event_model, save_event_model
from frametool.training.diarize_select import choose_decoding, choose_linking
from frametool.training.diarize_train import DECODING_GRID, load_diarize_recipe, load_mixtures


def value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("model_dir")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a decoding setting fixed on top of the recipe's [decoding] (e.g. embedder=campp)")
    args = parser.parse_args()
    config = load_diarize_recipe(args.recipe)
    torch.set_num_threads(config.threads)
    fixed = dict(config.decoding)
    for item in args.set:
        key, _, text = item.partition("=")
        fixed[key] = value(text)
    dev = load_mixtures(config.dev_manifests)
    if config.max_dev:  # the same dev mixtures as the trainer's
        dev = [dev[i] for i in np.random.default_rng(config.seed).permutation(len(dev))[:config.max_dev]]
    model = load_event_model(args.model_dir, task="diarize")
    model.config.decoding = choose_decoding(model, dev, fixed, config.decoding_grid or DECODING_GRID)
    if config.dev_long_manifests and "link_distance" not in fixed:
        model.config.decoding["link_distance"] = choose_linking(model, load_mixtures(config.dev_long_manifests))
    save_event_model(model, args.out_dir)
    print(json.dumps(model.config.decoding))


if __name__ == "__main__":
    main()
