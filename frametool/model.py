"""A frame-level model = backbone + head, with its config; saved as safetensors + config.json.

`load_model` takes the name of a bundled model (folders under frametool/models/) or a local folder.
Nothing is downloaded.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from frametool.audio.features import FeatureConfig, log_mel_batch
from frametool.backbones.base import BackboneOutput
from frametool.backbones.tiny import TinyAudioLM, TinyConfig
from frametool.config import DEFAULT_MODEL
from frametool.errors import ModelError
from frametool.heads.poisson import PointerHead
from frametool.text.normalize import Token
from frametool.text.tokenizer import PAD, VOCAB, encode_words

BUNDLED_DIR = Path(__file__).parent / "models"
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
QWEN_THINKER_DIR = "thinker"  # a fully fine-tuned Qwen thinker, inside its model folder


@dataclass
class ModelConfig:
    backbone: str = "tiny"
    backbone_config: dict = field(default_factory=dict)
    head: str = "pointer"  # pointer (per-word single-event Poisson) | poisson | binary
    channels: tuple[str, ...] = ("onset", "offset")
    loss_variant: str = "conditional"
    frame_shift_s: float = 0.02
    tokenizer: dict = field(default_factory=lambda: {"kind": "chars", "vocab": VOCAB})
    data_recipe: dict = field(default_factory=dict)
    seed: int = 0
    name: str = DEFAULT_MODEL
    # decoding settings measured for this model on dev data: LongConfig fields (the CTC prior's shifts and
    # width, ...) and `ci_pad_s` (its credible intervals widened by this much each side)
    decoding: dict = field(default_factory=dict)
    # the phone pointer head (heads/phones.py) where the model has one: its PhoneHead fields ({} = none) and,
    # under "trained", how it was trained (recipe, data, seed); word outputs never depend on it
    phone_head: dict = field(default_factory=dict)


@dataclass
class Batch:
    feats: torch.Tensor  # (B, Tm, M)
    feat_lens: torch.Tensor  # (B,)
    ids: torch.Tensor  # (B, L)
    word_index: torch.Tensor  # (B, L)
    word_last: torch.Tensor  # (B, W)
    word_mask: torch.Tensor  # (B, W)


def make_batch(waveforms: list[np.ndarray], transcripts: list[list[Token]],
               features: FeatureConfig = FeatureConfig(), device: torch.device | str = "cpu",
               with_features: bool = True) -> Batch:
    """Pad a list of 16 kHz waveforms and tokenised transcripts into model inputs on `device`
    (features are computed there, so a GPU also does the STFTs). `with_features=False`: the audio encoder's
    states are at hand already, so only the feature lengths are filled in (the features are zeros)."""
    if with_features:
        feats = log_mel_batch([torch.from_numpy(np.asarray(w, dtype=np.float32)).to(device) for w in waveforms],
                              features)
    else:
        feats = [torch.zeros(len(w) // features.hop_length, features.n_mels, device=device) for w in waveforms]
    prompts = [encode_words(t) for t in transcripts]
    B = len(feats)
    Tm, L = max(f.shape[0] for f in feats), max(len(p.ids) for p in prompts)
    W = max(1, max(len(p.word_last) for p in prompts))
    ids = torch.full((B, L), PAD, dtype=torch.long)
    word_index = torch.full((B, L), -1, dtype=torch.long)
    word_last = torch.zeros(B, W, dtype=torch.long)
    word_mask = torch.zeros(B, W, dtype=torch.bool)
    for b, p in enumerate(prompts):
        ids[b, : len(p.ids)] = torch.tensor(p.ids)
        word_index[b, : len(p.ids)] = torch.tensor(p.word_index)
        word_last[b, : len(p.word_last)] = torch.tensor(p.word_last, dtype=torch.long)
        word_mask[b, : len(p.word_last)] = True
    padded = torch.zeros(B, Tm, features.n_mels, device=device)
    for b, f in enumerate(feats):
        padded[b, : f.shape[0]] = f
    feat_lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    return Batch(padded, feat_lens.to(device), ids.to(device), word_index.to(device), word_last.to(device),
                 word_mask.to(device))


BACKBONES = ("tiny", "qwen2.5-omni")
QWEN = "qwen2.5-omni"


class FrameModel(nn.Module):
    def __init__(self, config: ModelConfig, dtype: torch.dtype | None = None,
                 backbone_folder: Path | None = None) -> None:
        """`dtype`, `backbone_folder`: a Qwen backbone's weight type and the folder its thinker is read from
        (default: backbone_config.model_path; a full fine-tune's checkpoint holds its own copy)."""
        super().__init__()
        if config.backbone not in BACKBONES:
            raise ModelError(f"backbone {config.backbone!r} cannot be built by FrameModel ({', '.join(BACKBONES)})")
        self.config = config
        if config.backbone == QWEN:
            from frametool.backbones.qwen_omni import QwenConfig, QwenOmniBackbone

            self.backbone = QwenOmniBackbone.from_config(QwenConfig(**config.backbone_config),
                                                         dtype or torch.float32, backbone_folder)
            hidden = self.backbone.hidden_size
        else:
            self.backbone = TinyAudioLM(TinyConfig(**config.backbone_config))
            hidden = self.backbone.config.d_model
        self.head = PointerHead(hidden, len(config.channels))
        if config.phone_head:
            from frametool.heads.phones import PhoneHead

            self.phone_head = PhoneHead(hidden, int(config.phone_head.get("context", 5)),
                                        int(config.phone_head.get("fine", 1)), int(config.phone_head.get("n_mels", 0)))

    @property
    def has_phones(self) -> bool:
        """Whether this model times phones inside its words (it has a phone head)."""
        return bool(self.config.phone_head)

    def make_batch(self, waveforms: list[np.ndarray], transcripts: list[list[Token]], device="cpu",
                   with_features: bool = True):
        """This model's inputs for 16 kHz waveforms and tokenised transcripts (see `make_batch`)."""
        if self.config.backbone == QWEN:
            return self.backbone.make_batch(waveforms, transcripts, device)
        return make_batch(waveforms, transcripts, self.backbone.config.features, device, with_features)

    def forward(self, batch: Batch, encoded: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, BackboneOutput]:
        """-> (B, C, W, T) pointer log-intensities and the backbone output. `encoded`: the audio encoder's
        states and frame mask for `batch.feats`, when they were computed already (they are not recomputed)."""
        if self.config.backbone == QWEN:
            out = self.backbone(batch)
            dtype = self.head.query.weight.dtype  # a bf16 thinker under an fp32 head
            return self.head(out.words.to(dtype), out.frames.to(dtype)), out
        out = self.backbone(batch.feats, batch.feat_lens, batch.ids, batch.word_index,
                            batch.word_last, batch.word_mask, encoded)
        return self.head(out.words, out.frames), out


def save_model(model: FrameModel, folder: Path, dtype: torch.dtype | None = None,
               state: dict | None = None) -> None:
    """Weights (optionally cast, e.g. float16 for the bundled copy) + config.json, written atomically.
    `state`: the full state dict when it is not the model's own (gathered from FSDP shards).
    A Qwen backbone's thinker goes to `folder/thinker` in its own format (full fine-tuning) or stays in its
    model_path (LoRA: only the adapters change, and they are saved with the head)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if state is None else state
    if model.config.backbone == QWEN:
        from frametool.backbones.qwen_omni import save_thinker

        state = save_thinker(model.backbone, folder / QWEN_THINKER_DIR, state, dtype)
    state = {k: v.detach().to(dtype or v.dtype).contiguous() for k, v in state.items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(folder / WEIGHTS_FILE)
    config = asdict(model.config)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def resolve_model_dir(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    bundled = BUNDLED_DIR / name_or_path
    if bundled.is_dir():
        return bundled
    known = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / CONFIG_FILE).exists()) \
        if BUNDLED_DIR.is_dir() else []
    raise ModelError(f"model {name_or_path!r} is neither a bundled model ({', '.join(known) or 'none'}) "
                     "nor a local folder")


def resolve_device(device: str) -> torch.device:
    """auto -> cuda when available, else cpu; asking for cuda without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(device)


def read_model_folder(name_or_path: str) -> tuple[Path, dict]:
    """A model's folder (bundled name or local path) and its config.json, with errors naming what is wrong."""
    folder = resolve_model_dir(name_or_path)
    for needed in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / needed).is_file():
            raise ModelError(f"model folder {folder} has no {needed}")
    try:
        raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model folder {folder}: {CONFIG_FILE} cannot be read ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"model folder {folder}: {CONFIG_FILE} is not a frametool model config")
    return folder, raw


