"""`frametool train RECIPE.toml`: train a backbone + pointer head on manifests, on CPU or CUDA.

Checkpoints (safetensors + config.json) go to `out_dir/last` every `save_every` steps and to
`out_dir/best` whenever the dev score (`select`: by default onsets within 20 ms on held-out voices, ties
broken by the lower onset MAE) improves.
"""
from __future__ import annotations

import json
import math
import random
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from frametool.bench.metrics import boundary_stats, word_errors
from frametool.errors import UsageError
from frametool.heads.poisson import pointer_nll
from frametool.model import FrameModel, ModelConfig, save_model
from frametool.tasks.align import AlignRequest
from frametool.training.data import (batch_from_examples, batches, load_waves, prefetched, read_manifest,
                                     speed_perturbed, target_places)
from frametool.training.specaug import FeatureAugment, augment_features

STATE_DIR, TRAINER_STATE = "state", "trainer.json"
# what picks `out_dir/best` (the recipe's `select`): the share of dev onsets within a tolerance (ties broken by
# the lower onset MAE), or the onset MAE alone
SELECTIONS = ("within_20ms", "within_10ms", "within_25ms", "within_40ms", "within_50ms", "within_100ms", "mae_ms")


@dataclass(frozen=True)
class TrainConfig:
    train_manifest: str
    dev_manifest: str
    out_dir: str
    name: str = "tiny-align"
    seed: int = 0
    steps: int = 20000
    lr: float = 1e-3
    warmup_steps: int = 500
    weight_decay: float = 0.01
    batch_seconds: float = 120.0
    max_batch_size: int = 32
    eval_every: int = 500
    save_every: int = 250
    dev_limit: int = 200
    threads: int = 2
    loss_variant: str = "conditional"
    max_minutes: float = 0.0  # stop after this wall time (0 = no limit)
    init_from: str = ""  # warm start from a model folder
    device: str = "auto"  # auto | cpu | cuda (bf16 autocast on CUDA)
    extra_manifests: tuple[str, ...] = ()  # more training manifests, e.g. ones still being generated
    save_dtype: str = "float32"  # float32 | float16 | bfloat16 (checkpoint weights)
    ctc_weight: float = 0.0  # weight of the auxiliary CTC loss (needs backbone ctc = true)
    reload_every: int = 0  # re-read the training manifests every N steps (0 = never)
    select: str = "within_20ms"  # the dev score that picks out_dir/best (SELECTIONS)
    # each word boundary's target mass split between its frame and a neighbour, so that the posterior median
    # the decoder reads lands at the boundary's place inside its frame (heads/poisson.py subframe_split)
    subframe_targets: bool = False
    backbone: dict = field(default_factory=dict)
    # a pretrained audio encoder ([encoder_init]: package, version, file, sha256 of a CTranslate2 Whisper
    # model.bin inside an installed wheel), loaded after init_from
    encoder_init: dict = field(default_factory=dict)
    project_from: str = ""  # fit the Whisper -> decoder projection to this model's audio states (least squares)
    project_utterances: int = 48  # training utterances used for that fit
    freeze: tuple[str, ...] = ()  # parameter-name prefixes kept fixed (e.g. "backbone.whisper.conv")
    encoder_lr_scale: float = 1.0  # learning rate of the Whisper encoder's parameters / lr
    data_recipe: dict = field(default_factory=dict)
    feature_augment: dict = field(default_factory=dict)  # FeatureAugment fields ([feature_augment] table)
    # word decoding (LongConfig fields and ci_pad_s, the [decoding] table) that dev scoring uses and the saved
    # model's config.json keeps; empty: init_from's own, so checkpoints are picked as they will be decoded
    decoding: dict = field(default_factory=dict)
    # speed perturbation: this share of the training utterances is played faster or slower by a factor drawn
    # from [low, high] (pitch and tempo together, as a resampled recording; word times scaled with it)
    speed_perturb: tuple[float, ...] = ()
    speed_perturb_p: float = 0.0
    # --- the Qwen backbone and training at scale (training/distributed.py) ---
    # [backbone] kind = "qwen2.5-omni" with model_path = a local Qwen2.5-Omni folder (QwenConfig fields);
    # without `kind` the table holds TinyConfig fields
    gradient_accumulation_steps: int = 1  # optimizer steps every N batches (per process)
    head_lr: float = 0.0  # learning rate of the pointer head (0 = lr); a fine-tuned LM wants lr ~1e-6
    resume: bool = False  # continue from out_dir/state (saved every save_every steps under accelerate launch)
    data_log: bool = False  # each process writes the audio it trained on and its final weights' digest


