"""Regenerate examples/: a small synthetic corpus (held-out test voices, clean) with references.

    python examples/make_examples.py

Writes examples/corpus/<voice>/<utt>.wav + .lab (the aligner's input) and examples/reference/<voice>/
<utt>.TextGrid (exact word times from the synthesiser, for `frametool bench accuracy`).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from frametool.synth.generate import SynthConfig, generate

HERE = Path(__file__).parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate(SynthConfig(Path(tmp), split="test", hours=40 / 3600, num_voices=3, seed=7,
                             augment=False, max_words=14, jobs=1, engines=("espeak-ng",)))
        for sub in ("corpus", "reference"):
            shutil.rmtree(HERE / sub, ignore_errors=True)
        for wav in sorted(Path(tmp).rglob("*.wav")):
            voice = wav.parent.name.split("-r")[0].replace("espeak-ng-", "speaker-")
            for ext, sub in ((".wav", "corpus"), (".lab", "corpus"), (".TextGrid", "reference")):
                target = HERE / sub / voice / (wav.stem + ext)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(wav.with_suffix(ext), target)


if __name__ == "__main__":
    main()
