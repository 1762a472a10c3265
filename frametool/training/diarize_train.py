"""`frametool train RECIPE.toml` for diarization models (`[train] task = "diarize"`).

Training data are mixtures with exact speaker turns (`frametool synth-mixtures`: manifest rows with `turns`
[[start_s, end_s, speaker], ...]). Each step reads `crops_per_step` recordings (a random `window_s` stretch of a
longer one), numbers the speakers heard there by their first speech, and trains every label of the model
(tasks/diarize.py) with the event losses (training/events_train.py `event_loss`): per slot, activity by BCE
and turn onsets/offsets by the full Poisson NLL; for `any_speaker`, activity = anyone speaking, onsets = each
speaker's first onset (so the total intensity learns the number of speakers), offsets = ends of speech.
Every `eval_every` steps the dev mixtures are diarized whole and scored; `out_dir/best` keeps the checkpoint
with the best dev score (mean of 1 - DER, exact speaker counts and speaker onsets within 100 ms).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from frametool.errors import InputError, UsageError
from frametool.framegrid import FrameGrid


@dataclass(frozen=True)
class DiarizeTrainConfig:
    train_manifests: tuple[str, ...]
    dev_manifests: tuple[str, ...]
    out_dir: str
    task: str = "diarize"
    name: str = "diarize"
    seed: int = 0
    steps: int = 2000
    max_minutes: float = 0.0
    lr: float = 5e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    crops_per_step: int = 4
    window_s: float = 30.0
    slots: int = 6
    eval_every: int = 150
    save_every: int = 50
    threads: int = 2
    activity_weight: float = 1.0
    noise_p: float = 0.2
    conditioning: str = "query"
    init_from: str = ""  # an align model (its backbone) or a diarization model to continue
    freeze: tuple[str, ...] = ()
    max_dev: int = 0  # score at most this many dev recordings per evaluation (0 = all)
    # dev recordings longer than a window: after training, they choose the threshold that links speakers
    # across windows (diarize_select.LINK_GRIDS)
    dev_long_manifests: tuple[str, ...] = ()
    choose_decoding: bool = True
    backbone: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)
    decoding_grid: dict = field(default_factory=dict)
    data_recipe: dict = field(default_factory=dict)


DECODING_GRID = {"activity": (0.3, 0.4, 0.5, 0.6), "speech": (0.4, 0.5, 0.6), "count_bias": (-0.3, 0.0, 0.3)}


def load_diarize_recipe(path: Path, overrides: list[str] = ()) -> DiarizeTrainConfig:
    from frametool.training.train import apply_overrides, read_recipe, resolve_recipe_paths

    raw = read_recipe(path)
    flat = {**raw.get("train", {}), "backbone": raw.get("backbone", {}), "decoding": raw.get("decoding", {}),
            "decoding_grid": {k: tuple(v) for k, v in raw.get("decoding_grid", {}).items()},
            "data_recipe": raw.get("data", {})}
    apply_overrides(flat, overrides)
    unknown = set(flat) - {f.name for f in fields(DiarizeTrainConfig)}
    if unknown:
        raise UsageError(f"recipe {path}: unknown keys {sorted(unknown)}")
    for key in ("train_manifests", "dev_manifests", "out_dir"):
        if key not in flat:
            raise UsageError(f"recipe {path}: [train] needs {key}")
    for key in ("train_manifests", "dev_manifests", "dev_long_manifests"):
        if key not in flat:
            continue
        if isinstance(flat[key], str):
            flat[key] = [flat[key]]
        flat[key] = tuple(str(p if Path(p).is_absolute() else (path.parent / p).resolve()) for p in flat[key])
    resolve_recipe_paths(flat, path.parent, ("out_dir", "init_from"))
    flat["freeze"] = tuple(flat.get("freeze", ()))
    return DiarizeTrainConfig(**flat)


@dataclass
class Mixture:
    """A recording with its speaker turns; its samples are read when first asked for, and kept only when
    `keep` (dev sets; a training set is read crop by crop)."""
    id: str
    audio: str
    turns: list[tuple[float, float, str]]
    keep: bool = True
    _samples: np.ndarray | None = None

    @property
    def samples(self) -> np.ndarray:
        if self._samples is not None:
            return self._samples
        from frametool.audio.io import load_audio

        samples = load_audio(Path(self.audio)).samples
        if self.keep:
            self._samples = samples
        return samples

    @property
    def duration_s(self) -> float:
        from frametool.audio.io import TARGET_RATE_HZ

        return len(self.samples) / TARGET_RATE_HZ


def read_mixture_manifest(path: Path) -> list[dict]:
    """Rows of a `synth-mixtures` manifest (id, audio, turns), audio paths resolved."""
    if not Path(path).is_file():
        raise InputError(path, "mixture manifest not found", "manifest")
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["turns"] = [(float(a), float(b), str(s)) for a, b, s in row["turns"]]
            audio = Path(row["audio"])
            row["audio"] = str(audio if audio.is_absolute() else (Path(path).parent / audio).resolve())
            row["id"] = str(row["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(path, f"line {n}: not a mixture row with id, audio and turns ({exc})", "manifest") from None
        rows.append(row)
    return rows


def load_mixtures(manifests, keep: bool = True) -> list[Mixture]:
    """The mixtures of the manifests; `keep=False` reads each recording's audio afresh whenever it is used."""
    out = []
    for manifest in manifests:
        for row in read_mixture_manifest(Path(manifest)):
            if not Path(row["audio"]).is_file():
                raise InputError(row["audio"], f"audio of mixture {row['id']} (manifest {manifest}) not found", "audio")
            out.append(Mixture(row["id"], row["audio"], row["turns"], keep))
    return out