def warm_start(model: torch.nn.Module, start: dict) -> tuple[list[str], list[str], list[str]]:
    """Load the tensors of `start` that fit `model`; a tensor whose shape changed (e.g. a wider audio encoder)
    keeps its fresh value instead of failing the load. -> (names with no start weights, start names the model
    lacks, names whose shape changed)."""
    own = model.state_dict()
    reshaped = sorted(k for k in start if k in own and start[k].shape != own[k].shape)
    missing, unexpected = model.load_state_dict({k: v for k, v in start.items() if k not in reshaped}, strict=False)
    return [k for k in missing if k not in reshaped], list(unexpected), reshaped


def identity_init_new_layers(model: torch.nn.Module, missing: list[str]) -> list[str]:
    """Transformer layers that a warm start had no weights for (a deeper model grown from a shallower one)
    get zero output projections: a pre-norm layer then adds nothing to its input, so the grown model starts
    out computing exactly what the old one did and the new layers learn from there. -> the layers' names."""
    missing_set = set(missing)
    grown = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.TransformerEncoderLayer) or not module.norm_first:
            continue
        own = [f"{name}.{p}" for p, _ in module.named_parameters()]
        if own and all(p in missing_set for p in own):
            for linear in (module.self_attn.out_proj, module.linear2):
                torch.nn.init.zeros_(linear.weight)
                torch.nn.init.zeros_(linear.bias)
            grown.append(name)
    return grown


def _names(names: list[str], shown: int = 6) -> str:
    """A short list of parameter names for the log: their module prefixes, counted."""
    prefixes: dict[str, int] = {}
    for n in names:
        key = ".".join(n.split(".")[:3])
        prefixes[key] = prefixes.get(key, 0) + 1
    items = [f"{k} ({v})" for k, v in prefixes.items()]
    return ", ".join(items[:shown]) + (f", ... {len(items) - shown} more" if len(items) > shown else "") or "none"


def apply_overrides(flat: dict, overrides) -> None:
    """KEY=VALUE command-line overrides into a recipe's flat keys (VALUE read as TOML, else as a string)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"override {item!r} is not KEY=VALUE")
        try:
            flat[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            flat[key] = value


def read_recipe(path: Path) -> dict:
    """A recipe's TOML tables; an unreadable or malformed file is a usage error naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"recipe {path}: {exc}") from None


def resolve_recipe_paths(flat: dict, base: Path, keys: tuple[str, ...]) -> None:
    """Relative paths among `keys` are taken from the recipe's folder `base`; `init_from` / `project_from`
    may instead name a bundled model (no "/" and no such file beside the recipe)."""
    for key in keys:
        if flat.get(key) and not Path(flat[key]).is_absolute():
            bundled = key in ("init_from", "project_from") and "/" not in flat[key] \
                and not (base / flat[key]).exists()  # the name of a bundled model
            flat[key] = flat[key] if bundled else str((base / flat[key]).resolve())


