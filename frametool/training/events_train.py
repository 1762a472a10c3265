"""`frametool train RECIPE.toml` for event models (`[train] task = "events"`).

Each step reads `crops_per_step` random stretches of `window_s` seconds of annotated audio (a stretch is
centred on a random moment inside an annotated region; frames outside the regions carry no labels and are
left out of every loss), encodes each once and asks the decoder about every label the model knows:
activity by BCE, onsets and offsets by the full Poisson NLL (the count is modelled). Every `eval_every`
steps the dev files are detected whole (as `frametool events` does) and scored; `out_dir/best` keeps the
checkpoint with the highest onset F1 at 20 ms minus syllable error rate, `out_dir/last` the latest.
`steps = 0` with `init_from` an event model trains nothing: only its decoding is chosen again on dev (over
`[decoding_grid]`), and `out_dir/best` is that model with the chosen thresholds.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from frametool.errors import UsageError
from frametool.framegrid import FrameGrid
from frametool.heads.poisson import poisson_nll


@dataclass(frozen=True)
class EventTrainConfig:
    train_manifest: str
    dev_manifest: str
    out_dir: str
    task: str = "events"
    name: str = "events"
    seed: int = 0
    steps: int = 3000
    max_minutes: float = 0.0  # stop after this wall time (0 = no limit)
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    crops_per_step: int = 8
    window_s: float = 3.0
    eval_every: int = 250
    save_every: int = 100
    threads: int = 2
    activity_weight: float = 1.0
    noise_p: float = 0.5  # share of crops with white noise added, at 10-40 dB SNR
    labels: tuple[str, ...] = ()  # default: every label of the training manifest
    conditioning: str = "film"  # EventModelConfig.conditioning
    # after training, choose the decoding thresholds on the dev files (DECODING_GRID; [decoding] keys stay)
    choose_decoding: bool = True
    decoding_grid: dict = field(default_factory=dict)  # the values tried there (default DECODING_GRID)
    # what picks the checkpoint and the thresholds on dev: "onset_f1_20ms-ser" (onset F1 at 20 ms minus the
    # syllable error rate: bird song) or "labelled_f1_200ms" (the mean over labels of the labelled event F1
    # with a 200 ms onset collar: sound scenes)
    select: str = "onset_f1_20ms-ser"
    # an event model to continue, or an align model whose backbone (audio encoder and decoder) starts this one;
    # the align model's backbone settings then replace [backbone]
    init_from: str = ""
    freeze: tuple[str, ...] = ()  # parameter-name prefixes kept fixed (e.g. "backbone.whisper.conv")
    backbone: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)
    data_recipe: dict = field(default_factory=dict)


def recipe_task(path: Path) -> str:
    from frametool.training.train import read_recipe

    return str(read_recipe(path).get("train", {}).get("task", "align"))


def load_event_recipe(path: Path, overrides: list[str] = ()) -> EventTrainConfig:
    from frametool.training.train import apply_overrides, read_recipe, resolve_recipe_paths

    raw = read_recipe(path)
    flat = {**raw.get("train", {}), "backbone": raw.get("backbone", {}), "decoding": raw.get("decoding", {}),
            "decoding_grid": {k: tuple(v) for k, v in raw.get("decoding_grid", {}).items()},
            "data_recipe": raw.get("data", {})}
    apply_overrides(flat, overrides)
    unknown = set(flat) - {f.name for f in fields(EventTrainConfig)}
    if unknown:
        raise UsageError(f"recipe {path}: unknown keys {sorted(unknown)}")
    for key in ("train_manifest", "dev_manifest", "out_dir"):
        if key not in flat:
            raise UsageError(f"recipe {path}: [train] needs {key}")
    resolve_recipe_paths(flat, path.parent, ("train_manifest", "dev_manifest", "out_dir", "init_from"))
    flat["labels"] = tuple(flat.get("labels", ()))
    flat["freeze"] = tuple(flat.get("freeze", ()))
    if flat.get("select", SELECTIONS[0]) not in SELECTIONS:
        raise UsageError(f"recipe {path}: select must be one of {', '.join(SELECTIONS)}")
    return EventTrainConfig(**flat)


def start_training(model, config, start: dict | None, whole: bool, log) -> torch.optim.Optimizer:
    """Load what `config.init_from` gave (start_from), freeze `config.freeze`, put the model in training mode;
    -> its AdamW over the parameters left free. Shared by the event and diarization trainers."""
    if start is not None:
        try:
            missing, _ = model.load_state_dict(start, strict=whole)
        except RuntimeError as exc:
            raise UsageError(f"init_from {config.init_from!r} does not fit this recipe ({exc})") from None
        if any(k.startswith("backbone.") for k in missing):
            raise UsageError(f"init_from {config.init_from!r} lacks backbone weights: {missing[:3]}")
        log(f"started from {config.init_from}" + ("" if whole else " (its backbone)"))
    if config.freeze:
        from frametool.training.pretrained import freeze

        log(f"frozen: {freeze(model, config.freeze) / 1e6:.2f} M parameters ({', '.join(config.freeze)})")
    model.train()
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                             weight_decay=config.weight_decay)


SELECTIONS = ("onset_f1_20ms-ser", "labelled_f1_200ms")


def selection_score(counts, select: str) -> float:
    """The dev score a recipe's `select` names, from an EventCounts."""
    if select == "labelled_f1_200ms":
        labels = sorted(counts.per_label)
        return float(np.mean([counts.label_f1(lab) for lab in labels])) if labels else 0.0
    return counts.f1(0.02) - counts.syllable_error_rate