def load_model(name_or_path: str = DEFAULT_MODEL, device: str = "cpu") -> FrameModel:
    from safetensors.torch import load_file

    folder, raw = read_model_folder(name_or_path)
    try:
        if raw.get("task", "align") != "align":
            raise ModelError(f"model {name_or_path!r} was trained for `{raw['task']}`, not for alignment: use "
                             f"`frametool {raw['task']}`")
        raw["channels"] = tuple(raw.get("channels", ("onset", "offset")))
        raw.pop("absent_slot", None)  # earlier models had a "word not in this audio" slot; it is not read
        config = ModelConfig(**raw)
        target = resolve_device(device)
        if config.backbone == QWEN:  # bf16 on a GPU; the thinker of a full fine-tune from its own folder
            own = folder / QWEN_THINKER_DIR
            model = FrameModel(config, torch.bfloat16 if target.type == "cuda" else torch.float32,
                               own if own.is_dir() else None)
        else:
            model = FrameModel(config)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"model folder {folder}: {CONFIG_FILE} is not a frametool model config ({exc})") from None
    state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items() if not k.startswith("head.absent.")}
    try:
        if config.backbone == QWEN:
            from frametool.backbones.qwen_omni import load_own_weights

            load_own_weights(model, state)
        else:
            model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"model folder {folder}: weights do not match its config.json ({exc})") from None
    model.eval()
    return model.to(target)


