"""`frametool align` in several processes (one per GPU) under `accelerate launch -m frametool align ...`.

Every process discovers the same corpus and aligns its share (item i goes to rank i % world_size) with the
one corpus runner; outputs land in the same folder (written atomically, finished ones skipped, so a rerun
resumes with any number of processes). Each rank leaves its counts and failures in a part file; after a
barrier rank 0 merges them into the one failures.tsv and the summary it prints.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from frametool.config import AlignConfig
from frametool.errors import UsageError
from frametool.tasks.runner import Failure, RunSummary, _finish, align_corpus
from frametool.writers import write_atomic

PARTS_DIR = ".frametool-shards"  # inside --out while the ranks run; removed by rank 0 after merging


def launched_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the variables a torchrun-style launch sets; (0, 1, 0) otherwise."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def process_group_barrier():
    """A barrier over the launched processes (accelerate's process group: NCCL on GPUs, gloo on CPUs)."""
    try:
        from accelerate import PartialState
    except ImportError:
        raise UsageError("aligning in several processes needs accelerate: pip install 'frametool[gpu]'") from None
    return PartialState().wait_for_everyone


def shard(items: list, rank: int, world_size: int) -> list:
    """Item i goes to rank i % world_size."""
    return items[rank::world_size]


def _part_path(config: AlignConfig, rank: int) -> Path:
    return Path(config.out) / PARTS_DIR / f"rank{rank}.json"


def _counts(summary: RunSummary) -> dict:
    return {"total": summary.total, "done": summary.done, "skipped": summary.skipped,
            "flagged_words": summary.flagged_words, "audio_s": summary.audio_s, "wall_s": summary.wall_s,
            "failures": [asdict(f) for f in summary.failures]}


def merge_parts(config: AlignConfig, world_size: int) -> RunSummary:
    """Rank 0, after every rank wrote its part: the corpus's summary; failures.tsv written (or an earlier
    run's removed when nothing failed now) and the parts removed."""
    merged = RunSummary()
    for rank in range(world_size):
        path = _part_path(config, rank)
        try:
            part = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            merged.failures.append(Failure(str(path), "model", f"rank {rank} left no result ({exc})"))
            continue
        for key in ("total", "done", "skipped", "flagged_words", "audio_s"):
            setattr(merged, key, getattr(merged, key) + part[key])
        merged.wall_s = max(merged.wall_s, part["wall_s"])
        merged.failures += [Failure(**f) for f in part["failures"]]
        path.unlink()
    merged.failures.sort(key=lambda f: f.path)
    _finish(config, merged)
    try:
        (Path(config.out) / PARTS_DIR).rmdir()
    except OSError:
        pass
    return merged


def align_corpus_sharded(config: AlignConfig, rank: int, world_size: int, barrier, items, progress=None,
                         model=None) -> RunSummary:
    """This rank's share of `items`, aligned; -> rank 0: the whole corpus's summary, others: their own."""
    if config.out == "-":
        raise UsageError("--out - cannot take JSON lines from several processes: give an output folder")
    if config.workers > 1:
        raise UsageError("--workers cannot be combined with several launched processes")
    summary = align_corpus(config, model=model, progress=progress, items=shard(items, rank, world_size), finish=False)
    write_atomic(_part_path(config, rank), json.dumps(_counts(summary)))
    barrier()
    if rank == 0:
        summary = merge_parts(config, world_size)
    barrier()
    return summary