def diarize_targets(turns, start_s: float, num_frames: int, shift_s: float, slots: int):
    """Targets of one crop [start_s, start_s + num_frames * shift_s) on its FrameGrid, speakers numbered by
    their first speech inside it. -> activity (slots + 1, T), onsets and offsets (lists of frames per row);
    the last row is `any_speaker` (anyone speaking; each speaker's first onset; ends of speech)."""
    from frametool.bench.vad import merge_spans

    grid = FrameGrid(shift_s, num_frames, start_s)
    end_s = float(grid.start_s(num_frames))
    centres = grid.center_s(np.arange(num_frames))
    inside = [(max(a, start_s), min(b, end_s), s, a, b) for a, b, s in turns if b > start_s and a < end_s]
    first: dict[str, float] = {}
    for a, _, s, _, _ in sorted(inside):
        first.setdefault(s, a)
    order = sorted(first, key=first.get)
    activity = np.zeros((slots + 1, num_frames), dtype=np.float32)
    onsets: list[list[int]] = [[] for _ in range(slots + 1)]
    offsets: list[list[int]] = [[] for _ in range(slots + 1)]
    for a, b, s, a0, b0 in inside:
        rank = order.index(s)
        frames = (centres >= a) & (centres < b)
        activity[slots][frames] = 1.0
        if rank < slots:
            activity[rank][frames] = 1.0
            if a0 >= start_s and (a0 > start_s or start_s == 0.0):
                onsets[rank].append(grid.frame_of(a0))
            if b0 <= end_s:
                offsets[rank].append(grid.frame_of(b0 - 1e-6))
    onsets[slots] = sorted(grid.frame_of(first[s]) for s in order)
    for a, b in merge_spans([(a, b) for a, b, *_ in inside]):
        if b < end_s - 1e-6:
            offsets[slots].append(grid.frame_of(b - 1e-6))
    for row in onsets[:slots] + offsets:
        row.sort()
    return activity, onsets, offsets


def make_step_batch(mixtures: list[Mixture], config: DiarizeTrainConfig, model, rng: random.Random,
                    np_rng: np.random.Generator):
    from frametool.audio.features import padded_log_mel
    from frametool.training.events_train import _frames_tensor

    features = model.backbone.config.features
    shift = model.frame_shift_s
    rate = features.sample_rate_hz
    waves, starts, chosen = [], [], []
    for _ in range(config.crops_per_step):
        mix = mixtures[int(np_rng.integers(0, len(mixtures)))]
        samples = mix.samples
        duration_s = len(samples) / rate
        start_s = 0.0
        if duration_s > config.window_s:
            grid = FrameGrid.covering(duration_s, shift)
            start_s = float(grid.start_s(grid.frame_of(rng.uniform(0.0, duration_s - config.window_s))))
        piece = samples[int(round(start_s * rate)):int(round((start_s + config.window_s) * rate))].astype(np.float32)
        piece = piece * np.float32(10 ** (rng.uniform(-10, 6) / 20))
        if rng.random() < config.noise_p:
            rms = float(np.sqrt(np.mean(piece ** 2)) + 1e-8)
            piece = piece + np_rng.standard_normal(len(piece)).astype(np.float32) * rms / 10 ** (rng.uniform(5, 30) / 20)
        waves.append(np.clip(piece, -1.0, 1.0))
        starts.append(start_s)
        chosen.append(mix)
    feats, feat_lens = padded_log_mel([torch.from_numpy(w) for w in waves], features)
    T = int(model.backbone.num_frames(torch.tensor(feats.shape[1])))
    act, on, off = [], [], []
    for mix, start in zip(chosen, starts):
        a, o, f = diarize_targets(mix.turns, start, T, shift, config.slots)
        act.append(a)
        on.extend(o)
        off.extend(f)
    activity = torch.from_numpy(np.concatenate(act))  # (B*C, T), crop-major as the model's rows
    annotated = torch.ones_like(activity, dtype=torch.bool)
    return feats, feat_lens, activity, annotated, _frames_tensor(on), _frames_tensor(off)