def start_from(init_from: str) -> tuple[dict, dict, bool]:
    """(backbone settings, state dict, whether it is a whole event model) of the model an events recipe starts
    from: a whole event model, or only the backbone of an align model. Its backbone settings replace the
    recipe's [backbone]."""
    from safetensors.torch import load_file

    from frametool.model import WEIGHTS_FILE, read_model_folder

    folder, raw = read_model_folder(init_from)
    state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
    if raw.get("task", "align") in ("events", "diarize"):  # a whole model of the same machinery, continued
        return dict(raw.get("backbone_config", {})), state, True
    if raw.get("backbone", "tiny") != "tiny":
        raise UsageError(f"init_from {init_from!r}: event models start from a tiny-backbone model, not "
                         f"{raw.get('backbone')!r}")
    return dict(raw.get("backbone_config", {})), {k: v for k, v in state.items() if k.startswith("backbone.")}, False


@dataclass
class Recording:
    id: str
    samples: np.ndarray
    events: list[tuple[float, float, str]]
    regions: list[tuple[float, float]]

    def score(self, items):
        """Detected items (label, start_s, end_s) scored against this recording's events, inside its regions."""
        from frametool.bench.events import Event, score_file

        return score_file([Event(lab, a, b) for a, b, lab in self.events],
                          [Event(it.label, it.start_s, it.end_s) for it in items], self.regions)

    @property
    def duration_s(self) -> float:
        from frametool.audio.io import TARGET_RATE_HZ

        return len(self.samples) / TARGET_RATE_HZ


def load_recordings(manifest: Path) -> list[Recording]:
    from frametool.audio.io import load_audio
    from frametool.training.event_import import read_event_manifest

    out = []
    for row in read_event_manifest(manifest):
        wave = load_audio(Path(row["audio"]))
        regions = row["regions"] or [(0.0, wave.duration_s)]
        out.append(Recording(row["id"], wave.samples, row["events"], regions))
    return out


