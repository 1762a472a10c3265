"""`frametool align` in several processes: each aligns a share, failures merged, reruns resume."""
import threading

import pytest
import soundfile as sf

from frametool.config import AlignConfig
from frametool.tasks.corpus import discover
from frametool.tasks.sharded import PARTS_DIR, align_corpus_sharded, shard
from tests.conftest import REPO, tone_speech

EXAMPLES = REPO / "examples" / "corpus"


def test_items_go_to_rank_i_mod_world_size():
    items = list(range(7))
    shares = [shard(items, r, 3) for r in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(shares, [])) == items


def _corpus(folder, n=5):
    for k in range(n):
        sf.write(folder / f"u{k}.wav", tone_speech(0.8, seed=k), 16000)
        (folder / f"u{k}.lab").write_text("hello there\n")
    (folder / "u2.lab").write_text("")  # an empty transcript: one failure, on one rank
    return folder


def _run(config, model, world_size=2):
    """`world_size` ranks side by side (threads standing in for processes), as accelerate launch runs them."""
    barrier = threading.Barrier(world_size)
    items = discover(config.corpus)
    results, errors = [None] * world_size, []

    def rank_main(rank):
        try:
            results[rank] = align_corpus_sharded(config, rank, world_size, barrier.wait, items, model=model)
        except Exception as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world_size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_ranks_align_their_shares_into_one_folder_and_merge_failures(tmp_path, bundled_model):
    (tmp_path / "corpus").mkdir()
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    config = AlignConfig(corpus=str(corpus), out=str(out), model="tiny-align", device="cpu")
    merged, own = _run(config, bundled_model)
    assert sorted(p.name for p in out.glob("*.TextGrid")) == [f"u{k}.TextGrid" for k in (0, 1, 3, 4)]
    assert (merged.total, merged.done, len(merged.failures)) == (5, 4, 1)
    assert own.total == 2  # rank 1 had items 1 and 3
    failures = (out / "failures.tsv").read_text().splitlines()
    assert len(failures) == 2 and "u2" in failures[1]  # header + the one failure, whichever rank met it
    assert not (out / PARTS_DIR).exists()
    # a rerun skips the finished files; once the transcript is fixed, failures.tsv goes away
    (corpus / "u2.lab").write_text("hello there\n")
    merged, _ = _run(config, bundled_model)
    assert (merged.skipped, merged.done, merged.failures) == (4, 1, [])
    assert not (out / "failures.tsv").exists()


@pytest.mark.slow
def test_accelerate_launch_aligns_a_corpus_in_two_processes(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("accelerate")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                             "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                             "--num_cpu_threads_per_process", "1", "-m", "frametool", "align", str(EXAMPLES),
                             "--out", str(out), "--device", "cpu", "--model", "tiny-align"],
                            capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    labs = sorted(EXAMPLES.rglob("*.lab"))
    assert len(list(out.rglob("*.TextGrid"))) == len(labs)
    assert result.stderr.count("aligned ") == 1 and f"aligned {len(labs)}," in result.stderr  # rank 0 reports all
