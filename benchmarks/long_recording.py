"""Long-recording benchmark: one >= 30-minute recording built from the real utterances of
../shared/eval/words (each set's files in shuffled rounds, joined with pauses; reference times shifted),
aligned in ONE `frametool align` call with the whole transcript, scored against the shifted references
and against the same utterances aligned one by one.

    python benchmarks/long_recording.py [--eval DIR] [--minutes 30] [--model NAME] [--json]

Reports % of onsets within 50 ms (long vs short), words longer than 3 s whose reference is not, peak RSS of
the aligning process and its real-time factor. Skips cleanly when the eval folder is absent.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from frametool.audio.io import load_audio
from frametool.bench.accuracy import read_reference
from frametool.bench.metrics import boundary_stats, word_errors

HERE = Path(__file__).resolve().parent
RATE = 16000


def _rows(eval_dir: Path | None, synthetic: Path | None) -> list[dict]:
    """Utterances as {audio, words: [(label, start, end)], score_first_onset} from the evaluation set or
    from a synthetic corpus's manifest (for development: never tune on the evaluation set)."""
    rows = []
    if synthetic is not None:
        for line in (synthetic / "manifest.jsonl").read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append({"id": row["id"], "audio": synthetic / row["audio"], "score_first_onset": True,
                             "words": [(w["label"], w["start_s"], w["end_s"]) for w in row["words"]],
                             "transcript": row["transcript"]})
        return rows
    for line in (eval_dir / "words" / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({"id": row["id"], "audio": eval_dir / "words" / row["audio"],
                         "score_first_onset": bool(row["score_first_onset"]),
                         "words": read_reference(eval_dir / "reference" / "words" / Path(row["audio"]).with_suffix(".TextGrid")),
                         "transcript": (eval_dir / "words" / row["transcript"]).read_text(encoding="utf-8")})
    return rows


def build(rows: list[dict], minutes: float, seed: int, out: Path):
    """Write out/long.wav + long.lab; -> (reference spans, score-onset mask, rounds)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    pieces, words, spans, scored = [], [], [], []
    cursor = 0
    rounds = 0
    while cursor < minutes * 60 * RATE:
        order = rows[:]
        rng.shuffle(order)
        for row in order:
            gap = int(rng.uniform(0.3, 2.0) * RATE)
            pieces.append((noise.standard_normal(gap) * 1e-4).astype(np.float32))
            cursor += gap
            wave = load_audio(row["audio"]).samples
            offset = cursor / RATE
            words.append(row["transcript"].strip())
            for i, (label, a, b) in enumerate(row["words"]):
                spans.append((a + offset, b + offset))
                scored.append(i > 0 or row["score_first_onset"])
            pieces.append(wave)
            cursor += len(wave)
        rounds += 1
    sf.write(out / "long.wav", np.concatenate(pieces), RATE, subtype="PCM_16")
    (out / "long.lab").write_text(" ".join(words) + "\n", encoding="utf-8")
    return spans, np.array(scored), rounds


def align(path: str, out: Path, model: str) -> tuple[float, float, int]:
    """Run `frametool align` in a child process (wrapped in /usr/bin/time when present for its own peak RSS);
    -> (wall s, peak RSS MB of the child, exit code)."""
    began = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", _CHILD, path, str(out), model], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if run.returncode not in (0, 1) and not (out / "failures.tsv").exists():
        sys.exit(f"frametool align failed ({run.returncode}): {run.stderr[-2000:]}")
    rss_mb = float(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else float("nan")
    return wall, rss_mb, run.returncode


# the aligner in a fresh process that reports its own peak RSS (MB) last
_CHILD = """
import resource, sys
from frametool.cli import app
code = 0
try:
    app(["align", sys.argv[1], "--out", sys.argv[2], "--format", "json", "--model", sys.argv[3], "--overwrite"])
except SystemExit as exc:
    code = exc.code or 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(code)
"""


def spans_of(json_path: Path) -> list[tuple[float, float]]:
    data = json.loads(json_path.read_text())
    return [(w["start_s"], w["end_s"]) for w in data["items"] if w["tier"] == "words"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=HERE.parent.parent / "shared" / "eval")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--model", default="tiny-align")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--synthetic", type=Path, default=None,
                        help="build from a synthetic corpus (frametool synth) instead, for development")
    args = parser.parse_args()
    if args.synthetic is None and not (args.eval / "words" / "manifest.jsonl").exists():
        print(f"skipped: {args.eval}/words is absent")
        return
    rows = _rows(None if args.synthetic else args.eval, args.synthetic)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        ref, scored, rounds = build(rows, args.minutes, args.seed, tmp / "in")
        duration_s = sf.info(str(tmp / "in" / "long.wav")).duration
        wall_long, rss_long, code = align(str(tmp / "in" / "long.wav"), tmp / "out-long", args.model)
        if not (tmp / "out-long" / "long.json").exists():
            failures = tmp / "out-long" / "failures.tsv"
            reason = failures.read_text().splitlines()[-1] if failures.exists() else "no output"
            result = {"audio_s": round(duration_s, 1), "words": len(ref), "aligned": False, "reason": reason}
            print(f"not aligned in one call: {reason}")
            if args.json:
                print(json.dumps(result))
            return
        pred = spans_of(tmp / "out-long" / "long.json")
        on, off = word_errors(pred, ref)
        on = on[scored]
        # the same utterances one by one (their first-onset rule as in bench accuracy)
        (tmp / "short").mkdir()
        for row in rows:
            target = tmp / "short" / f"{row['id']}.wav"
            target.symlink_to(Path(row["audio"]).resolve())
            target.with_suffix(".lab").write_text(row["transcript"], encoding="utf-8")
        wall_short, _, _ = align(str(tmp / "short"), tmp / "out-short", args.model)
        short_on = []
        for row in rows:
            got = spans_of(tmp / "out-short" / f"{row['id']}.json")
            o, _ = word_errors(got, [(a, b) for _, a, b in row["words"]], row["score_first_onset"])
            short_on.append(o)
    long_stats, short_stats = boundary_stats(on), boundary_stats(np.concatenate(short_on))
    pred_len = np.array([b - a for a, b in pred])
    ref_len = np.array([b - a for a, b in ref])
    too_long = int(np.sum((pred_len > 3.0) & (ref_len <= 3.0)))
    result = {"audio_s": round(duration_s, 1), "words": len(ref), "rounds_of_eval_set": rounds,
              "onset_within_50ms_long": round(100 * long_stats.within[0.05], 2),
              "onset_within_50ms_short": round(100 * short_stats.within[0.05], 2),
              "onset_mae_ms_long": round(long_stats.mae_s * 1000, 1),
              "onset_mae_ms_short": round(short_stats.mae_s * 1000, 1),
              "onset_within_100ms_long": round(100 * long_stats.within[0.1], 2),
              "onset_within_1s_long": round(100 * float(np.mean(np.abs(on) <= 1.0)), 2),
              "words_over_3s_not_in_reference": too_long, "longest_word_s": round(float(pred_len.max()), 2),
              "peak_rss_mb": round(rss_long, 1), "wall_s": round(wall_long, 2),
              "rtf": round(wall_long / duration_s, 5), "exit_code": code}
    lines = [f"{k:34s} {v}" for k, v in result.items()]
    print("\n".join(lines))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