def crop_targets(rec: Recording, start_s: float, num_frames: int, shift_s: float, labels: list[str]):
    """Targets of one crop on its FrameGrid: (C, T) activity, (T,) annotated mask, per label the onset and
    offset frames."""
    grid = FrameGrid(shift_s, num_frames, start_s)
    centres = grid.center_s(np.arange(num_frames))
    annotated = np.zeros(num_frames, dtype=bool)
    for a, b in rec.regions:
        annotated |= (centres >= a) & (centres < b)
    activity = np.zeros((len(labels), num_frames), dtype=np.float32)
    onsets: list[list[int]] = [[] for _ in labels]
    offsets: list[list[int]] = [[] for _ in labels]
    index = {label: c for c, label in enumerate(labels)}
    end_s = grid.start_s(num_frames)
    for on, off, label in rec.events:
        c = index.get(label)
        if c is None or off <= start_s or on >= end_s:
            continue
        activity[c][(centres >= on) & (centres < off)] = 1.0
        if start_s <= on < end_s and annotated[grid.frame_of(on)]:
            onsets[c].append(grid.frame_of(on))
        if start_s < off <= end_s and annotated[grid.frame_of(off - 1e-6)]:
            offsets[c].append(grid.frame_of(off - 1e-6))
    return activity, annotated, onsets, offsets


def _frames_tensor(lists: list[list[int]]) -> torch.Tensor:
    n = max(1, max(len(x) for x in lists))
    out = torch.full((len(lists), n), -1, dtype=torch.long)
    for r, x in enumerate(lists):
        out[r, : len(x)] = torch.tensor(x, dtype=torch.long)
    return out


def make_step_batch(recordings: list[Recording], weights: np.ndarray, config: EventTrainConfig, model,
                    labels: list[str], rng: random.Random, np_rng: np.random.Generator):
    from frametool.audio.features import padded_log_mel

    features = model.backbone.config.features
    shift = model.frame_shift_s
    window = FrameGrid.covering(config.window_s, shift).num_frames
    waves, starts, chosen = [], [], []
    for _ in range(config.crops_per_step):
        rec = recordings[int(np_rng.choice(len(recordings), p=weights))]
        lengths = np.array([b - a for a, b in rec.regions])
        a, b = rec.regions[int(np_rng.choice(len(lengths), p=lengths / lengths.sum()))]
        moment = rng.uniform(a, b)
        grid = FrameGrid.covering(rec.duration_s, shift)
        first = max(0, min(int(grid.frame_of(moment - rng.uniform(0, config.window_s))), grid.num_frames - window))
        rate = features.sample_rate_hz
        piece = rec.samples[int(round(grid.start_s(first) * rate)):
                            int(round(grid.start_s(first + window) * rate))].astype(np.float32)
        if rng.random() < config.noise_p:
            rms = float(np.sqrt(np.mean(piece ** 2)) + 1e-8)
            snr_db = rng.uniform(10, 40)
            piece = piece + np_rng.standard_normal(len(piece)).astype(np.float32) * rms / 10 ** (snr_db / 20)
        waves.append(piece)
        starts.append(float(grid.start_s(first)))
        chosen.append(rec)
    feats, feat_lens = padded_log_mel([torch.from_numpy(w) for w in waves], features)  # each crop on its own
    T = int(model.backbone.num_frames(torch.tensor(feats.shape[1])))
    act, ann, on, off = [], [], [], []
    for rec, start in zip(chosen, starts):
        a, m, o, f = crop_targets(rec, start, T, shift, labels)
        act.append(a)
        ann.append(m)
        on.extend(o)
        off.extend(f)
    activity = torch.from_numpy(np.concatenate(act))  # (B*C, T), rows crop-major like forward_labels
    annotated = torch.from_numpy(np.stack(ann)).repeat_interleave(len(labels), dim=0)
    return feats, feat_lens, activity, annotated, _frames_tensor(on), _frames_tensor(off)


def event_loss(model, batch, labels: list[str], config: EventTrainConfig) -> tuple[torch.Tensor, dict]:
    feats, feat_lens, activity, annotated, onsets, offsets = batch
    values, mask = model(feats, feat_lens, labels)  # (B, C, T, 3)
    values = values.flatten(0, 1)  # rows crop-major, as the targets
    mask = mask.repeat_interleave(len(labels), dim=0)
    scored = mask & annotated[:, : mask.shape[1]]
    target = activity[:, : mask.shape[1]]
    bce = F.binary_cross_entropy_with_logits(values[..., 0], target, reduction="none")
    bce = (bce * scored).sum() / scored.sum().clamp_min(1)
    shift = model.frame_shift_s
    onset = poisson_nll(values[..., 1], scored, onsets, shift, "full")
    offset = poisson_nll(values[..., 2], scored, offsets, shift, "full")
    total = config.activity_weight * bce + onset + offset
    return total, {"bce": bce.item(), "onset": onset.item(), "offset": offset.item()}


