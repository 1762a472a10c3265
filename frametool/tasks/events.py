"""Event models: "When does the event '{label}' occur?" answered by frame-level channels.

An event model is frametool's backbone (audio encoder, then the causal decoder over [prompt; audio]) with a
per-frame head of three channels for the label in the prompt:
- `activity`: binary, is an event of this label sounding in this frame (weighted BCE);
- `onset`, `offset`: inhomogeneous Poisson intensities of the label's event starts and ends (full NLL, so the
  total intensity over a stretch of audio is the model's expected number of events there).
The audio is encoded once per window; the decoder runs once per asked label. Recordings of any length are
read in overlapping windows (the length the model was trained on) and every frame is taken from the window
where it lies most centrally. `decoders/events.py` turns the channels into events with credible intervals.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from frametool.annotation import Annotation, Item, Tier
from frametool.backbones.tiny import TinyAudioLM, TinyConfig
from frametool.errors import ModelError, UsageError
from frametool.framegrid import FrameGrid
from frametool.text.normalize import tokenize
from frametool.text.tokenizer import BOS, PAD, SEP, SPACE, UNK, VOCAB

EVENT_CHANNELS = ("activity", "onset", "offset")
PROMPT = "when does the event {label} occur"
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def label_text(label: str) -> str:
    """The spoken form of a label in the prompt: "syllable_3" -> "syllable three", "Dog-bark" -> "dog bark"."""
    pieces = [p for token in tokenize(label.replace("_", " ").replace("-", " ")) for p in token.spoken]
    return " ".join(pieces)


def prompt_ids(label: str, template: str = PROMPT) -> list[int]:
    text = template.format(label=label_text(label))
    return [BOS] + [SPACE if ch == " " else _INDEX.get(ch, UNK) for ch in text] + [SEP]


def check_labels(labels: list[str]) -> None:
    """Two labels that read the same in a prompt could not be told apart: refuse them."""
    seen: dict[str, str] = {}
    for label in labels:
        text = label_text(label)
        if not text:
            raise UsageError(f"event label {label!r} has no letters or digits to put in a prompt")
        if text in seen and seen[text] != label:
            raise UsageError(f"event labels {seen[text]!r} and {label!r} read the same in a prompt ({text!r})")
        seen[text] = label


@dataclass
class EventModelConfig:
    task: str = "events"
    backbone: str = "tiny"
    backbone_config: dict = field(default_factory=dict)
    head: str = "events"
    channels: tuple[str, ...] = EVENT_CHANNELS
    labels: tuple[str, ...] = ()
    window_s: float = 3.0  # the audio length it was trained on; longer recordings are read in windows
    prompt: str = PROMPT  # the question asked per label ({label} is its spoken form)
    # how a label's prompt state q meets the frame states d_k: "query" (shared frame features f(d_k), read
    # out per label by dot products with projections of q: cheap, the frames are computed once) or "film"
    # (d_k * (1 + g(q)) + b(q), then a per-frame MLP for every label)
    conditioning: str = "film"
    # decoding settings chosen on dev data (decoders/events.py DecodeConfig fields; `per_label`: a label's own)
    decoding: dict = field(default_factory=dict)
    data_recipe: dict = field(default_factory=dict)
    seed: int = 0
    name: str = "events"


class EventModel(nn.Module):
    """Audio encoded once; each asked label's prompt read once by the decoder (text only); the prompt's final
    state q conditions the frame states (`conditioning`) and the three channels come out per frame. Cost per
    extra label: one prompt and a read-out over the frames, not another pass over the audio."""

    def __init__(self, config: EventModelConfig) -> None:
        super().__init__()
        if config.backbone != "tiny":
            raise ModelError(f"event models are built on the tiny backbone, not {config.backbone!r}")
        check_labels(list(config.labels))
        self.config = config
        self.backbone = TinyAudioLM(TinyConfig(**config.backbone_config))
        d = self.backbone.config.d_model
        self.frame_norm = nn.LayerNorm(d)
        if config.conditioning == "film":
            self.film = nn.Linear(d, 2 * d)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
            self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, len(config.channels)))
        elif config.conditioning == "query":
            self.frame_mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
            self.query = nn.Linear(d, d * len(config.channels))
            self.query_bias = nn.Linear(d, len(config.channels))
        else:
            raise ModelError(f"unknown event conditioning {config.conditioning!r} (film or query)")

    @property
    def frame_shift_s(self) -> float:
        return self.backbone.frame_shift_s

    def prompt_states(self, labels: list[str], device) -> torch.Tensor:
        """(C, H): the decoder's state at the last token of each label's prompt."""
        from frametool.backbones.tiny import causal_attend, run_stack

        ids = [prompt_ids(label, self.config.prompt) for label in labels]
        batch = torch.full((len(ids), max(len(i) for i in ids)), PAD, dtype=torch.long)
        for row, seq in enumerate(ids):
            batch[row, : len(seq)] = torch.tensor(seq)
        batch = batch.to(device)
        x = self.backbone.embed_text(batch, torch.full_like(batch, -1))
        h = self.backbone.dec_norm(run_stack(self.backbone.decoder, x, causal_attend(batch == PAD)))
        last = torch.tensor([len(i) - 1 for i in ids], device=device)
        return h[torch.arange(len(ids), device=device), last]

    def channels(self, audio: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """audio (B, T, H) encoder states, query (C, H) prompt states -> (B, C, T, 3): activity logit, onset
        and offset log-intensities."""
        if self.config.conditioning == "query":
            H = audio.shape[-1]
            features = self.frame_mlp(self.frame_norm(audio))  # (B, T, H), once for all labels
            keys = self.query(query).view(query.shape[0], -1, H)  # (C, 3, H)
            values = torch.einsum("bth,cjh->bctj", features, keys) / H ** 0.5 + self.query_bias(query)[None, :, None]
        else:
            gain, bias = self.film(query).chunk(2, dim=-1)  # (C, H) each
            frames = self.frame_norm(audio)[:, None] * (1 + gain[None, :, None]) + bias[None, :, None]
            values = self.head(frames)
        return torch.cat([values[..., :1], values[..., 1:].clamp(-30.0, 30.0)], dim=-1)

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, labels: list[str]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, C, T, 3) channels for every row and label, and the (B, T) frame mask."""
        audio, mask = self.backbone.encode_audio(feats, feat_lens)
        return self.channels(audio, self.prompt_states(labels, feats.device)), mask