def train_diarize(config: DiarizeTrainConfig, log=print) -> Path:
    from frametool.training.diarize_select import choose_decoding, choose_linking, evaluate
    from frametool.tasks.diarize import COUNT_LABEL, PROMPT, slot_labels
    from frametool.tasks.events import EventModel, EventModelConfig, load_event_model, save_event_model
    from frametool.training.events_train import event_loss, start_from, start_training

    torch.manual_seed(config.seed)
    rng, np_rng = random.Random(config.seed), np.random.default_rng(config.seed)
    torch.set_num_threads(config.threads)
    train = load_mixtures(config.train_manifests, keep=False)
    dev = load_mixtures(config.dev_manifests)
    if not train:
        raise UsageError(f"training manifests {', '.join(config.train_manifests)} hold no recordings")
    if config.max_dev:
        dev = [dev[i] for i in np.random.default_rng(config.seed).permutation(len(dev))[:config.max_dev]]
    labels = list(slot_labels(config.slots))
    backbone, start, whole = start_from(config.init_from) if config.init_from else (None, None, False)
    model_config = EventModelConfig(task="diarize", backbone_config=backbone or config.backbone,
                                    labels=tuple(labels), conditioning=config.conditioning, window_s=config.window_s,
                                    prompt=PROMPT, decoding=dict(config.decoding), head="diarize",
                                    data_recipe={**config.data_recipe, "train_manifests": list(config.train_manifests),
                                                 "dev_manifests": list(config.dev_manifests)},
                                    seed=config.seed, name=config.name)
    model = EventModel(model_config)
    optimiser = start_training(model, config, start, whole, log)

    def lr_at(step: int, minutes: float) -> float:
        """Warm-up, then a cosine to 5 % over the steps, or over `max_minutes` when that comes first (a
        shared CPU's speed is not known in advance)."""
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        if config.max_minutes:
            progress = max(progress, minutes / config.max_minutes)
        return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    out = Path(config.out_dir)
    best_score, best_step = -math.inf, -1
    started = time.time()
    log(f"diarize: {len(train)} training / {len(dev)} dev mixtures, {config.slots} slots + {COUNT_LABEL}; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    running: dict[str, float] = {}
    for step in range(1, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step - 1, (time.time() - started) / 60)
        batch = make_step_batch(train, config, model, rng, np_rng)
        loss, parts = event_loss(model, batch, labels, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        for k, v in parts.items():
            running[k] = 0.98 * running.get(k, v) + 0.02 * v
        minutes = (time.time() - started) / 60
        out_of_time = config.max_minutes and minutes >= config.max_minutes
        if step % 10 == 0:
            log(f"step {step} ({minutes:.1f} min) loss bce {running['bce']:.3f} onset {running['onset']:.2f} "
                f"offset {running['offset']:.2f}")
        if step % config.save_every == 0:
            save_event_model(model, out / "last")
        if dev and (step % config.eval_every == 0 or step == config.steps or out_of_time):
            scores = evaluate(model, dev)
            better = scores.score > best_score
            if better:
                best_score, best_step = scores.score, step
                save_event_model(model, out / "best")
            log(f"step {step} ({minutes:.1f} min) | dev DER {scores.der:.4f} count {scores.count_exact:.4f} "
                f"onsets@100ms {scores.onsets_100ms:.4f} @40ms {scores.onsets_40ms:.4f} score {scores.score:.4f}"
                + (" *best" if better else ""))
        if out_of_time:
            log(f"stopping at {config.max_minutes:g} minutes")
            break
    save_event_model(model, out / "last")
    if best_step < 0:
        save_event_model(model, out / "best")
    log(f"best step {best_step} (dev score {best_score:.4f})")
    if config.choose_decoding and dev:
        best_model = load_event_model(str(out / "best"), task="diarize")
        best_model.config.decoding = choose_decoding(best_model, dev, dict(config.decoding),
                                                     config.decoding_grid or DECODING_GRID, log)
        save_event_model(best_model, out / "best")
    if config.choose_decoding and config.dev_long_manifests and "link_distance" not in config.decoding:
        from frametool.tasks.diarize import embedding_module

        if embedding_module(config.decoding.get("embedder", "ge2e")).available():
            best_model = load_event_model(str(out / "best"), task="diarize")
            best_model.config.decoding["link_distance"] = choose_linking(
                best_model, load_mixtures(config.dev_long_manifests), log)
            save_event_model(best_model, out / "best")
    return out / "best"