def load_recipe(path: Path, overrides: list[str] = ()) -> TrainConfig:
    raw = read_recipe(path)
    flat = {**raw.get("train", {}), "backbone": raw.get("backbone", {}), "data_recipe": raw.get("data", {}),
            "feature_augment": raw.get("feature_augment", {}), "encoder_init": raw.get("encoder_init", {}),
            "decoding": raw.get("decoding", {})}
    apply_overrides(flat, overrides)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(flat) - known
    if unknown:
        raise UsageError(f"recipe {path}: unknown keys {sorted(unknown)}")
    base = path.parent
    model_path = flat["backbone"].get("model_path")
    if model_path and not Path(model_path).is_absolute():
        flat["backbone"] = {**flat["backbone"], "model_path": str((base / model_path).resolve())}
    resolve_recipe_paths(flat, base, ("train_manifest", "dev_manifest", "out_dir", "init_from", "project_from"))
    if isinstance(flat.get("extra_manifests"), str):
        flat["extra_manifests"] = [m for m in flat["extra_manifests"].split(",") if m]
    flat["extra_manifests"] = tuple(str((base / m).resolve()) if not Path(m).is_absolute() else m
                                    for m in flat.get("extra_manifests", ()))
    from frametool.tasks.long import decoding_keys

    if set(flat["decoding"]) - decoding_keys():
        raise UsageError(f"recipe {path}: [decoding] keys {sorted(set(flat['decoding']) - decoding_keys())} are "
                         f"not among {', '.join(sorted(decoding_keys()))}")
    if flat.get("select", SELECTIONS[0]) not in SELECTIONS:
        raise UsageError(f"recipe {path}: select must be one of {', '.join(SELECTIONS)}, not {flat['select']!r}")
    try:
        FeatureAugment(**flat["feature_augment"])
        return TrainConfig(**flat)
    except TypeError as exc:
        raise UsageError(f"recipe {path}: {exc}") from None


def ctc_loss(model: FrameModel, out, batch) -> torch.Tensor:
    """Mean per-character CTC loss of the audio encoder's CTC head: the characters and spaces of each
    utterance's spoken words (the prompt without its specials)."""
    from frametool.text.tokenizer import SPACE

    log_probs = model.backbone.ctc_log_probs(out.audio)  # (B, T, V)
    keep = batch.ids >= SPACE  # characters and spaces; no BOS/SEP/PAD/UNK
    labels = [row[k] for row, k in zip(batch.ids, keep)]
    input_lens = out.frame_mask.sum(dim=1)
    target_lens = torch.tensor([len(t) for t in labels], device=batch.ids.device)
    return torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), torch.cat(labels), input_lens, target_lens,
                                        blank=0, reduction="mean", zero_infinity=True)


def selection_score(scores: dict, select: str = SELECTIONS[0]) -> list[float]:
    """evaluate()'s scores -> what `select` ranks them by, larger is better (compare as lists): [share within
    the tolerance, -MAE] or [-MAE]."""
    onset = scores["onset"]
    if select == "mae_ms":
        return [-onset["mae_ms"]]
    return [onset[select], -onset["mae_ms"]]


def evaluate(model: FrameModel, examples, limit: int, batch_size: int = 16) -> dict:
    """Onset/offset statistics on the first `limit` dev examples, aligned as `frametool align` aligns them
    (in segments, with the CTC prior, where the model has a CTC head)."""
    from frametool.tasks.long import align_recordings

    model.eval()
    onsets, offsets = [], []
    from frametool.audio.io import load_audio

    subset = examples[:limit]
    for start in range(0, len(subset), batch_size):
        chunk = subset[start:start + batch_size]
        requests = [AlignRequest(load_audio(e.audio).samples, e.tokens) for e in chunk]
        for e, times in zip(chunk, align_recordings(model, requests, batch_size=batch_size)):
            on, off = word_errors(list(zip(times.start_s, times.end_s)), e.spans_s)
            onsets.append(on)
            offsets.append(off)
    model.train()
    on, off = boundary_stats(np.concatenate(onsets)), boundary_stats(np.concatenate(offsets))
    return {"onset": on.as_dict(), "offset": off.as_dict()}