def save_event_model(model: EventModel, folder: Path, dtype: torch.dtype | None = None) -> None:
    from safetensors.torch import save_file

    from frametool.model import CONFIG_FILE, WEIGHTS_FILE

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(folder / WEIGHTS_FILE)
    tmp_config = folder / (CONFIG_FILE + ".tmp")
    tmp_config.write_text(json.dumps(asdict(model.config), indent=2) + "\n", encoding="utf-8")
    tmp_config.replace(folder / CONFIG_FILE)


def is_event_model(folder: Path) -> bool:
    """An event model, or a diarization model (the same machinery)."""
    from frametool.model import CONFIG_FILE

    try:
        return json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("task") in ("events", "diarize")
    except (OSError, ValueError):
        return False


def load_event_model(name_or_path: str, device: str = "cpu", task: str = "events") -> EventModel:
    """An event model (task "events"), or a diarization model built on the same machinery (task "diarize")."""
    from safetensors.torch import load_file

    from frametool.model import WEIGHTS_FILE, read_model_folder, resolve_device

    folder, raw = read_model_folder(name_or_path)
    if raw.get("task") != task:
        raise ModelError(f"model {name_or_path!r} was not trained for `{task}` (it is a "
                         f"{raw.get('task', 'align')} model)")
    try:
        raw["channels"] = tuple(raw.get("channels", EVENT_CHANNELS))
        raw["labels"] = tuple(raw.get("labels", ()))
        model = EventModel(EventModelConfig(**raw))
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()})
    except (ValueError, TypeError, RuntimeError, UsageError) as exc:
        raise ModelError(f"model folder {folder}: not a frametool event model ({exc})") from None
    model.eval()
    return model.to(resolve_device(device))


# --- inference over recordings of any length ---------------------------------------------------------------

def window_starts(num_frames: int, window: int, hop: int) -> list[int]:
    """Window start frames covering [0, num_frames): every `hop` frames, the last one flush with the end."""
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window, hop))
    starts.append(num_frames - window)
    return starts