def evaluate(model, recordings: list[Recording]):
    """-> the dev EventCounts of the model as it stands."""
    from frametool.bench.events import EventCounts
    from frametool.tasks.events import detect

    model.eval()
    counts = EventCounts()
    for rec in recordings:
        counts.add(rec.score(detect(model, rec.samples)))
    model.train()
    return counts


DECODING_GRID = {"min_gap_s": (0.015, 0.025, 0.035, 0.045, 0.055), "onset_mass": (0.2, 0.3, 0.5, 0.7),
                 "activity": (0.1, 0.2, 0.3, 0.5)}


def choose_decoding(model, recordings: list[Recording], fixed: dict, grid: dict = DECODING_GRID, log=print,
                    select: str = SELECTIONS[0], with_score: bool = False):
    """The decoding thresholds (DecodeConfig fields) with the best dev score (`select`); the model's channels are computed once per file and decoded with every combination of `grid`
    (keys already set in `fixed`, the recipe's [decoding], are kept as they are)."""
    import itertools

    from frametool.bench.events import EventCounts
    from frametool.decoders.events import DecodeConfig, decode_channels
    from frametool.tasks.events import event_channels

    labels = list(model.config.labels)
    model.eval()
    channels = [event_channels(model, rec.samples, labels) for rec in recordings]
    free = {k: v for k, v in grid.items() if k not in fixed}
    best, best_score = dict(fixed), -math.inf
    # a label's labelled F1 depends on its own decoding only (labels are decoded one by one unless exclusive),
    # so with a per-label score every label may keep its own best settings
    per_label = select == "labelled_f1_200ms" and not fixed.get("exclusive", False)
    label_best: dict[str, tuple[float, dict]] = {}
    for combo in itertools.product(*free.values()):
        settings = {**fixed, **dict(zip(free, combo))}
        config = DecodeConfig(**settings)
        counts = EventCounts()
        for rec, (values, frames) in zip(recordings, channels):
            counts.add(rec.score(decode_channels(values, frames, labels, config)))
        score = selection_score(counts, select)
        if score > best_score:
            best, best_score = settings, score
        for label in labels if per_label else ():
            f1 = counts.label_f1(label)
            f1 = f1 if math.isfinite(f1) else -1.0  # a label with no event on dev and none found
            if label not in label_best or f1 > label_best[label][0]:
                label_best[label] = (f1, settings)
    if per_label:
        own = {label: {k: v for k, v in settings.items() if best.get(k) != v}
               for label, (_, settings) in label_best.items()}
        own = {label: diff for label, diff in own.items() if diff}
        if own:
            best = {**best, "per_label": own}
        best_score = float(np.mean([f1 for f1, _ in label_best.values()])) if label_best else best_score
    log(f"decoding chosen on dev: {best} ({select} = {best_score:.4f})")
    return (best, best_score) if with_score else best


