"""The general sound-event model in one run: held-out synthetic scenes, speech on a real diarization set next to
silero-vad, and one long recording.

    python benchmarks/sound_events.py [--model sound-events] [--scenes data/scenes/test]
                                      [--diarization ../shared/eval/diarization]
                                      [--reference ../shared/eval/reference/diarization]
                                      [--long-minutes 20] [--json] [--results benchmarks/RESULTS.md]

1. `--scenes`: a `frametool synth-scenes --split test` folder (voices, speakers, instruments and seeds that
   training never used): event F1 per label with a 200 ms onset collar (labelled), and the rest of the
   `bench events` table.
2. `--diarization`: `--event speech` against the union of the reference speakers' turns (inside each UEM),
   with silero-vad scored in the same run; onset F1 at 200 ms overall and file by file.
3. One recording of `--long-minutes` made by joining the test scenes, detected in one `frametool events`
   call in a child process: real-time factor of the whole process and its peak RSS.
With --json the last line is one JSON object {"scenes": {...}, "speech_on_diarization": {...}, "long": {...}}.
A part whose folder is absent is skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from sections import replace_section  # noqa: E402
SHARED = ROOT.parent / "shared"

_CHILD = """
import resource, sys
from frametool.cli import app
code = 0
try:
    app(["events", sys.argv[1], "--out", sys.argv[2], "--model", sys.argv[3], "--overwrite"])
except SystemExit as exc:
    code = exc.code or 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(code)
"""


def long_run(scenes: Path, minutes: float, model: str) -> dict:
    """Join test scenes into one recording of `minutes` and detect it in one call in a child process."""
    files = sorted(scenes.glob("*.wav"))
    pieces, total = [], 0
    while total < minutes * 60 * 16000:
        for f in files:
            x, rate = sf.read(str(f), dtype="float32")
            pieces.append(x)
            total += len(x)
            if total >= minutes * 60 * 16000:
                break
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        sf.write(str(path), np.concatenate(pieces), 16000, subtype="PCM_16")
        began = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(Path(tmp) / "out"), model],
                             capture_output=True, text=True)
        wall = time.perf_counter() - began
        if run.returncode != 0:
            sys.exit(f"frametool events failed ({run.returncode}): {run.stderr[-2000:]}")
        found = json.loads((Path(tmp) / "out" / "long.json").read_text())
    audio_s = total / 16000
    return {"audio_s": round(audio_s, 1), "wall_s": round(wall, 1), "real_time_factor": round(wall / audio_s, 4),
            "peak_rss_mb": round(float(run.stdout.strip().splitlines()[-1])), "events": len(found["items"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sound-events")
    parser.add_argument("--scenes", type=Path, default=ROOT / "data" / "scenes" / "test")
    parser.add_argument("--diarization", type=Path, default=SHARED / "eval" / "diarization")
    parser.add_argument("--reference", type=Path, default=SHARED / "eval" / "reference" / "diarization")
    parser.add_argument("--long-minutes", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--results", type=Path, default=None, help="write (or replace) this run's section")
    args = parser.parse_args(argv)

    from frametool.bench.events import run_events_bench

    out: dict = {"model": args.model}
    sections = []
    if args.scenes.is_dir():
        scenes = run_events_bench(args.scenes, args.scenes, args.model)
        counts = scenes.systems["frametool"]
        summary = counts.summary()
        out["scenes"] = {"files": len(scenes.per_file), "per_label_f1_200ms": summary["per_label_f1_200ms"],
                         "labelled_f1_200ms": round(counts.f1(0.2, labelled=True), 4),
                         "onset_f1_200ms": summary["onset_f1_200ms"]}
        sections.append(f"Held-out synthetic scenes (`{args.scenes.name}`, {len(scenes.per_file)} files):\n\n"
                        + scenes.table())
    else:
        print(f"sound_events: {args.scenes} is absent; scenes skipped", file=sys.stderr)
    if args.diarization.is_dir() and args.reference.is_dir():
        speech = run_events_bench(args.diarization, args.reference, args.model, labels=["speech"], peer="silero-vad")
        out["speech_on_diarization"] = {name: {"onset_f1_200ms": round(c.f1(0.2), 4), "n_reference": c.n_ref,
                                               "n_detected": c.n_hyp}
                                        for name, c in speech.systems.items()}
        sections.append(f"`--event speech` on `{args.diarization.name}` against the union of the reference "
                        "speakers' turns (inside each UEM), silero-vad in the same run:\n\n" + speech.table()
                        + "\n\n" + speech.file_table())
    else:
        print(f"sound_events: {args.diarization} is absent; speech on diarization skipped", file=sys.stderr)
    if args.scenes.is_dir() and args.long_minutes > 0:
        out["long"] = long_run(args.scenes, args.long_minutes, args.model)
        sections.append(f"One {out['long']['audio_s'] / 60:.0f}-minute recording (test scenes joined) in one "
                        f"`frametool events` call: real-time factor {out['long']['real_time_factor']} "
                        f"(whole process, 2 cores), peak RSS {out['long']['peak_rss_mb']} MB, "
                        f"{out['long']['events']} events.")
    report = "\n\n".join(sections)
    print(report)
    if args.results:
        write_section(args.results, report, args)
    if args.json:
        print(json.dumps(out))
    return 0


SECTION = "## General sound events (`sound-events`): held-out scenes, speech on a diarization set, a long file"


def write_section(path: Path, report: str, args) -> None:
    from frametool.model import read_model_folder

    recipes = read_model_folder(args.model)[1].get("data_recipe", {}).get("recipes", "recipes/sound-events.toml")
    body = (f"{SECTION}\n\n`python benchmarks/sound_events.py --model {args.model} --scenes {args.scenes}` "
            f"(model trained by {recipes} on synthetic scenes only; checkpoints and thresholds chosen on dev "
            "scenes; never tuned on ../shared/eval).\n\n" + report + "\n")
    replace_section(path, SECTION, body)


if __name__ == "__main__":
    sys.exit(main())
