from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bundled_model():
    from frametool.model import load_model

    return load_model("tiny-align")


def tone_speech(duration_s: float, sample_rate_hz: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: bursts of harmonic tones separated by silences."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    envelope = (np.sin(2 * np.pi * 2.5 * t) > 0).astype(np.float32)
    f0 = 120 + 30 * rng.random()
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    return (0.2 * envelope * x).astype(np.float32)


def noise_manifest(folder: Path, count: int) -> Path:
    """`count` 2 s noise files, each labelled "alpha bravo" with fixed word times, and their manifest.jsonl:
    a training set for runs of a few steps."""
    import json

    import soundfile as sf

    rows = []
    for k in range(count):
        path = folder / f"u{k}.wav"
        sf.write(path, (np.random.default_rng(k).standard_normal(32000) * 0.1).astype(np.float32), 16000)
        rows.append({"audio": path.name, "transcript": "alpha bravo", "duration_s": 2.0,
                     "words": [{"label": "alpha", "start_s": 0.2, "end_s": 0.8},
                               {"label": "bravo", "start_s": 1.0, "end_s": 1.6}]})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest
