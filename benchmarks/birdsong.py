"""Bird song syllables, end to end from a fresh clone: import the training recordings, train the committed
recipe (recipes/birdsong.toml), then score the trained model and the energy-threshold baseline (fitted on the
same training files) on the evaluation recordings in one run.

    python benchmarks/birdsong.py [--json] [--train ../shared/train/birdsong] [--eval ../shared/eval/events]
                                  [--reference ../shared/eval/reference/events] [--work runs/birdsong-bench]
                                  [--model RUN_DIR]   (score a trained model instead of training one)

Prints the `frametool bench events` table; with --json the last line is one JSON object
{"frametool": {...}, "baseline": {...}, "train_minutes": ...}, each system holding onset_f1_20ms and
syllable_error_rate among the other scores. Exits 0 with a note when the data folders are absent.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from sections import replace_section  # noqa: E402
SHARED = ROOT.parent / "shared"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=SHARED / "train" / "birdsong")
    parser.add_argument("--eval", type=Path, default=SHARED / "eval" / "events")
    parser.add_argument("--reference", type=Path, default=SHARED / "eval" / "reference" / "events")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "birdsong-bench")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "birdsong.toml")
    parser.add_argument("--model", default=None, help="a trained event model: skip training")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--results", type=Path, default=None,
                        help="write (or replace) this run's section in a RESULTS.md")
    args = parser.parse_args(argv)
    for folder in (args.train, args.eval, args.reference):
        if not folder.is_dir():
            print(f"birdsong: {folder} is absent; nothing to measure")
            return 0

    from frametool.bench.events import run_events_bench
    from frametool.training.event_import import import_event_corpus, write_event_import
    from frametool.training.events_train import load_event_recipe, train_events

    data = args.work / "data"
    report = import_event_corpus(args.train, "events-tsv")
    written = write_event_import(report, data, dev_files=15, seed=0)
    print(f"imported {len(report.rows)} training recordings -> {data}", file=sys.stderr)
    minutes = None
    model = args.model
    if model is None:
        config = load_event_recipe(args.recipe, [f'train_manifest="{written["train.jsonl"]}"',
                                                 f'dev_manifest="{written["dev.jsonl"]}"',
                                                 f'out_dir="{args.work / "run"}"'])
        started = time.time()
        model = str(train_events(config, log=lambda line: print(line, file=sys.stderr)))
        minutes = (time.time() - started) / 60
    result = run_events_bench(args.eval, args.reference, model, written["manifest.jsonl"])
    print(result.table())
    scores = result.as_dict()
    out = {"frametool": scores["frametool"], "baseline": scores["energy baseline"],
           "baseline_params": scores.get("baseline_params"), "model": model,
           "train_minutes": None if minutes is None else round(minutes, 1)}
    if args.results:
        write_section(args.results, result, out, args)
    if args.json:
        print(json.dumps(out))
    return 0


SECTION = "## Bird song syllables: ../shared/eval/events, frametool vs the energy-threshold baseline in one run"


def write_section(path: Path, result, out: dict, args) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md."""
    trained = (f"trained by `{args.recipe.relative_to(ROOT)}` in {out['train_minutes']} min on this machine"
               if out["train_minutes"] is not None else f"model `{out['model']}`")
    body = (f"{SECTION}\n\n`python benchmarks/birdsong.py --json` ({trained}; training files "
            f"`{args.train.name}` only, dev = 15 of them, decoding thresholds chosen on dev). Human labels; "
            "scored inside the annotated song bouts. Baseline: band energy above the noise floor, "
            f"{out['baseline_params']} chosen on the training files, labels by 5 nearest training syllables."
            "\n\n" + result.table() + "\n")
    replace_section(path, SECTION, body)


if __name__ == "__main__":
    sys.exit(main())
