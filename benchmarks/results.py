"""Regenerate benchmarks/RESULTS.md: accuracy on the synthetic held-out-voice test set and on the real
recordings of ../shared/eval/words (side by side with pocketsphinx), plus alignment speed.

    python benchmarks/results.py [--synthetic DIR] [--eval DIR] [--model NAME]

The synthetic test set is made with `frametool synth DIR --split test --hours 0.5 --voices 24 --seed 2
--clean` (voices never used in training). Sets that are absent are skipped.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import torch

from frametool.bench.accuracy import run_accuracy

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=Path, default=Path("/work/data/test"))
    parser.add_argument("--eval", type=Path, default=HERE.parent.parent / "shared" / "eval")
    parser.add_argument("--model", default="tiny-align")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sections = [f"# frametool benchmark results\n\nGenerated {datetime.date.today()} by "
                f"`python benchmarks/results.py` on {platform.machine()} with {torch.get_num_threads()} CPU "
                f"threads (Python {platform.python_version()}, torch {torch.__version__}); model `{args.model}`.\n"
                "Errors are |predicted - reference| of word interval boundaries in seconds from the file "
                "start; words are matched 1:1 in order. Wall time counts features, model and decoding "
                "(audio already in memory), not model loading.\n"]
    summary = {}
    if (args.synthetic / "manifest.jsonl").exists():
        report = run_accuracy(args.synthetic, None, args.model, None)
        sections.append("## Synthetic test set (voices never used in training; exact reference times)\n\n"
                        "Label origin: the synthesiser's own phoneme events (exact).\n\n```\n"
                        + report.table() + "\n```\n")
        summary["synthetic"] = report.as_dict()
    words = args.eval / "words"
    if words.is_dir():
        report = run_accuracy(words, args.eval / "reference" / "words", args.model, "pocketsphinx")
        sections.append("## Real recordings: ../shared/eval/words, frametool vs pocketsphinx 5 in one run\n\n"
                        "Label origin: `ljspeech` and `mfa` are Montreal Forced Aligner output and `librivox` "
                        "pocketsphinx output (silver: agreement with another aligner, not accuracy); `praatio` "
                        "is hand-placed (gold, 8 words). First onsets placed at 0.0 s by the reference are "
                        "not scored.\n\n```\n" + report.table() + "\n```\n")
        summary["eval_words"] = report.as_dict()
    args.out.write_text("\n".join(sections), encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print("\n".join(sections))


if __name__ == "__main__":
    sys.exit(main())
