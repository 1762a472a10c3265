"""`frametool bench length`: the paper's length-generalisation table (Table 4) at small scale.

Three models with the same small backbone, trained for the same wall time on the same clips, differ only in
their output side:
- poisson: the per-word pointer head with the conditional IHP loss (frametool's aligner);
- binary: the same pointer scores trained as per-frame binary targets with reweighted BCE;
- tokens: the backbone generates the answer text "[0.21, 0.49, ...]" (word onsets) after [prompt; audio].
Every backbone starts from a trained model (the bundled aligner by default; the paper fine-tunes a pretrained
audio LM) with a fresh output side. Training clips hold only words inside [0, R) seconds (R = the train range); the test clips are cut at the
end of a longer range and only the words whose onsets fall inside it are scored, e.g. train 0-4 s, test
0-4 s (matched) and 4-8 s (out of range). Clips are cut from a synthetic corpus with exact word times
(`frametool synth`), training clips from its training split, test clips from voices never trained on.
"""
from __future__ import annotations

import math
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from frametool.audio.io import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from frametool.errors import UsageError
from frametool.framegrid import FrameGrid

HEADS = ("poisson", "binary", "tokens")


@dataclass(frozen=True)
class LengthConfig:
    train_range_s: float = 4.0
    test_ranges_s: tuple[tuple[float, float], ...] = ((0.0, 4.0), (4.0, 8.0))
    minutes_per_model: float = 5.0
    batch_size: int = 16
    lr: float = 1e-3
    d_model: int = 128
    enc_layers: int = 3
    dec_layers: int = 2
    n_heads: int = 4
    max_test_clips: int = 120
    seed: int = 0
    threads: int = 2
    # start every backbone from this trained model (its heads are not used: each output side starts fresh),
    # as the paper fine-tunes a pretrained audio LM; "" = from scratch with the sizes above
    init: str = "tiny-align"


@dataclass(frozen=True)
class Clip:
    wave: np.ndarray
    tokens: list
    onsets_s: np.ndarray
    offsets_s: np.ndarray
    scored: np.ndarray  # (W,) bool: onsets inside the tested range


def cut_clip(wave: np.ndarray, tokens: list, spans_s: list[tuple[float, float]], start_s: float, end_s: float,
             scored_from_s: float = 0.0) -> Clip | None:
    """The audio [start_s, end_s) with the words wholly inside it (times relative to start_s); words whose
    onsets lie at or after `scored_from_s` (absolute) are scored. None when no word is inside, or when a
    word is cut by the end (so the transcript matches the audio exactly)."""
    keep = [i for i, (a, b) in enumerate(spans_s) if a >= start_s and b <= end_s]
    if not keep or any(a < end_s < b for a, b in spans_s) or any(a < start_s < b for a, b in spans_s):
        return None
    cut = wave[int(round(start_s * SAMPLE_RATE_HZ)): int(round(end_s * SAMPLE_RATE_HZ))]
    on = np.array([spans_s[i][0] for i in keep]) - start_s
    off = np.array([spans_s[i][1] for i in keep]) - start_s
    return Clip(cut, [tokens[i] for i in keep], on, off, on + start_s >= scored_from_s)


def clips_within(examples, waves, hi_s: float, lo_s: float = 0.0) -> list[Clip]:
    """Each utterance cut at the last pause before `hi_s` (all its words inside [0, hi_s)), scoring the words
    whose onsets lie in [lo_s, hi_s); utterances with no scored word are left out."""
    clips = []
    for e, w in zip(examples, waves):
        ends = [b for _, b in e.spans_s if b <= hi_s]
        if not ends:
            continue
        nxt = [a for a, _ in e.spans_s if a >= ends[-1]]
        end = min(hi_s, len(w) / SAMPLE_RATE_HZ, (ends[-1] + nxt[0]) / 2 if nxt else hi_s)
        clip = cut_clip(w, e.tokens, e.spans_s, 0.0, end, scored_from_s=lo_s)
        if clip is not None and clip.scored.any():
            clips.append(clip)
    return clips


def parse_answer(text: str, n: int) -> np.ndarray:
    """Generated "[0.21, 0.49, ...]" -> (n,) onsets; NaN where the answer has no number for a word."""
    numbers = [float(x) for x in re.findall(r"\d+\.\d+|\d+", text)]
    out = np.full(n, np.nan)
    out[: min(n, len(numbers))] = numbers[:n]
    return out


