"""The phones tier: phone-onset accuracy on held-out synthetic voices and on ../shared/eval (next to
pocketsphinx, in one run), and `frametool align` speed with words only against words and phones.

    python benchmarks/phones.py [--test DIR] [--eval DIR] [--model NAME] [--rounds 2] [--update RESULTS.md] [--json]

`--test`: a synthetic corpus of test voices with phone references, e.g. `frametool synth DIR --split test
--hours 0.15 --voices 16 --seed 42 --clean --engines espeak-ng,festival --max-words 40`. Speed: the real
command in fresh processes, `--tiers words` and `--tiers words,phones` taking turns `--rounds` times (the
fastest of each counts: other work on the machine only ever slows a run down). `--update FILE` replaces
(or appends) the "## Phones tier" section of FILE. Sets that are absent are skipped.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TITLE = "## Phones tier"


def align_seconds(corpus: Path, model: str, tiers: str) -> tuple[float, float]:
    """(audio s, align s) of one `frametool align` run, from its summary line."""
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([sys.executable, "-m", "frametool", "align", str(corpus), "--out", tmp, "--model",
                              model, "--tiers", tiers], capture_output=True, text=True)
    found = re.search(r"([0-9.]+) s of audio in ([0-9.]+) s", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"frametool align --tiers {tiers} failed: {run.stderr.strip()[-400:]}")
    return float(found.group(1)), float(found.group(2))


def phones_section(test: Path | None, eval_dir: Path | None, model: str, summary: dict, rounds: int = 2) -> str:
    from frametool.bench.phones import run_phone_accuracy

    parts = [f"{TITLE}\n\nModel `{model}`. Phones folded to 39 classes (stress dropped) and matched to the "
             "reference by edit distance; onsets of matched phones scored.\n"]
    if test is not None and (test / "manifest.jsonl").exists():
        report = run_phone_accuracy(test, None, model, "pocketsphinx")
        summary["phones_synthetic"] = report.as_dict()
        parts.append(f"### Synthetic held-out voices (`{test.name}`; label origin: the engines' own phone "
                     "events, exact)\n\n```\n" + report.table() + "\n```\n")
    if eval_dir is not None and (eval_dir / "reference" / "phones").is_dir():
        report = run_phone_accuracy(eval_dir / "words", eval_dir / "reference" / "phones", model, "pocketsphinx")
        summary["phones_eval"] = report.as_dict()
        parts.append("### Real recordings: ../shared/eval/words against reference/phones\n\nLabel origin: "
                     "`ljspeech` and `mfa` are Montreal Forced Aligner phones (silver: agreement with MFA, not "
                     "accuracy); `praatio` (bobby) is hand-placed (gold). Measured only: nothing was trained, "
                     "tuned or chosen on it.\n\n```\n" + report.table() + "\n```\n")
    if test is not None and (test / "manifest.jsonl").exists():
        times = {"words": [], "words,phones": []}
        audio_s = 0.0
        for _ in range(rounds):
            for tiers in times:
                audio_s, seconds = align_seconds(test, model, tiers)
                times[tiers].append(seconds)
        words_s, both_s = min(times["words"]), min(times["words,phones"])
        summary["phones_speed"] = {"audio_s": audio_s, "words_s": words_s, "words_phones_s": both_s,
                                   "ratio": round(both_s / words_s, 3), "runs": times}
        parts.append(f"### Speed of `frametool align` (`{test.name}`, {audio_s:.0f} s of audio, this machine)\n\n"
                     f"`--tiers words`: {words_s:.1f} s (RTF {words_s / audio_s:.4f}); `--tiers words,phones`: "
                     f"{both_s:.1f} s (RTF {both_s / audio_s:.4f}): {both_s / words_s:.2f}x. Fastest of {rounds} "
                     "runs each, taking turns, in fresh processes (model loading not counted).\n")
    return "\n".join(parts)


def update(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(TITLE + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(TITLE))
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", type=Path, default=None)
    parser.add_argument("--eval", type=Path, default=HERE.parent.parent / "shared" / "eval")
    parser.add_argument("--model", default="whisper-align")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--update", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    summary: dict = {}
    section = phones_section(args.test, args.eval, args.model, summary, args.rounds)
    print(section)
    if args.update:
        update(args.update, section)
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
