#!/usr/bin/env bash
# Generate training data and train the default aligner on a bare CUDA machine with many cores.
# Carried: .gpu/ (recipes/gpu/pack.sh: TTS engines + wheels). Results go to $OUT (or ./out).
# Usage: recipes/gpu/remote_train.sh [MAX_MINUTES]
set -uo pipefail
OUT=${OUT:-$PWD/out}
minutes=${1:-7.5}
log=$OUT/remote.log
mkdir -p "$OUT"
exec > >(tee -a "$log") 2>&1
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
stamp "host $(hostname) cores $(nproc)"; nvidia-smi -L || true
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
rm -rf /tmp/tts && mkdir -p /tmp/tts && tar -C /tmp/tts -xJf .gpu/tts.tar.xz || exit 3
export PATH=/tmp/tts/bin:$PATH LD_LIBRARY_PATH=/tmp/tts/lib:${LD_LIBRARY_PATH:-} ESPEAK_DATA_PATH=/tmp/tts/share
stamp "tools ready"
python3 - <<'PY' || exit 3
from frametool.synth.festival import installed_voices
from frametool.synth.espeak import Espeak
print("festival voices:", sorted(installed_voices()))
e = Espeak.get(); r = e.synthesize(["hello", "world"], [" ", " "], "en-us+m3", 170, 50, 50)
print("espeak ok", len(r.samples), r.word_spans_s)
PY
ft() { python3 recipes/gpu/driver.py "$@"; }  # the library directly (the image may carry another typer)
# rehearsal on a small CPU machine: HOURS_A=0.02 HOURS_B=0.05 HOURS_DEV=0.01 DEVICE=cpu recipes/gpu/remote_train.sh 0.5
data=/tmp/data
n=$(nproc)
ft synth $data/dev --split dev --hours ${HOURS_DEV:-0.15} --voices 16 --seed 1 --max-words 60 --jobs $(( n > 8 ? 4 : 1 )) &
dev_pid=$!
ft synth $data/train-a --split train --hours ${HOURS_A:-3} --voices 120 --seed 10 --max-words 60 --jobs $(( n > 8 ? n - 4 : 1 )) || exit 4
wait $dev_pid
stamp "dev + train-a generated"
ft synth $data/train-b --split train --hours ${HOURS_B:-40} --voices 200 --seed 11 --disfluent ${DISFLUENT_B:-0.5} \
  --max-words 60 --jobs $(( n > 8 ? n - 5 : 1 )) > $OUT/gen-b.log 2>&1 < /dev/null &
sleep 5
ft train recipes/tiny-align-gpu.toml train_manifest=$data/train-a/manifest.jsonl \
  extra_manifests=$data/train-b/manifest.jsonl dev_manifest=$data/dev/manifest.jsonl \
  out_dir=$OUT/run max_minutes=$minutes device=${DEVICE:-cuda} ${TRAIN_EXTRA:-}
stamp "training done"
python3 - <<PY
import json, collections
for name in ("train-a", "train-b", "dev"):
    try:
        rows = [json.loads(l) for l in open("$data/%s/manifest.jsonl" % name) if l.endswith("\n")]
    except OSError:
        continue
    by = collections.Counter()
    for r in rows: by[r["set"]] += r["duration_s"] / 3600
    print(name, len(rows), "utts", {k: round(v, 2) for k, v in by.items()}, "h,", len({r["voice"] for r in rows}), "voices")
PY
stamp "end"
