"""Data step of recipes/whisper-align-phones-real.toml: split a manifest as another import was split, or join
manifests into one.

  python recipes/split_like.py MANIFEST SPLIT_DIR
      writes MANIFEST's folder/train.jsonl and dev.jsonl: the rows whose id SPLIT_DIR/train.jsonl (dev.jsonl)
      holds, so a new import of a corpus keeps the speaker split of an earlier one.
  python recipes/split_like.py --join A.jsonl B.jsonl ... --out OUT.jsonl
      writes every row of A, B, ... to OUT with its audio path made absolute.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--join", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.join:
        if args.out is None:
            parser.error("--join needs --out")
        out = []
        for manifest in args.manifests:
            for row in rows(manifest):
                row["audio"] = str((manifest.parent / row["audio"]).resolve())
                out.append(row)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
        print(f"{args.out}: {len(out)} rows")
        return
    if len(args.manifests) != 2:
        parser.error("give MANIFEST SPLIT_DIR")
    manifest, split = args.manifests
    everything = rows(manifest)
    for name in ("train", "dev"):
        ids = {r["id"] for r in rows(split / f"{name}.jsonl")}
        kept = [r for r in everything if r["id"] in ids]
        (manifest.parent / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        print(f"{manifest.parent / (name + '.jsonl')}: {len(kept)} of {len(ids)} rows")


if __name__ == "__main__":
    main()
