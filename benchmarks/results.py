"""Regenerate benchmarks/RESULTS.md: accuracy on the synthetic held-out-voice test set and on the real
recordings of ../shared/eval/words (side by side with pocketsphinx), plus alignment speed.

    python benchmarks/results.py [--synthetic DIR] [--spontaneous DIR] [--eval DIR] [--model NAME]
                                 [--compare NAME ...] [--dev MANIFEST ...]
                                 [--skip-long] [--skip-speed] [--length TRAIN_DIR TEST_DIR [--length-ranges 4,8]]
                                 [--phones-test DIR]

`--compare` adds an A/B table: each named model (the earlier default, a candidate) on the same dev manifests
(`--dev`: the trainer's own dev scoring; the only numbers a model may be chosen by), synthetic test set and
real recordings, next to `--model`.

The synthetic test set is made with `frametool synth DIR --split test --hours 0.5 --voices 24 --seed 2
--clean --max-words 60` (voices never used in training: espeak-ng variants and accent, Festival ked and
MBROLA us2); the spontaneous-style one with `frametool synth DIR --split test --hours 0.3 --voices 24 --seed 3
--clean --max-words 60 --disfluent 1.0`. Sets that are absent are skipped. Also runs benchmarks/long_recording.py (a >= 30-minute
recording from ../shared/eval/words aligned in one call) and `frametool bench speed` (plot:
benchmarks/speed.png).
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


def speed_section(corpus: Path, model: str, summary: dict) -> str:
    """Time the real command (`frametool align CORPUS --out TMP`) end to end in a fresh process."""
    import re
    import subprocess
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "frametool", "align", str(corpus), "--out", tmp,
                              "--model", model], capture_output=True, text=True)
        wall_s = time.perf_counter() - began
    line = run.stderr.strip().splitlines()[0] if run.stderr.strip() else ""
    audio = re.search(r"([0-9.]+) s of audio in ([0-9.]+) s", line)
    audio_s, align_s = (float(audio.group(1)), float(audio.group(2))) if audio else (float("nan"),) * 2
    summary["speed"] = {"audio_s": audio_s, "align_s": align_s, "process_wall_s": round(wall_s, 2),
                        "rtf_align": round(align_s / audio_s, 5), "rtf_process": round(wall_s / audio_s, 5)}
    return ("## Speed of `frametool align` (synthetic test corpus, this machine)\n\n"
            f"`frametool align {corpus.name} --out DIR`: {audio_s:.0f} s of audio aligned in {align_s:.1f} s "
            f"(real-time factor {align_s / audio_s:.4f}: reading audio and transcripts, features, model, "
            f"decoding, writing TextGrids); the whole process including Python start-up and model loading "
            f"took {wall_s:.1f} s (RTF {wall_s / audio_s:.4f}). Exit code {run.returncode}.\n")


def long_section(eval_dir: Path, model: str, summary: dict, candidate: bool = False) -> str:
    import subprocess

    run = subprocess.run([sys.executable, str(HERE / "long_recording.py"), "--eval", str(eval_dir), "--model", model,
                          "--json"], capture_output=True, text=True)
    if run.returncode != 0:
        return f"## Long recording\n\nfailed: {run.stderr[-1500:]}\n"
    lines = run.stdout.strip().splitlines()
    summary.setdefault("long_recording", {})[model] = json.loads(lines[-1])
    return (f"## One long recording, model `{model}` (benchmarks/long_recording.py)\n\n"
            "The 43 utterances of ../shared/eval/words in shuffled rounds, joined with 0.3-2 s pauses into one "
            "file of at least 30 minutes, aligned by ONE `frametool align` call with the whole transcript; "
            "scored against the shifted references (same first-onset rule as above), next to the same "
            "utterances aligned one by one."
            + (" This model is a candidate, not the bundled one." if candidate else "")
            + "\n\n```\n" + "\n".join(lines[:-1]) + "\n```\n")


def ab_section(models: list[str], dev: list[Path], synthetic: Path, eval_dir: Path, summary: dict,
               reports: dict) -> str:
    """One row per model: dev scores (how models are chosen), then held-out synthetic voices and the real
    recordings (measured only)."""
    import random
    import time

    from frametool.model import load_model
    from frametool.training.data import read_manifest
    from frametool.training.train import evaluate

    rows = []
    for name in models:
        row = {"model": name}
        model = load_model(name)
        for manifest in dev:
            examples = read_manifest(manifest)
            random.Random(1).shuffle(examples)
            began = time.perf_counter()
            scores = evaluate(model, examples, len(examples))
            row[f"dev {manifest.parent.name}"] = (scores["onset"]["within_20ms"], scores["onset"]["mae_ms"],
                                                  round(time.perf_counter() - began, 1))
        for key, corpus, ref, peer in (("synthetic", synthetic, None, None),
                                       ("eval", eval_dir / "words", eval_dir / "reference" / "words", None)):
            if not corpus.is_dir():
                continue
            report = reports.get((key, name)) or run_accuracy(corpus, ref, name, peer)
            overall = next(r for r in report.rows() if r["system"] == "frametool" and r["set"] == "overall")
            row[key] = (overall["onset"]["within_20ms"], overall["onset"]["within_50ms"], overall["onset"]["mae_ms"],
                        overall["onset_ci_coverage"], overall["aligned"], overall["total"], overall["wall_s"])
        rows.append(row)
    summary["ab"] = rows
    lines = [f"{'model':<24}{'set':<22}{'on<20':>7}{'on<50':>7}{'on MAE':>8}{'on CI':>7}{'aligned':>9}{'wall s':>8}"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        for key, value in row.items():
            if key.startswith("dev "):
                lines.append(f"{row['model']:<24}{key:<22}{value[0]:>7.1f}{'':>7}{value[1]:>8.1f}{'':>7}{'':>9}"
                             f"{value[2]:>8.1f}")
            elif key in ("synthetic", "eval"):
                cov = value[3] if value[3] is not None else float("nan")
                lines.append(f"{row['model']:<24}{key:<22}{value[0]:>7.1f}{value[1]:>7.1f}{value[2]:>8.1f}{cov:>7.1f}"
                             f"{str(value[4]) + '/' + str(value[5]):>9}{value[6]:>8.2f}")
    return ("## A/B: the models side by side\n\n"
            "`dev ...`: the trainer's dev scoring (onsets within 20 ms and onset MAE; checkpoints and models are "
            "chosen on these only). `synthetic`: the held-out-voice test set above; `eval`: ../shared/eval/words "
            "(measured, never used to choose). `on CI`: reference onsets inside the 90 % credible interval "
            "(+-10 ms).\n\n```\n" + "\n".join(lines) + "\n```\n")


def token_speed_section(model: str, summary: dict) -> str:
    from frametool.bench.speed import plot, run_speed, table

    report = run_speed(model)
    summary["speed_tokens"] = report
    plot(report, HERE / "speed.png")
    return ("## Frame-level inference vs token generation (`frametool bench speed`)\n\n"
            "Same backbone, same audio and prompts; the token baseline generates the answer text "
            "(\"[0.21, 0.49, ...]\") character by character with a key/value cache, exactly as many characters "
            "as the true answer. Plot: benchmarks/speed.png.\n\n```\n" + table(report) + "\n```\n")


def length_section(train: Path, test: Path, model: str, summary: dict, train_range_s: float = 4.0) -> str:
    from frametool.bench.length import LengthConfig, run_length, table

    r = train_range_s
    config = LengthConfig(init=model, train_range_s=r, test_ranges_s=((0.0, r), (r, 2 * r)))
    report = run_length(train / "manifest.jsonl", test / "manifest.jsonl", config,
                        log=lambda line: print(line, file=sys.stderr))
    summary["length" if r == 4.0 else f"length_{r:g}s"] = report
    return (f"## Length generalisation, train 0-{r:g} s (`frametool bench length --train-range {r:g}`, "
            "the paper's Table 4 at small scale)\n\n"
            f"Three models share the backbone of `{model}` and get a fresh output side: the Poisson pointer head, "
            "the same scores trained as binary frame targets (reweighted BCE), and token generation of the "
            "answer \"[0.21, 0.49, ...]\". Each trains for the same wall time on clips of the training corpus "
            f"`{train.name}` whose words lie within 0-{r:g} s, and is scored on clips of the held-out-voice corpus "
            f"`{test.name}`: words with onsets in 0-{r:g} s (matched) and {r:g}-{2 * r:g} s (never seen as answers). `missing`: "
            "words the generated answer gave no number for (counted as misses).\n\n```\n" + table(report)
            + "\n```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=Path, default=Path("/work/data/test-v2"))
    parser.add_argument("--spontaneous", type=Path, default=None,
                        help="a second synthetic test corpus made with `frametool synth --split test --disfluent 1.0`")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--long-model", action="append", default=[],
                        help="also run the long-recording benchmark with this model (a candidate)")
    parser.add_argument("--length", nargs=2, type=Path, metavar=("TRAIN", "TEST"),
                        help="also run `frametool bench length TRAIN TEST` (synthetic corpora; ~17 min per range)")
    parser.add_argument("--length-ranges", default="4",
                        help="comma-separated train ranges in seconds for --length, e.g. 4,8 (the paper's 0-4 s and 0-8 s)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--phones-test", type=Path, default=None,
                        help="a synthetic test corpus with phone references: adds the phones section "
                             "(benchmarks/phones.py: held-out voices, ../shared/eval, speed with and without phones)")
    parser.add_argument("--compare", action="append", default=[], help="also score this model (A/B table)")
    parser.add_argument("--dev", action="append", type=Path, default=[],
                        help="a dev manifest for the A/B table (the trainer's dev scoring)")
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
    reports = {}
    if (args.synthetic / "manifest.jsonl").exists():
        report = reports[("synthetic", args.model)] = run_accuracy(args.synthetic, None, args.model, None)
        sections.append("## Synthetic test set (voices never used in training; exact reference times)\n\n"
                        "Label origin: the synthesiser's own phoneme events (exact).\n\n```\n"
                        + report.table() + "\n```\n")
        summary["synthetic"] = report.as_dict()
    if args.spontaneous and (args.spontaneous / "manifest.jsonl").exists():
        report = run_accuracy(args.spontaneous, None, args.model, None)
        sections.append("## Synthetic spontaneous-style test set (same held-out voices; fillers, drawn-out words, "
                        "untranscribed coughs/breaths/fragments in pauses)\n\n"
                        f"`{args.spontaneous.name}`: `frametool synth --split test --disfluent 1.0 --clean`; "
                        "exact reference times.\n\n```\n" + report.table() + "\n```\n")
        summary["synthetic_spontaneous"] = report.as_dict()
    words = args.eval / "words"
    if words.is_dir():
        report = reports[("eval", args.model)] = run_accuracy(words, args.eval / "reference" / "words", args.model,
                                                              "pocketsphinx")
        sections.append("## Real recordings: ../shared/eval/words, frametool vs pocketsphinx 5 in one run\n\n"
                        "Label origin: `ljspeech` and `mfa` are Montreal Forced Aligner output and `librivox` "
                        "pocketsphinx output (silver: agreement with another aligner, not accuracy); `praatio` "
                        "is hand-placed (gold, 8 words). First onsets placed at 0.0 s by the reference are "
                        "not scored.\n\n```\n" + report.table() + "\n```\n")
        summary["eval_words"] = report.as_dict()
    if args.compare:
        sections.append(ab_section([args.model, *args.compare], args.dev, args.synthetic, args.eval, summary, reports))
    if (args.synthetic / "manifest.jsonl").exists():
        sections.append(speed_section(args.synthetic, args.model, summary))
    if words.is_dir() and not args.skip_long:
        for name in [args.model, *args.long_model]:
            sections.append(long_section(args.eval, name, summary, candidate=name != args.model))
    if not args.skip_speed:
        sections.append(token_speed_section(args.model, summary))
    if args.phones_test is not None:
        sys.path.insert(0, str(HERE))
        from phones import phones_section

        sections.append(phones_section(args.phones_test, args.eval, args.model, summary))
    if args.length:
        for r in (float(x) for x in args.length_ranges.split(",") if x.strip()):
            sections.append(length_section(*args.length, args.model, summary, r))
    args.out.write_text("\n".join(sections), encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print("\n".join(sections))


if __name__ == "__main__":
    sys.exit(main())