def score(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Onset errors of the scored words: % within 20 and 40 ms (a missing prediction counts as a miss), MAE
    over the predicted ones, and how many were missing."""
    err = np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(ref, dtype=np.float64))
    found = ~np.isnan(err)
    n = max(1, len(err))
    return {"words": int(len(err)),
            "within_20ms": round(100 * float(np.sum(err[found] <= 0.02 + 1e-9)) / n, 2),
            "within_40ms": round(100 * float(np.sum(err[found] <= 0.04 + 1e-9)) / n, 2),
            "mae_ms": round(1000 * float(err[found].mean()), 1) if found.any() else None,
            "missing": int(np.sum(~found))}


def _backbone_config(config: LengthConfig) -> dict:
    return dict(d_model=config.d_model, n_heads=config.n_heads, enc_layers=config.enc_layers,
                dec_layers=config.dec_layers, query_after_audio=True)


def _build(head: str, config: LengthConfig):
    from frametool.backbones.generate import AnswerHead
    from frametool.model import FrameModel, ModelConfig, load_model

    if config.init:
        source = load_model(config.init)
        backbone_config = dict(source.config.backbone_config, ctc=False)
        model = FrameModel(ModelConfig(backbone_config=backbone_config, name=f"length-{head}"))
        state = {k: v.float() for k, v in source.backbone.state_dict().items() if not k.startswith("ctc_head")}
        model.backbone.load_state_dict(state)
    else:
        model = FrameModel(ModelConfig(backbone_config=_backbone_config(config), name=f"length-{head}"))
    if head == "tokens":
        model.answer = AnswerHead(model.backbone.config.d_model)
    return model


def _loss(head: str, model, clips: list[Clip]) -> torch.Tensor:
    from frametool.backbones.generate import answer_inputs, answer_text, teacher_forced_logits
    from frametool.heads.binary import weighted_bce
    from frametool.heads.poisson import pointer_nll
    from frametool.model import make_batch

    batch = make_batch([c.wave for c in clips], [c.tokens for c in clips], features=model.backbone.config.features)
    shift = model.backbone.frame_shift_s
    if head == "tokens":
        inputs, targets = answer_inputs([answer_text(c.onsets_s) for c in clips])
        logits = teacher_forced_logits(model.backbone, model.answer, batch.feats, batch.feat_lens, batch.ids,
                                       batch.word_index, inputs)
        return torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100)
    logits, out = model(batch)  # (B, 2, W, T)
    B, C, W, T = logits.shape
    targets = torch.full((B, C, W), -1, dtype=torch.long)
    for b, c in enumerate(clips):
        grid = FrameGrid(shift, int(out.frame_mask[b].sum()))
        targets[b, 0, : len(c.tokens)] = torch.from_numpy(grid.frame_of(c.onsets_s).astype(np.int64))
        targets[b, 1, : len(c.tokens)] = torch.from_numpy(
            grid.frame_of(np.maximum(c.offsets_s - 1e-6, 0)).astype(np.int64))
    if head == "poisson":
        return pointer_nll(logits, out.frame_mask, batch.word_mask, targets, shift, "conditional")
    onehot = torch.zeros(B, C, W, T)
    valid = targets >= 0
    onehot[valid.nonzero(as_tuple=True) + (targets[valid],)] = 1.0
    mask = (batch.word_mask[:, None, :, None] & out.frame_mask[:, None, None, :]).expand(B, C, W, T)
    return weighted_bce(logits.reshape(B * C * W, T, 1), onehot.reshape(B * C * W, T, 1),
                        mask.reshape(B * C * W, T))


def train_model(head: str, clips: list[Clip], config: LengthConfig, log=print):
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = _build(head, config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    began, step, running = time.time(), 0, []
    order = sorted(range(len(clips)), key=lambda i: len(clips[i].wave))
    groups = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    while time.time() - began < config.minutes_per_model * 60:
        rng.shuffle(groups)
        for group in groups:
            progress = (time.time() - began) / (config.minutes_per_model * 60)
            if progress >= 1:
                break
            for g in optimizer.param_groups:  # short warm-up, then cosine over the wall-time budget
                g["lr"] = config.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * progress))
            loss = _loss(head, model, [clips[i] for i in group])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running.append(loss.item())
            step += 1
            if step % 50 == 0:
                log(f"{head} step {step} loss {np.mean(running):.4f} {(time.time() - began) / 60:.1f} min")
                running = []
    model.eval()
    model.steps = step
    return model


def predict(head: str, model, clips: list[Clip]) -> list[np.ndarray]:
    """Predicted onsets per clip: the exact monotonic decoder (poisson, binary: posterior mode) or the
    generated answer text (tokens)."""
    from frametool.backbones.generate import decode_answer, generate
    from frametool.model import make_batch
    from frametool.tasks.align import AlignRequest, align_batch

    if head != "tokens":
        out = []
        for s in range(0, len(clips), 16):
            chunk = clips[s:s + 16]
            out += [t.start_s for t in align_batch(model, [AlignRequest(c.wave, c.tokens) for c in chunk], "mode")]
        return out
    out = []
    for c in clips:  # one at a time: generation takes unpadded inputs
        batch = make_batch([c.wave], [c.tokens], features=model.backbone.config.features)
        ids = generate(model.backbone, model.answer, batch.feats, batch.feat_lens, batch.ids, batch.word_index,
                       steps=8 * len(c.tokens) + 4, stop_at_eos=True)
        out.append(parse_answer(decode_answer(ids[0].tolist()), len(c.tokens)))
    return out


def run_length(train_manifest: Path, test_manifest: Path, config: LengthConfig = LengthConfig(),
               heads=HEADS, max_train: int = 0, log=print) -> dict:
    from frametool.training.data import load_waves, read_manifest

    torch.set_num_threads(config.threads)
    train_examples = read_manifest(Path(train_manifest))
    random.Random(config.seed).shuffle(train_examples)
    if max_train:
        train_examples = train_examples[:max_train]
    test_examples = read_manifest(Path(test_manifest))
    random.Random(config.seed + 1).shuffle(test_examples)
    clips = clips_within(train_examples, load_waves(train_examples), config.train_range_s)
    if not clips:
        raise UsageError(f"{train_manifest}: no utterance has a word within 0-{config.train_range_s:g} s")
    test_waves = load_waves(test_examples)
    tests = {f"{lo:g}-{hi:g}s": clips_within(test_examples, test_waves, hi, lo)[: config.max_test_clips]
             for lo, hi in config.test_ranges_s}
    log(f"train clips {len(clips)} (words in 0-{config.train_range_s:g} s); test clips "
        + ", ".join(f"{k}: {len(v)}" for k, v in tests.items()))
    rows = []
    for head in heads:
        model = train_model(head, clips, config, log)
        for name, test in tests.items():
            if not test:
                continue
            preds = predict(head, model, test)
            pred = np.concatenate([p[c.scored] for p, c in zip(preds, test)])
            ref = np.concatenate([c.onsets_s[c.scored] for c in test])
            lo, hi = (float(x) for x in name[:-1].split("-"))
            rows.append({"head": head, "train_range": f"0-{config.train_range_s:g}s", "test_range": name,
                         "matched": hi <= config.train_range_s + 1e-9, "steps": model.steps, **score(pred, ref)})
            log(f"{head} {name}: {rows[-1]}")
    return {"config": {**asdict(config), "train_manifest": str(train_manifest), "test_manifest": str(test_manifest),
                       "train_clips": len(clips)}, "rows": rows}


def table(report: dict) -> str:
    head = f"{'head':8s} {'train':>7s} {'test':>7s} {'matched':>7s} {'words':>6s} {'<=20ms':>7s} {'<=40ms':>7s} {'MAE ms':>8s} {'missing':>7s} {'steps':>6s}"
    lines = [head, "-" * len(head)]
    for r in report["rows"]:
        mae = "-" if r["mae_ms"] is None else f"{r['mae_ms']:.1f}"
        lines.append(f"{r['head']:8s} {r['train_range']:>7s} {r['test_range']:>7s} {str(r['matched']):>7s} "
                     f"{r['words']:6d} {r['within_20ms']:7.2f} {r['within_40ms']:7.2f} {mae:>8s} {r['missing']:7d} "
                     f"{r['steps']:6d}")
    c = report["config"]
    start = f"backbone from {c['init']}, new output side" if c["init"] else (
        f"from scratch, d={c['d_model']}, {c['enc_layers']}+{c['dec_layers']} layers")
    lines.append(f"each model: {start}; {c['minutes_per_model']:g} min of training on {c['threads']} threads, "
                 f"{c['train_clips']} clips")
    return "\n".join(lines)