def train_events(config: EventTrainConfig, log=print) -> Path:
    from frametool.tasks.events import EventModel, EventModelConfig, load_event_model, save_event_model

    torch.manual_seed(config.seed)
    rng, np_rng = random.Random(config.seed), np.random.default_rng(config.seed)
    torch.set_num_threads(config.threads)
    if config.steps == 0 and not config.init_from:
        raise UsageError("steps = 0 (only choose the decoding) needs init_from: the event model to tune")
    from frametool.model import read_model_folder

    start_config = read_model_folder(config.init_from)[1] if config.init_from else {}
    # steps = 0 trains nothing, so the training recordings are not read
    train = load_recordings(Path(config.train_manifest)) if config.steps else []
    dev = load_recordings(Path(config.dev_manifest))
    if config.steps and not train:
        raise UsageError(f"training manifest {config.train_manifest} has no recordings")
    labels = list(config.labels) or (sorted({lab for rec in train for _, _, lab in rec.events}) if train
                                     else list(start_config.get("labels", [])))
    if train:
        weights = np.array([sum(b - a for a, b in rec.regions) for rec in train])
        weights = weights / weights.sum()
    backbone, start, whole = start_from(config.init_from) if config.init_from else (None, None, False)
    model_config = EventModelConfig(backbone_config=backbone or config.backbone, labels=tuple(labels),
                                    conditioning=config.conditioning,
                                    window_s=config.window_s, decoding=dict(config.decoding),
                                    data_recipe={**config.data_recipe, "train_manifest": config.train_manifest,
                                                 "dev_manifest": config.dev_manifest},
                                    seed=config.seed, name=config.name)
    if whole:
        # continuing a whole event model: dev checkpoints are scored with the decoding it was tuned to (the
        # recipe's [decoding] keys win), not with untuned defaults that would rank checkpoints by how well they
        # suit those defaults
        inherited = start_config.get("decoding", {})
        if list(start_config.get("labels", [])) == labels and inherited:
            model_config.decoding = {**inherited, **dict(config.decoding)}
            log(f"dev checkpoints decoded with the start model's settings: {model_config.decoding}")
    model = EventModel(model_config)
    optimiser = start_training(model, config, start, whole, log)

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    out = Path(config.out_dir)
    best_score, best_step = -math.inf, -1
    started = time.time()
    log(f"events: {len(train)} training / {len(dev)} dev recordings, labels {', '.join(labels)}; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    running: dict[str, float] = {}
    step = 0
    if config.steps == 0:  # no training: the start model itself is the checkpoint whose decoding is chosen below
        best_step = 0
        save_event_model(model, out / "best")
    for step in range(1, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step - 1)
        batch = make_step_batch(train, weights, config, model, labels, rng, np_rng)
        loss, parts = event_loss(model, batch, labels, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        for k, v in parts.items():
            running[k] = 0.98 * running.get(k, v) + 0.02 * v
        minutes = (time.time() - started) / 60
        out_of_time = config.max_minutes and minutes >= config.max_minutes
        if step % config.save_every == 0:
            save_event_model(model, out / "last")
        if step % config.eval_every == 0 or step == config.steps or out_of_time:
            counts = evaluate(model, dev)
            scores, score = counts.summary(), selection_score(counts, config.select)
            better = score > best_score
            if better:
                best_score, best_step = score, step
                save_event_model(model, out / "best")
            log(f"step {step} ({minutes:.1f} min) loss bce {running['bce']:.3f} onset {running['onset']:.2f} "
                f"offset {running['offset']:.2f} | dev onset F1@20ms {scores['onset_f1_20ms']:.4f} "
                f"SER {scores['syllable_error_rate']:.4f} offsets@20ms {scores['offset_within_20ms']:.4f} "
                f"{config.select} {score:.4f}"
                + (" *best" if better else ""))
        if out_of_time:
            log(f"stopping at {config.max_minutes:g} minutes")
            break
    save_event_model(model, out / "last")
    log(f"best step {best_step} (dev {config.select} = {best_score:.4f})" if config.steps else
        "steps = 0: nothing trained, the start model's decoding is chosen again")
    if config.choose_decoding and dev:
        # thresholds tuned on dev for the best checkpoint AND the last one; the better of the two, so tuned,
        # becomes `best` (the checkpoint score above used fixed thresholds)
        tuned = []
        for name in ("best", "last") if best_step != step else ("best",):
            candidate = load_event_model(str(out / name))
            log(f"tuning decoding for {name}")
            candidate.config.decoding, score = choose_decoding(
                candidate, dev, dict(config.decoding), config.decoding_grid or DECODING_GRID, log, config.select,
                with_score=True)
            tuned.append((score, name, candidate))
        score, name, chosen = max(tuned, key=lambda t: t[0])
        log(f"kept {name} (tuned dev {config.select} = {score:.4f})")
        save_event_model(chosen, out / "best")
    return out / "best"