def carry_phone_head(model: FrameModel, source: str) -> None:
    """Give `model` the phone head (weights and config.json `phone_head`) of model `source`, unchanged: a word
    model trained on from a model with a phone head comes out without one, and the phone head reads states of
    the same width. Whether it still holds up on the new states is for the phone dev sets to say."""
    other = load_model(source)
    if not other.has_phones:
        raise ModelError(f"model {source!r} has no phone head to carry over")
    if model.config.backbone != other.config.backbone or \
            model.backbone.config.d_model != other.backbone.config.d_model:
        raise ModelError(f"model {source!r}'s phone head reads {other.config.backbone} states of width "
                         f"{other.backbone.config.d_model}; this model's are {model.config.backbone} of width "
                         f"{model.backbone.config.d_model}")
    model.config.phone_head = dict(other.config.phone_head)
    model.phone_head = other.phone_head


def bundle(source: str, name: str = DEFAULT_MODEL, windows: bool = True, phones_from: str | None = None) -> Path:
    """Copy a trained model into the package (float16 weights) as bundled model `name`.
    `windows=False` drops the CTC head, so long recordings are refused rather than split and aligned
    (for a model whose long-recording alignment has not held up on held-out long recordings).
    `phones_from`: a model whose phone head the bundled model takes (carry_phone_head)."""
    from frametool.tasks.events import is_event_model, load_event_model, save_event_model

    if is_event_model(resolve_model_dir(source)):
        events = load_event_model(source, task=read_model_folder(source)[1]["task"])
        events.config.name = name
        save_event_model(events, BUNDLED_DIR / name, dtype=torch.float16)
        return BUNDLED_DIR / name
    model = load_model(source)
    model.config.name = name
    if phones_from:
        carry_phone_head(model, phones_from)
    if not windows and model.backbone.config.audio_encoder == "whisper":
        raise ModelError("a model on a Whisper encoder keeps its CTC head: it reads at most 30 s at once, so "
                         "every recording goes through the windows")
    if not windows and model.backbone.config.ctc:
        from dataclasses import replace

        model.backbone.config = replace(model.backbone.config, ctc=False)
        model.config.backbone_config = model.backbone.config.to_dict()
        del model.backbone.ctc_head
    target = BUNDLED_DIR / name
    save_model(model, target, dtype=torch.float16)
    return target


if __name__ == "__main__":  # python -m frametool.model bundle RUN_DIR/best [NAME] [--no-windows] [--phones-from M]
    import argparse

    parser = argparse.ArgumentParser(prog="python -m frametool.model")
    parser.add_argument("command", choices=["bundle"])
    parser.add_argument("model_dir")
    parser.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--no-windows", action="store_true")
    parser.add_argument("--phones-from", default=None, help="a model whose phone head the bundled model takes")
    args = parser.parse_args()
    print(bundle(args.model_dir, args.name, windows=not args.no_windows, phones_from=args.phones_from))
