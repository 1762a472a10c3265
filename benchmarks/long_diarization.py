"""Long-recording diarization benchmark: one meeting-like recording (a `frametool synth-mixtures`
conversation of held-out speakers, 20 minutes by default) diarized in ONE `frametool diarize` call, in a
separate process whose peak RSS and wall time are measured, then scored (DER, pyannote.metrics, collar 0.5 s
total, overlap scored) against its exact turns.

    python benchmarks/long_diarization.py [--recording DIR] [--model NAME] [--threads 2] [--json]

DIR is a synth-mixtures folder holding one recording (default /work/data/diar-test-20min, made by
recipes/whisper-diarize-data.sh). Reports duration, wall time, real-time factor, peak RSS, DER and its parts,
speakers found vs reference.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, default=Path("/work/data/diar-test-20min"))
    parser.add_argument("--model", default="whisper-diarize")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    wavs = sorted(args.recording.glob("*.wav"))
    if not wavs:
        print(f"no recording in {args.recording}: run recipes/whisper-diarize-data.sh first", file=sys.stderr)
        return 2
    wav = wavs[0]
    from frametool.audio.io import load_audio
    from frametool.bench.diarization import read_rttm, score_turns
    from frametool.bench.vad import read_uem

    duration_s = load_audio(wav).duration_s
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "frametool", "diarize", str(wav), "--model", args.model,
                              "--out", out, "--jobs", str(args.threads)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        wall_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        hypothesis = read_rttm(Path(out) / (wav.stem + ".rttm"))
    reference = read_rttm(wav.with_suffix(".rttm"))
    uem = read_uem(wav.with_suffix(".uem")) if wav.with_suffix(".uem").is_file() else None
    detail, _ = score_turns(reference, hypothesis, uem, 0.5)
    total = detail["total"] or 1.0
    result = {"recording": str(wav), "duration_s": round(duration_s, 1), "wall_s": round(wall_s, 1),
              "real_time_factor": round(wall_s / duration_s, 4), "peak_rss_mb": round(peak_mb),
              "threads": args.threads, "der": round(detail["diarization error rate"], 4),
              "missed": round(detail["missed detection"] / total, 4),
              "false_alarm": round(detail["false alarm"] / total, 4),
              "confusion": round(detail["confusion"] / total, 4),
              "speakers_found": len({s for _, _, s in hypothesis}),
              "speakers_reference": len({s for _, _, s in reference}), "model": args.model}
    print(f"{wav.name}: {duration_s / 60:.1f} min diarized in {wall_s:.1f} s (real-time factor "
          f"{result['real_time_factor']:.4f}, {args.threads} threads), peak RSS {result['peak_rss_mb']} MB; "
          f"DER {100 * result['der']:.1f} % (missed {100 * result['missed']:.1f}, false alarm "
          f"{100 * result['false_alarm']:.1f}, confusion {100 * result['confusion']:.1f}); speakers "
          f"{result['speakers_found']} found / {result['speakers_reference']} in the reference")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