@torch.no_grad()
def event_channels(model: EventModel, samples: np.ndarray, labels: list[str], batch_windows: int = 16
                   ) -> tuple[np.ndarray, FrameGrid]:
    """16 kHz samples -> (len(labels), T, 3) channels [activity probability, onset and offset intensity per
    second] on the recording's FrameGrid. Windows of the model's training length overlap by a third; each
    frame comes from the window in which it is furthest from an edge."""
    from frametool.audio.features import padded_log_mel

    features = model.backbone.config.features
    device = next(model.parameters()).device
    grid = FrameGrid.covering(len(samples) / features.sample_rate_hz, model.frame_shift_s)
    T = grid.num_frames
    window = FrameGrid.covering(model.config.window_s, model.frame_shift_s).num_frames
    hop = max(1, window * 2 // 3)
    starts = window_starts(T, window, hop)

    def sample_at(frame: int) -> int:
        return int(round(grid.start_s(frame) * features.sample_rate_hz))
    out = np.zeros((len(labels), T, 3), dtype=np.float32)
    best = np.full(T, -1.0)  # distance to the nearest window edge of the frame's current source
    for first in range(0, len(starts), batch_windows):
        chunk = starts[first:first + batch_windows]
        waves = [torch.from_numpy(np.ascontiguousarray(samples[sample_at(s):sample_at(s + window)],
                                                       dtype=np.float32)).to(device) for s in chunk]
        feats, feat_lens = padded_log_mel(waves, features)  # each window normalised over its own audio
        values, mask = model(feats, feat_lens, labels)
        values = values.float().cpu().numpy()  # (B, C, T, 3)
        counts = mask.sum(dim=1).tolist()
        for b, s in enumerate(chunk):
            frames = min(int(counts[b]), T - s)
            k = np.arange(frames, dtype=np.float64)
            # distance to the window's nearest edge; an edge of the recording itself is no edge
            left = k + 1 if s > 0 else np.full(frames, np.inf)
            right = frames - k if s + frames < T else np.full(frames, np.inf)
            centrality = np.minimum(np.minimum(left, right), 1e9)
            take = centrality > best[s:s + frames]
            v = values[b, :, :frames]
            fresh = np.stack([1 / (1 + np.exp(-v[..., 0])), np.exp(v[..., 1]), np.exp(v[..., 2])], axis=-1)
            out[:, s:s + frames][:, take] = fresh[:, take]
            best[s:s + frames] = np.where(take, centrality, best[s:s + frames])
    return out, grid


def detect(model: EventModel, samples: np.ndarray, labels: list[str] | None = None) -> list[Item]:
    """The events of the asked labels (all the model knows by default) in a 16 kHz recording, sorted by
    onset."""
    from frametool.decoders.events import decode_channels, decode_settings

    labels = list(labels or model.config.labels)
    unknown = [label for label in labels if label not in model.config.labels]
    if unknown:
        raise UsageError(f"model {model.config.name!r} knows no event {', '.join(map(repr, unknown))}; its "
                         f"events are: {', '.join(model.config.labels)}")
    values, grid = event_channels(model, samples, labels)
    return decode_channels(values, grid, labels, *decode_settings(model.config.decoding))


def to_annotation(file: str, duration_s: float, model_name: str, items: list[Item]) -> Annotation:
    return Annotation(file, duration_s, model_name, "events", (Tier("events", tuple(items)),))



def events_corpus(config, model: EventModel | None = None, progress=None, stdout=None, items=None):
    """`frametool events` over a corpus (EventsConfig): one JSON/TSV/CSV per audio file through the shared
    corpus runner (resume, failures.tsv, atomic writes)."""
    from frametool.tasks.corpus import discover
    from frametool.tasks.runner import load_recording, run_files

    model = model or load_event_model(config.model, config.device)
    labels = list(config.labels) or list(model.config.labels)
    unknown = [label for label in labels if label not in model.config.labels]
    if unknown:
        raise UsageError(f"model {model.config.name!r} knows no event {', '.join(map(repr, unknown))}; its "
                         f"events are: {', '.join(model.config.labels)} (see --list-events)")
    items = discover(config.corpus) if items is None else items

    def work(item):
        wave = load_recording(item.audio, config.max_recording_s)
        found = detect(model, wave.samples, labels)
        return to_annotation(str(item.audio), wave.duration_s, model.config.name, found), wave.duration_s

    return run_files(config, items, work, progress, stdout)
