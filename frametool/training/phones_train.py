"""`frametool train RECIPE.toml` with `[train] task = "phones"`: a phone head on a trained alignment model.

Only the phone head (heads/phones.py) learns: the backbone and the word head are frozen, so the model's word
outputs stay exactly what they were. Because nothing under the head changes, the backbone reads every
training utterance once (eval mode) and its word, frame and audio states are kept in memory (float16);
the head then trains on those for many steps at little cost. Targets are the exact phone onsets of
synthetic manifests (`words[i].phones`); words without phones are not scored. Each word's interval, which
places its phones (r_pk in the head), is jittered by about a frame so the head learns to work from a decoded
interval, not only from the true one. The dev score is the share of phone onsets within 20 ms on dev voices,
aligned as `frametool align` aligns them; the best checkpoint goes to `out_dir/best`.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from frametool.errors import UsageError
from frametool.framegrid import FrameGrid


@dataclass(frozen=True)
class PhoneTrainConfig:
    train_manifest: str
    dev_manifest: str
    out_dir: str
    task: str = "phones"
    init_from: str = "whisper-align"  # the model whose backbone and word head are kept as they are
    extra_manifests: tuple[str, ...] = ()
    seed: int = 0
    steps: int = 3000
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    batch_size: int = 16  # utterances per step
    eval_every: int = 500
    dev_limit: int = 100
    threads: int = 2
    max_minutes: float = 0.0
    context: int = 5  # frames the head's key convolution sees
    margin_frames: int = 3  # the loss's softmax runs over the word's frames and this many either side
    jitter_frames: float = 1.0  # sd of the jitter of each word's interval edges (frames)
    # each phone onset's target is split between its frame and a neighbour so that the posterior median the
    # decoder reads (uniform density within a frame) falls at the onset's exact place inside its frame
    # (heads/poisson.py subframe_split); false: all of it on the onset's frame
    subframe_targets: bool = False
    # onsets scored on a grid this many times finer than the backbone's frames, the head also reading the
    # backbone's log-mel frames (heads/phones.py); 1: the backbone's own frames
    fine: int = 1
    # a fine head's log-mel frames changed in training as training/specaug.py changes features (FeatureAugment
    # fields, the recipe's [mel_augment] table; {} = unchanged), so it leans less on the synthetic voices' spectra
    mel_augment: dict = field(default_factory=dict)
    save_dtype: str = "float32"
    # a folder for the cached backbone states, one file per manifest (reused while the manifest and the
    # init_from model are unchanged); "" = keep them in memory only
    cache_dir: str = ""
    data_recipe: dict = field(default_factory=dict)


def load_phone_recipe(path: Path, overrides: list[str] = ()) -> PhoneTrainConfig:
    from frametool.training.train import apply_overrides, read_recipe, resolve_recipe_paths

    raw = read_recipe(path)
    flat = {**raw.get("train", {}), "data_recipe": raw.get("data", {})}
    if "mel_augment" in raw:
        flat["mel_augment"] = raw["mel_augment"]
    apply_overrides(flat, overrides)
    unknown = set(flat) - {f.name for f in fields(PhoneTrainConfig)}
    if unknown:
        raise UsageError(f"recipe {path}: unknown keys {sorted(unknown)}")
    resolve_recipe_paths(flat, path.parent, ("train_manifest", "dev_manifest", "out_dir", "init_from"))
    flat["extra_manifests"] = tuple(str((path.parent / m).resolve()) if not Path(m).is_absolute() else m
                                    for m in flat.get("extra_manifests", ()))
    try:
        from frametool.training.specaug import FeatureAugment

        FeatureAugment(**flat.get("mel_augment", {}))
        return PhoneTrainConfig(**flat)
    except TypeError as exc:
        raise UsageError(f"recipe {path}: {exc}") from None


@dataclass
class Cached:
    """One training utterance as the frozen backbone sees it, with its phone targets."""

    words: torch.Tensor  # (W, H) float16
    frames: torch.Tensor  # (T, H)
    audio: torch.Tensor  # (T, H)
    pronunciations: list  # per word its labels (tuple) or None
    word_frames: np.ndarray  # (W, 2) per word (onset, offset) in frames
    onset_frames: torch.Tensor  # (P,) per phone row, the frame of its onset
    codes: tuple  # heads.phones.phone_codes of the pronunciations
    onset_place: torch.Tensor  # (P,) where in that frame the onset lies, in [0, 1)
    mel: torch.Tensor | None = None  # (Tm, M) float16 log-mel frames, for a fine head (attach_mels)


def _phone_rows(example) -> tuple[list, list[float]]:
    prons, onsets = [], []
    for word in example.phones:
        if word:
            prons.append(tuple(label for label, _, _ in word))
            onsets.extend(a for _, a, _ in word)
        else:
            prons.append(None)
    return prons, onsets


def _with_phone_times(examples) -> list:
    """The examples a phone head trains on (those with phone times), shortest first: the order of the cache."""
    return sorted([e for e in examples if e.phones], key=lambda e: e.duration_s)


def cache_states(model, examples, log=print, batch_size: int = 8) -> list[Cached]:
    """Run the frozen backbone once over every example that has phones."""
    from frametool.heads.phones import phone_codes
    from frametool.training.data import load_waves

    model.eval()
    usable = _with_phone_times(examples)
    out_list: list[Cached] = []
    started = time.time()
    shift = model.backbone.frame_shift_s
    for start in range(0, len(usable), batch_size):
        chunk = usable[start:start + batch_size]
        waves = load_waves(chunk)
        batch = model.make_batch(waves, [e.tokens for e in chunk])
        with torch.inference_mode():
            _, out = model(batch)
        for b, example in enumerate(chunk):
            n_frames = int(out.frame_mask[b].sum())
            grid = FrameGrid(shift, n_frames)
            prons, onsets = _phone_rows(example)
            onset_frames = np.asarray(grid.frame_of(np.asarray(onsets)), dtype=np.int64).reshape(-1)
            place = np.clip(grid.fractional(np.asarray(onsets, dtype=np.float64)).reshape(-1) - onset_frames, 0.0,
                            1.0 - 1e-6)
            out_list.append(Cached(out.words[b, :len(example.tokens)].half().clone(),
                                   out.frames[b, :n_frames].half().clone(), out.audio[b, :n_frames].half().clone(),
                                   prons, grid.fractional(np.asarray(example.spans_s, dtype=np.float64)),
                                   torch.as_tensor(onset_frames, dtype=torch.long), phone_codes(prons),
                                   torch.as_tensor(place, dtype=torch.float32)))
        if start // batch_size % 50 == 0:
            log(f"cached {len(out_list)}/{len(usable)} utterances ({time.time() - started:.0f} s)")
    return out_list


def cached_for(model, manifest: Path, config: PhoneTrainConfig, log=print) -> list[Cached]:
    """cache_states of one manifest's examples, read from / written to config.cache_dir when it is set."""
    import hashlib

    from frametool.model import resolve_model_dir
    from frametool.training.data import read_manifest

    examples = read_manifest(manifest)
    if not config.cache_dir:
        return cache_states(model, examples, log)
    weights = resolve_model_dir(config.init_from) / "model.safetensors"
    key = hashlib.sha256(f"v2|{manifest.resolve()}|{manifest.stat().st_mtime_ns}|{weights.resolve()}|"
                         f"{weights.stat().st_mtime_ns}".encode()).hexdigest()[:16]
    path = Path(config.cache_dir) / f"{manifest.parent.name}-{key}.pt"
    if path.exists():
        log(f"cached states of {manifest} from {path}")
        return [Cached(**row) for row in torch.load(path, weights_only=False)]
    found = cache_states(model, examples, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    torch.save([vars(c) for c in found], tmp)
    tmp.replace(path)
    return found


def attach_mels(model, manifest: Path, cached: list[Cached], config: PhoneTrainConfig, log=print) -> None:
    """Give each cached utterance of `manifest` (cache_states' order) the log-mel frames a fine head reads;
    kept in config.cache_dir when it is set (they depend on the audio and the features only)."""
    import hashlib

    from frametool.audio.features import log_mel_batch
    from frametool.training.data import load_waves, read_manifest

    path = None
    if config.cache_dir:
        key = hashlib.sha256(f"mel|{manifest.resolve()}|{manifest.stat().st_mtime_ns}|"
                             f"{model.backbone.config.features}".encode()).hexdigest()[:16]
        path = Path(config.cache_dir) / f"{manifest.parent.name}-mel-{key}.pt"
    if path is not None and path.exists():
        mels = torch.load(path)
    else:
        usable = _with_phone_times(read_manifest(manifest))  # cache_states' utterances, in its order
        mels = []
        for start in range(0, len(usable), 16):
            waves = load_waves(usable[start:start + 16])
            mels += [m.half() for m in log_mel_batch([torch.from_numpy(np.asarray(w, dtype=np.float32)) for w in waves],
                                                     model.backbone.config.features)]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(mels, path.with_suffix(".part"))
            path.with_suffix(".part").replace(path)
    if len(mels) != len(cached):
        raise UsageError(f"{manifest}: {len(mels)} log-mel rows for {len(cached)} cached utterances; delete the cache")
    for c, m in zip(cached, mels):
        c.mel = m
    log(f"log-mel frames of {manifest}: {len(mels)} utterances")


def _collate(items: list[Cached], rng: np.random.Generator, config: PhoneTrainConfig,
             augment: torch.Generator | None = None):
    """A training batch; `augment`: the generator of config.mel_augment's changes (None: none)."""
    from frametool.heads.phones import make_phone_batch

    B = len(items)
    H = items[0].frames.shape[1]
    f = config.fine
    T = max(c.frames.shape[0] for c in items)
    W = max(c.words.shape[0] for c in items)
    frames, audio = torch.zeros(B, T, H), torch.zeros(B, T, H)
    words = torch.zeros(B, W, H)
    mel = torch.zeros(B, f * T, items[0].mel.shape[1]) if f > 1 else None
    jittered = []
    for b, c in enumerate(items):
        frames[b, :len(c.frames)], audio[b, :len(c.audio)] = c.frames.float(), c.audio.float()
        words[b, :len(c.words)] = c.words.float()
        if mel is not None:
            mel[b, :min(len(c.mel), f * T)] = c.mel[:f * T].float()
        noise = rng.normal(0.0, config.jitter_frames, c.word_frames.shape) if config.jitter_frames else 0.0
        moved = c.word_frames + noise
        moved[:, 1] = np.maximum(moved[:, 1], moved[:, 0] + 0.5)
        jittered.append(moved)
    if mel is not None and augment is not None and config.mel_augment:
        from frametool.training.specaug import FeatureAugment, augment_features

        lens = torch.tensor([min(len(c.mel), f * T) for c in items])
        mel = augment_features(mel, lens, FeatureAugment(**config.mel_augment), augment)
    phones, _ = make_phone_batch([c.pronunciations for c in items], jittered, [c.codes for c in items])
    P = phones.ids.shape[1]
    targets = torch.full((B, P), -1, dtype=torch.long)
    place = torch.zeros(B, P)
    lo, hi = torch.zeros(B, P), torch.full((B, P), -1.0)
    for b, c in enumerate(items):  # targets and the loss's frames on the head's grid (f per backbone frame)
        n = len(c.onset_frames)
        at = f * (c.onset_frames.float() + c.onset_place)
        targets[b, :n] = at.floor().long().clamp_max(f * len(c.frames) - 1)
        place[b, :n] = (at - at.floor()).clamp(0.0, 1.0 - 1e-6)
        true = f * torch.as_tensor(c.word_frames, dtype=torch.float32)[c.codes[0][4]]  # (n, 2) the true word
        lo[b, :n] = (true[:, 0].floor() - f * config.margin_frames).clamp(0, f * len(c.frames) - 1)
        hi[b, :n] = (true[:, 1].ceil() - 1 + f * config.margin_frames).clamp_max(f * len(c.frames) - 1)
    t = torch.arange(f * T, dtype=torch.float32)
    allowed = (t >= lo[..., None]) & (t <= hi[..., None])  # (B, P, f * T)
    soft = None
    if config.subframe_targets:
        from frametool.heads.poisson import subframe_split

        frame = targets.clamp_min(0)
        here, other = subframe_split(place, frame, lo.long(), hi.long().clamp_min(0))
        scored = (targets >= 0).float()
        soft = torch.zeros(B, P, f * T).scatter_add_(2, frame[..., None], (here * scored)[..., None])
        soft.scatter_add_(2, other[..., None], ((1 - here) * scored)[..., None])
    return words, frames, audio, phones, targets, allowed, soft, mel


def evaluate_phones(model, examples, limit: int) -> dict:
    """Phone onsets (every phone of every word with reference phones, given its reference labels) against
    the reference, aligned as `frametool align` aligns (tasks/long.py)."""
    from frametool.audio.io import load_audio
    from frametool.bench.metrics import boundary_stats
    from frametool.tasks.align import AlignRequest
    from frametool.tasks.long import align_recordings

    model.eval()
    errors = []
    for example in [e for e in examples if e.phones][:limit]:
        prons, _ = _phone_rows(example)
        times = align_recordings(model, [AlignRequest(load_audio(example.audio).samples, example.tokens, prons)])[0]
        for ref, got in zip(example.phones, times.phones):
            if ref and got is not None:
                errors.extend(np.asarray(got.start_s) - np.asarray([a for _, a, _ in ref]))
    return boundary_stats(np.asarray(errors)).as_dict()


def train_phones(config: PhoneTrainConfig, log=print) -> Path:
    from frametool.heads.phones import PhoneHead, phone_nll
    from frametool.model import load_model, save_model
    from frametool.training.data import read_manifest

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    pick = random.Random(config.seed)
    torch.set_num_threads(config.threads)
    model = load_model(config.init_from)
    if not hasattr(model, "head") or model.config.backbone != "tiny":
        raise UsageError(f"init_from {config.init_from!r}: a phone head goes on a tiny/whisper alignment model")
    for p in model.parameters():
        p.requires_grad_(False)
    n_mels = model.backbone.config.n_mels if config.fine > 1 else 0
    model.config.phone_head = {"context": config.context, **({"fine": config.fine, "n_mels": n_mels}
                                                             if config.fine > 1 else {}),
                               "trained": {"recipe": asdict(config), "seed": config.seed}}
    model.phone_head = PhoneHead(model.backbone.config.d_model, config.context, config.fine, n_mels)
    params = list(model.phone_head.parameters())
    log(f"phone head: {sum(p.numel() for p in params) / 1e6:.2f} M parameters; everything else frozen")
    dev_set = read_manifest(Path(config.dev_manifest))
    random.Random(1).shuffle(dev_set)
    cached = []
    for manifest in (config.train_manifest, *config.extra_manifests):
        rows = cached_for(model, Path(manifest), config, log)
        if config.fine > 1:
            attach_mels(model, Path(manifest), rows, config, log)
        cached += rows
    if not cached:
        raise UsageError(f"{config.train_manifest}: no utterance has phone times (words[i].phones); make one "
                         "with `frametool synth`")
    log(f"train {len(cached)} utterances with phones, {sum(len(c.onset_frames) for c in cached)} phones")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    started = time.time()

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        if config.max_minutes:
            progress = max(progress, (time.time() - started) / 60 / config.max_minutes)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    dtypes = {"float32": None, "float16": torch.float16}
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "recipe.json").write_text(json.dumps(asdict(config), indent=2))
    best, running = -1.0, []
    augment = torch.Generator().manual_seed(config.seed) if config.mel_augment else None
    order: list[list[int]] = []
    for step in range(1, config.steps + 1):
        if not order:  # a shuffled pass, batched among utterances of similar length (less padding)
            shuffled = pick.sample(range(len(cached)), len(cached))
            pool = 8 * config.batch_size
            for s in range(0, len(shuffled), pool):
                part = sorted(shuffled[s:s + pool], key=lambda i: len(cached[i].frames))
                order += [part[k:k + config.batch_size] for k in range(0, len(part), config.batch_size)]
            pick.shuffle(order)
        chosen = order.pop()
        model.phone_head.train()
        words, frames, audio, phones, targets, allowed, soft, mel = _collate([cached[i] for i in chosen], rng, config,
                                                                           augment)
        logits = model.phone_head(words, frames, audio, phones, mel)
        loss = phone_nll(logits, allowed, targets, soft)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        running.append(loss.item())
        if step % 50 == 0:
            log(f"step {step} loss {np.mean(running):.4f} lr {scheduler.get_last_lr()[0]:.2e} "
                f"{(time.time() - started) / 60:.1f} min")
            running = []
        timed_out = bool(config.max_minutes and (time.time() - started) / 60 > config.max_minutes)
        if step % config.eval_every == 0 or step == config.steps or timed_out:
            save_model(model, out_dir / "last", dtypes.get(config.save_dtype))
            scores = evaluate_phones(model, dev_set, config.dev_limit)
            log(f"dev step {step}: phone onsets {scores}")
            if scores["within_20ms"] > best:
                best = scores["within_20ms"]
                model.config.phone_head["trained"]["dev_onsets_within_20ms"] = best
                model.config.phone_head["trained"]["step"] = step
                save_model(model, out_dir / "best", dtypes.get(config.save_dtype))
                log(f"new best {best}")
        if timed_out:
            break
    return out_dir / "best"
