"""Data step of the whisper-align recipes: the speaker split of the real clips, rebuilt from the corpus alone.

The real dev speakers of every whisper-align recipe are the 40 that the first pocketsphinx import held out
(`frametool import ... --dev-speakers 40 --seed 3`). That import ran before words outside pocketsphinx's
dictionary were pronounced by espeak-ng, so it held only the clips whose words were all in the dictionary,
and its 40 speakers were drawn from the speakers of those clips. This script draws them the same way, so a
new machine gets the same split without the old files:

  python recipes/real_speaker_split.py CLIPS IMPORT_DIR OUT_DIR [--synthetic-dev DEV_MANIFEST --dev-w OUT.jsonl]

  CLIPS       ../shared/train/librispeech-clips
  IMPORT_DIR  a full import of CLIPS (`frametool import CLIPS --out IMPORT_DIR --format pocketsphinx`)
  OUT_DIR     gets train.jsonl (the other speakers' rows), dev.jsonl (the 40 dev speakers' rows) and
              dev_speakers.txt; audio paths made absolute
  --dev-w     also writes the recipes' dev-w manifest: DEV_MANIFEST's rows (dev-v2), then the dev speakers'
              clips whose words are all in the dictionary (the first import's dev.jsonl)

Checked against the recipes' logs: 292 training clips of 221 speakers, 58 dev clips, and a dev-w of 123
utterances with 2,220 word onsets (dev-v2 70 + 53 clips).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from frametool.tasks.corpus import discover, read_transcript
from frametool.training.importers import _speaker_of, held_out

DEV_SPEAKERS = 40
SEED = 3


def rows(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            audio = Path(row["audio"])
            row["audio"] = str(audio if audio.is_absolute() else (path.parent / audio).resolve())
            out.append(row)
    return out


def in_dictionary_clips(clips: Path, lacks) -> tuple[set[str], set[str]]:
    """(file names, speakers) of the clips none of whose spoken words `lacks(word)` is true of (pocketsphinx's
    dictionary lacks it)."""
    names, speakers = set(), set()
    for item in discover(str(clips)):
        words = [w for token in read_transcript(item) for w in token.spoken]
        if not any(lacks(w) for w in words):
            names.add(Path(item.audio).name)
            speakers.add(_speaker_of(item.relative))
    return names, speakers


def split(everything: list[dict], speakers: set[str], count: int = DEV_SPEAKERS,
          seed: int = SEED) -> tuple[list[dict], list[dict], set[str]]:
    """(training rows, dev rows, dev speakers): `count` of `speakers` drawn with `seed` as `frametool import
    --dev-speakers` draws them."""
    held = held_out(speakers, count, seed)
    return ([r for r in everything if r["speaker"] not in held], [r for r in everything if r["speaker"] in held],
            held)


def write(path: Path, kept: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    print(f"{path}: {len(kept)} rows, {sum(len(r['words']) for r in kept)} words")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", type=Path)
    parser.add_argument("import_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--synthetic-dev", type=Path)
    parser.add_argument("--dev-w", type=Path)
    args = parser.parse_args()
    if (args.synthetic_dev is None) != (args.dev_w is None):
        parser.error("--synthetic-dev and --dev-w go together")
    from frametool.bench.peers import PocketsphinxAligner

    names, speakers = in_dictionary_clips(args.clips, PocketsphinxAligner().lacks)
    train, dev, held = split(rows(args.import_dir / "manifest.jsonl"), speakers)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write(args.out_dir / "train.jsonl", train)
    write(args.out_dir / "dev.jsonl", dev)
    (args.out_dir / "dev_speakers.txt").write_text("".join(s + "\n" for s in sorted(held)), encoding="utf-8")
    print(f"training speakers {len({r['speaker'] for r in train})}, dev speakers {len(held)}")
    if args.dev_w:
        args.dev_w.parent.mkdir(parents=True, exist_ok=True)
        write(args.dev_w, rows(args.synthetic_dev) + [r for r in dev if Path(r["audio"]).name in names])


if __name__ == "__main__":
    main()