def backbone_of(config: TrainConfig) -> tuple[str, dict]:
    """The recipe's backbone kind ([backbone] kind, default "tiny") and its config fields."""
    fields_ = dict(config.backbone)
    kind = fields_.pop("kind", "tiny")
    from frametool.model import BACKBONES

    if kind not in BACKBONES:
        raise UsageError(f"[backbone] kind must be one of {', '.join(BACKBONES)}, not {kind!r}")
    if kind != "tiny" and not fields_.get("model_path"):
        raise UsageError(f"[backbone] kind = {kind!r} needs model_path = a local checkpoint folder")
    return kind, fields_


def _longest_input_s(kind: str, fields_: dict) -> float:
    if kind == "tiny":
        from frametool.backbones.tiny import TinyConfig

        return TinyConfig(**fields_).longest_input_s
    from frametool.backbones.qwen_omni import QwenConfig

    return QwenConfig(**fields_).longest_input_s


def train(config: TrainConfig, log=print) -> Path:
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    torch.set_num_threads(config.threads)
    from frametool.training.distributed import Accelerated, Plain, launched_by_accelerate, shard

    if config.gradient_accumulation_steps < 1:
        raise UsageError("gradient_accumulation_steps must be at least 1")
    kind, backbone_fields = backbone_of(config)
    if launched_by_accelerate():
        runtime = Accelerated(config.device, config.gradient_accumulation_steps)
    else:
        from frametool.model import resolve_device

        runtime = Plain(resolve_device(config.device), config.gradient_accumulation_steps)
    if not runtime.is_main:
        log = lambda line: None  # noqa: E731 (only the main process logs)
    # training utterances an audio encoder cannot read at once are left out (with half a second to spare)
    longest_s = _longest_input_s(kind, backbone_fields)
    limit_s = longest_s - 0.5 if longest_s else 0.0

    def read_training_set() -> list:
        found = read_manifest(Path(config.train_manifest))
        for extra in config.extra_manifests:
            if Path(extra).exists():
                found += read_manifest(Path(extra), growing=True)
        if limit_s:
            kept = [e for e in found if e.duration_s <= limit_s]
            if len(kept) < len(found):
                log(f"{len(found) - len(kept)} training utterances over {limit_s:.1f} s left out (the audio "
                    "encoder reads at most that much at once)")
            found = kept
        return found

    train_set = read_training_set()
    dev_set = read_manifest(Path(config.dev_manifest))
    random.Random(1).shuffle(dev_set)
    log(f"train {len(train_set)} utterances ({sum(e.duration_s for e in train_set) / 3600:.2f} h), "
        f"dev {len(dev_set)}")
    model_config = ModelConfig(backbone=kind, backbone_config=backbone_fields, loss_variant=config.loss_variant,
                               data_recipe=dict(config.data_recipe), seed=config.seed, name=config.name)
    model = FrameModel(model_config)
    model_config.frame_shift_s = model.backbone.frame_shift_s
    model_config.backbone_config = model.backbone.config.to_dict()
    if config.init_from:
        from frametool.model import load_model

        start = load_model(config.init_from)
        missing, unexpected, reshaped = warm_start(model, start.state_dict())
        log(f"warm start from {config.init_from}; new parameters: {_names(missing)}; unused: {_names(unexpected)}"
            + (f"; new shape, not copied: {_names(reshaped)}" if reshaped else ""))
        # layers the pretrained encoder fills below are not new
        grown = identity_init_new_layers(model, [m for m in missing if not (config.encoder_init and
                                                                             m.startswith("backbone.whisper."))])
        if grown:
            log(f"new transformer layers start as the identity: {grown}")
        if not config.decoding and start.config.decoding:
            model_config.decoding = dict(start.config.decoding)
            log(f"word decoding of {config.init_from} kept for dev scoring and the saved model: "
                f"{model_config.decoding}")
        del start
    if config.decoding:
        model_config.decoding = dict(config.decoding)
        log(f"word decoding from the recipe for dev scoring and the saved model: {model_config.decoding}")
    if config.encoder_init:
        from frametool.training.pretrained import init_whisper

        model_config.data_recipe["encoder_init"] = dict(config.encoder_init)
        log(f"audio encoder from {init_whisper(model, config.encoder_init)}")
    if config.project_from:
        from frametool.model import load_model
        from frametool.training.pretrained import fit_projection

        chosen = random.Random(config.seed).sample(train_set, min(config.project_utterances, len(train_set)))
        fitted = fit_projection(model, load_model(config.project_from), chosen, load_waves(chosen))
        log(f"audio projection fitted to {config.project_from}'s audio states on {len(chosen)} utterances: "
            f"{fitted:.1%} of their variance")
    if config.freeze:
        from frametool.training.pretrained import freeze

        log(f"frozen: {freeze(model, tuple(config.freeze)) / 1e6:.2f} M parameters ({', '.join(config.freeze)})")
    device = runtime.device
    model.to(device)
    log(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M on {device}")
    if config.ctc_weight and not model.backbone.config.ctc:
        raise UsageError("ctc_weight needs a backbone with a CTC head: set ctc = true under [backbone]")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    encoder_params = [p for n, p in trainable if n.startswith("backbone.whisper.")]
    other_params = [p for n, p in trainable if not n.startswith("backbone.whisper.")]
    head_params = [p for n, p in trainable if n.startswith("head.")] if config.head_lr else []
    other_params = [p for p in other_params if all(p is not h for h in head_params)]
    groups = [{"params": other_params}]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": config.lr * config.encoder_lr_scale})
    if head_params:
        groups.append({"params": head_params, "lr": config.head_lr})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    wrapped, optimizer = runtime.prepare(model, optimizer)

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        if config.max_minutes:  # a wall-time budget: decay over whichever runs out first
            progress = max(progress, (time.time() - started) / 60 / config.max_minutes)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    dtypes = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if config.save_dtype not in dtypes:
        raise UsageError(f"save_dtype must be float32, float16 or bfloat16, not {config.save_dtype!r}")
    save_dtype = dtypes[config.save_dtype]
    started = time.time()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    out_dir = Path(config.out_dir)
    if runtime.is_main:
        (out_dir).mkdir(parents=True, exist_ok=True)
        (out_dir / "recipe.json").write_text(json.dumps(asdict(config), indent=2))
    best, step = [-math.inf], 0
    if isinstance(runtime, Accelerated):
        runtime.register(scheduler)
    state_dir = out_dir / STATE_DIR
    if config.resume and (state_dir / TRAINER_STATE).is_file():
        runtime.load_state(state_dir)
        saved = json.loads((state_dir / TRAINER_STATE).read_text())
        step, best = saved["step"], saved["best"]
        best = best if isinstance(best, list) else [best]  # a state saved before `select`: within 20 ms alone
        rng = random.Random(config.seed + step)  # new batches, not the first ones again
        log(f"resumed from {state_dir} at step {step} (best {best})")
    elif config.resume:
        log(f"resume = true, but {state_dir} holds no saved state yet: starting afresh")
    seen: list[str] = []  # audio this process trained on (data_log)
    log(f"{runtime.world_size} process(es); {config.gradient_accumulation_steps} batch(es) per optimizer step")

    def save(folder: Path) -> None:
        state = runtime.full_state(wrapped)  # every rank: FSDP gathers its shards
        if runtime.is_main:
            save_model(model, folder, save_dtype, state)

    def save_training_state() -> None:
        runtime.save_state(state_dir)
        if runtime.is_main:
            (state_dir / TRAINER_STATE).write_text(json.dumps({"step": step, "best": best}))
        runtime.wait()
    feature_augment = FeatureAugment(**config.feature_augment)
    augment_rng = torch.Generator().manual_seed(config.seed)
    if feature_augment.active:
        log(f"feature augmentation: {feature_augment}")
    model.train()
    running, running_ctc = [], []
    while step < config.steps:
        current = train_set
        # one seed drawn per group (no longer used) keeps the data order of the recipes trained so far
        groups = [(g, rng.getrandbits(32)) for g in batches(current, config.batch_seconds, config.max_batch_size, rng)]
        groups = shard(groups, runtime.rank, runtime.world_size)  # the same order on every rank: a share each
        if not groups:
            raise UsageError(f"{config.train_manifest}: fewer batches than the {runtime.world_size} processes")

        def load(entry):
            examples = [current[i] for i in entry[0]]
            waves = load_waves(examples)
            if config.speed_perturb and config.speed_perturb_p > 0:
                examples, waves = speed_perturbed(examples, waves, config.speed_perturb, config.speed_perturb_p,
                                                  random.Random(entry[1]), limit_s)
            return examples, waves

        for _, (examples, waves) in prefetched(groups, load):
            batch, targets = batch_from_examples(examples, waves, model.backbone.frame_shift_s,
                                                 model.backbone.num_frames, device, model.backbone.config.features,
                                                 make=model.make_batch)
            batch.feats = augment_features(batch.feats, batch.feat_lens, feature_augment, augment_rng)
            if config.data_log:
                seen.extend(str(e.audio) for e in examples)
            with runtime.accumulate(wrapped):
                with runtime.autocast():
                    logits, out = wrapped(batch)
                places = target_places(examples, model.backbone.frame_shift_s, targets) \
                    if config.subframe_targets else None
                loss = pointer_nll(logits, out.frame_mask, batch.word_mask, targets,
                                   model.backbone.frame_shift_s, config.loss_variant, places)
                if config.ctc_weight:
                    ctc = ctc_loss(model, out, batch)
                    running_ctc.append(ctc.item())
                    loss = loss + config.ctc_weight * ctc
                runtime.backward(loss)
                running.append(loss.item())
                if not runtime.sync_gradients:
                    continue  # more batches before this optimizer step
                runtime.clip([p for _, p in trainable], 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            if step % 50 == 0:
                ctc_part = f" (ctc {np.mean(running_ctc):.4f})" if running_ctc else ""
                log(f"step {step} loss {np.mean(running):.4f}{ctc_part} lr {scheduler.get_last_lr()[0]:.2e} "
                    f"{(time.time() - started) / 60:.1f} min")
                running, running_ctc = [], []
            if step % config.save_every == 0:
                save(out_dir / "last")
                if isinstance(runtime, Accelerated):
                    save_training_state()
            timed_out = runtime.main_says(bool(config.max_minutes and (time.time() - started) / 60 > config.max_minutes))
            if step % config.eval_every == 0 or step >= config.steps or timed_out:
                scores = evaluate(model, dev_set, config.dev_limit)  # every rank (FSDP forwards are collective)
                score = selection_score(scores, config.select)
                log(f"dev step {step}: {scores}")
                if runtime.main_says(score > best):
                    best = score
                    save(out_dir / "best")
                    log(f"new best {config.select} {scores['onset'][config.select]} "
                        f"(onset MAE {scores['onset']['mae_ms']} ms)")
            if step >= config.steps or timed_out:
                break
            if config.reload_every and step % config.reload_every == 0:
                train_set = read_training_set()
                log(f"step {step}: training set now {len(train_set)} utterances "
                    f"({sum(e.duration_s for e in train_set) / 3600:.2f} h)")
                break  # new batches over the grown set
        if runtime.main_says(bool(config.max_minutes and (time.time() - started) / 60 > config.max_minutes)):
            break
    save(out_dir / "last")
    if config.data_log:
        write_data_log(out_dir, runtime.rank, runtime.world_size, seen, model)
    runtime.end()
    return out_dir / "best"


DATA_LOG_DIR = "data-log"


def write_data_log(out_dir: Path, rank: int, world_size: int, seen: list[str], model) -> Path:
    """out_dir/data-log/rank{R}.json: the audio this process trained on, in order, and its weights' digest."""
    from frametool.training.distributed import weights_sha256

    folder = out_dir / DATA_LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rank{rank}.json"
    path.write_text(json.dumps({"rank": rank, "world_size": world_size, "audio": seen,
                                "weights_sha256": weights_sha256(model)}, indent=1))
    return path
