#!/usr/bin/env bash
# The mixtures recipes/whisper-diarize.toml trains, picks and is tested on (frametool synth-mixtures; every
# recording comes from (seed, split, index), so this regenerates them exactly). Speakers: train = the 221
# LibriSpeech speakers of libri-silver2s/train.jsonl + the synthetic training voices of train-w1; dev = the
# LibriSpeech dev speakers of libri-dev-a + the dev voices of dev-v2; test = libri-dev-b + test-v2 (speakers and
# voices that training and dev never hear). About 5 minutes on 2 cores.
set -euo pipefail
DATA=${DATA:-/work/data}
OUT=${OUT:-$DATA}
TRAIN="--speech $DATA/libri-silver2s/train.jsonl --speech $DATA/train-w1/manifest.jsonl"
DEV="--speech $DATA/scenes-src/libri-dev-a.jsonl --speech $DATA/dev-v2/manifest.jsonl"
TEST="--speech $DATA/scenes-src/libri-dev-b.jsonl --speech $DATA/test-v2/manifest.jsonl"
# libri-dev-a / -b: the real dev speakers of libri-silver2s/dev.jsonl (recipes/whisper-align-data.sh), every
# other one by speaker id (sorted as numbers): a for dev mixtures, b for held-out test mixtures
if [ ! -f "$DATA/scenes-src/libri-dev-b.jsonl" ]; then
  mkdir -p "$DATA/scenes-src"
  python - "$DATA" <<'PY'
import json, sys
from pathlib import Path
data = Path(sys.argv[1])
rows = [json.loads(line) for line in (data / "libri-silver2s/dev.jsonl").read_text().splitlines() if line.strip()]
speakers = sorted({r["speaker"] for r in rows}, key=int)
for part, chosen in (("a", set(speakers[0::2])), ("b", set(speakers[1::2]))):
    (data / f"scenes-src/libri-dev-{part}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows if r["speaker"] in chosen))
PY
fi
mix() {  # a folder whose manifest exists is done (rerun after a failure)
  [ -f "$1/manifest.jsonl" ] || frametool synth-mixtures "$@" --speakers 1-6 --jobs 2 >/dev/null
}
mix "$OUT/diar-train/count10" $TRAIN --split train --style count --duration 10 --recordings 400 --seed 1
mix "$OUT/diar-train/count30" $TRAIN --split train --style count --duration 30 --recordings 300 --seed 2
mix "$OUT/diar-train/conv15" $TRAIN --split train --style conversation --duration 15 --recordings 300 --seed 3
mix "$OUT/diar-train/conv30" $TRAIN --split train --style conversation --duration 30 --recordings 600 --seed 4
mix "$OUT/diar-dev/count10" $DEV --split dev --style count --duration 10 --recordings 20 --seed 5
mix "$OUT/diar-dev/count30" $DEV --split dev --style count --duration 30 --recordings 20 --seed 6
mix "$OUT/diar-dev/conv30" $DEV --split dev --style conversation --duration 30 --recordings 30 --seed 7
mix "$OUT/diar-test/count10" $TEST --split test --style count --duration 10 --recordings 60 --seed 8
mix "$OUT/diar-test/count30" $TEST --split test --style count --duration 30 --recordings 60 --seed 9
mix "$OUT/diar-test/conv30" $TEST --split test --style conversation --duration 30 --recordings 80 --seed 10
# the same dev and test conversations with about 3 non-speech sounds each (music, alarms, sirens, knocks,
# chirps; needs fluidsynth + fluid-soundfont-gm): what a speech gate is chosen and tested on
mix "$OUT/diar-train-sounds/count30" $TRAIN --split train --style count --duration 30 --recordings 300 --seed 14 --sounds 3
mix "$OUT/diar-train-sounds/conv30" $TRAIN --split train --style conversation --duration 30 --recordings 600 --seed 15 --sounds 3
mix "$OUT/diar-dev-sounds/conv30" $DEV --split dev --style conversation --duration 30 --recordings 30 --seed 7 --sounds 3
mix "$OUT/diar-dev-sounds/count30" $DEV --split dev --style count --duration 30 --recordings 20 --seed 6 --sounds 3
mix "$OUT/diar-test-sounds/conv30" $TEST --split test --style conversation --duration 30 --recordings 80 --seed 10 --sounds 3
# long recordings: dev ones choose the threshold that links speakers across windows; held-out test ones and
# one 20-minute meeting-like recording (4-6 speakers) measure long-recording diarization and its speed
mix "$OUT/diar-dev/conv120" $DEV --split dev --style conversation --duration 120 --recordings 8 --seed 11
mix "$OUT/diar-test/conv120" $TEST --split test --style conversation --duration 120 --recordings 10 --seed 12
[ -f "$OUT/diar-test-20min/manifest.jsonl" ] || frametool synth-mixtures "$OUT/diar-test-20min" $TEST --split test --style conversation --duration 1200 \
    --recordings 1 --speakers 4-6 --seed 13 --jobs 1 >/dev/null
