#!/usr/bin/env bash
# Every data set the whisper-align recipes (word model stages, phone heads) train, pick and test on, rebuilt
# on a new machine from frametool and ../shared/train alone (about 25 minutes on 2 cores). Synthetic corpora
# come from (split, seed, voices), so they are the same wherever the same voices are installed: espeak-ng,
# flite and Festival with festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-rablpc16k festvox-don
# (Debian main) and festvox-us1 festvox-us2 festvox-us3 festvox-en1 with mbrola-us1 mbrola-us2 mbrola-us3
# mbrola-en1 (Debian contrib/non-free). Without the contrib voices the Festival dev voice is missing and
# dev-v2 comes out all espeak-ng (76 rows instead of 70), which is a different dev set.
# The real clips: words (and phones) by pocketsphinx (`pip install 'frametool[bench]'`), the speaker split by
# recipes/real_speaker_split.py. A folder whose manifest exists is skipped (rerun after a failure).
# Checked on a new machine (2026-12-04): test-v2 gives the bundled model's RESULTS.md numbers exactly, dev-w
# holds 123 utterances and 2,220 onsets as in the training logs. (The spontaneous-style test-v3 of RESULTS.md
# is not rebuilt here: the seed it was made with is not recorded.)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/data}
CLIPS=${CLIPS:-../shared/train/librispeech-clips}
synth() {  # synth OUT ARGS...
  [ -f "$1/manifest.jsonl" ] || frametool synth "$@" --jobs 1 >/dev/null
}
synth "$DATA/dev-v2" --split dev --hours 0.12 --voices 16 --seed 1 --max-words 60
synth "$DATA/test-v2" --split test --hours 0.5 --voices 24 --seed 2 --clean --max-words 60
synth "$DATA/train-w1" --split train --hours 2.5 --voices 200 --seed 50 --max-words 60 --disfluent 0.5 \
  --engines espeak-ng,festival,flite
[ -f "$DATA/libri-silver2/manifest.jsonl" ] || \
  frametool import "$CLIPS" --out "$DATA/libri-silver2" --format pocketsphinx >/dev/null
[ -f "$DATA/dev-w/manifest.jsonl" ] || python recipes/real_speaker_split.py "$CLIPS" "$DATA/libri-silver2" \
  "$DATA/libri-silver2s" --synthetic-dev "$DATA/dev-v2/manifest.jsonl" --dev-w "$DATA/dev-w/manifest.jsonl"
# phone heads (recipes/whisper-align-phones*.toml)
synth "$DATA/phones-dev" --split dev --hours 0.1 --voices 8 --seed 41 --engines espeak-ng,festival --max-words 40
synth "$DATA/phones-test" --split test --hours 0.15 --voices 16 --seed 42 --clean --engines espeak-ng,festival \
  --max-words 40
[ -f "$DATA/libri-phones/manifest.jsonl" ] || \
  frametool import "$CLIPS" --format pocketsphinx --phones --out "$DATA/libri-phones" >/dev/null
python recipes/split_like.py "$DATA/libri-phones/manifest.jsonl" "$DATA/libri-silver2s"
python recipes/split_like.py --join "$DATA/phones-dev/manifest.jsonl" "$DATA/libri-phones/dev.jsonl" \
  --out "$DATA/phones-dev-mixed.jsonl"
synth "$DATA/phones-train" --split train --hours 1.5 --voices 80 --seed 43 --engines espeak-ng,festival,flite \
  --max-words 40
synth "$DATA/phones-train2" --split train --hours 1.5 --voices 120 --seed 44 --engines espeak-ng,festival,flite \
  --max-words 40
