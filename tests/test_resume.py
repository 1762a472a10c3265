"""An interrupted run leaves no partial files, and resuming it gives the same outputs as one clean run."""
import filecmp

import pytest

from frametool.config import AlignConfig
from frametool.tasks import runner
from tests.conftest import REPO

CORPUS = REPO / "examples" / "corpus"


def outputs(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, bundled_model):
    clean = tmp_path / "clean"
    runner.align_corpus(AlignConfig(str(CORPUS), str(clean)), model=bundled_model)
    resumed = tmp_path / "resumed"
    real_write = runner.write_atomic
    calls = {"n": 0}

    def interrupting_write(path, text):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real_write(path, text)

    monkeypatch.setattr(runner, "write_atomic", interrupting_write)
    with pytest.raises(KeyboardInterrupt):
        runner.align_corpus(AlignConfig(str(CORPUS), str(resumed)), model=bundled_model)
    assert len(outputs(resumed)) == 3  # whole files only, no temporary leftovers
    monkeypatch.setattr(runner, "write_atomic", real_write)
    summary = runner.align_corpus(AlignConfig(str(CORPUS), str(resumed)), model=bundled_model)
    assert summary.skipped == 3 and summary.done == len(outputs(clean)) - 3
    assert outputs(clean) == outputs(resumed)
    for rel in outputs(clean):
        assert filecmp.cmp(clean / rel, resumed / rel, shallow=False), rel
