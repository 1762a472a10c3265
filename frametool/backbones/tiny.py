"""frametool's own small audio LM: a conv + transformer audio encoder, then a causal transformer decoder
over [prompt tokens; audio frames] (the prompt first, so every frame state is conditioned on it), and
optionally the prompt once more after the audio, whose word states then see the audio too.

Shapes: log-mel (B, Tm, M) at 10 ms -> encoder (B, T, H) at 20 ms -> decoder over (B, L + T [+ L], H).
The audio encoder is frametool's own (`audio_encoder = "tiny"`) or a Whisper encoder that has heard real
speech (`"whisper"`, backbones/whisper.py), its states projected to the decoder's width.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from frametool.backbones.base import BackboneOutput
from frametool.text.tokenizer import PAD, VOCAB


@dataclass(frozen=True)
class TinyConfig:
    n_mels: int = 80
    feature_hop_s: float = 0.01
    n_fft: int = 400  # STFT window in samples at 16 kHz (25 ms); event models of short sounds use less
    subsample: int = 2  # frames of feature_hop_s * subsample seconds
    d_model: int = 192
    n_heads: int = 4
    enc_layers: int = 4
    dec_layers: int = 2
    ff_mult: int = 4
    dropout: float = 0.1
    vocab_size: int = len(VOCAB)
    max_words: int = 256  # word-index embeddings (index taken modulo this)
    # repeat the prompt after the audio and take word queries there, so they can attend to the audio
    query_after_audio: bool = False
    # a CTC head over the audio encoder's states (characters of the spoken words, blank = <pad>): trained as
    # an auxiliary loss so the frames carry what was said; long recordings are split with it
    ctc: bool = False
    # training only: each utterance's audio positions start at a random frame within this many seconds, so
    # the model does not depend on where its audio starts; such a model's encoder states can be cut out of a
    # longer window (long recordings then encode their audio once: tasks/long.py)
    position_jitter_s: float = 0.0
    # the audio encoder: "tiny" (frametool's own, d_model wide) or "whisper" (a Whisper encoder of
    # `whisper` shape, {dim, heads, layers}, started from real-speech weights, projected to d_model)
    audio_encoder: str = "tiny"
    whisper: dict | None = None

    @property
    def frame_shift_s(self) -> float:
        return self.feature_hop_s * self.subsample

    @property
    def features(self):
        """The log-mel features this backbone reads."""
        from frametool.audio.features import FeatureConfig

        return FeatureConfig(n_fft=self.n_fft, hop_length=round(self.feature_hop_s * FeatureConfig.sample_rate_hz), n_mels=self.n_mels,
                             norm="whisper" if self.audio_encoder == "whisper" else "utterance")

    @property
    def longest_input_s(self) -> float:
        """The longest audio the encoder reads at once (0 = no limit): a Whisper encoder's position rows."""
        if self.audio_encoder != "whisper":
            return 0.0
        from frametool.framegrid import FrameGrid

        return FrameGrid(self.frame_shift_s, (self.whisper or {}).get("positions", 1500)).duration_s

    def to_dict(self) -> dict:
        return asdict(self)


_SINUSOIDS: dict[tuple[int, str], torch.Tensor] = {}


def sinusoids(length: int, dim: int, device=None) -> torch.Tensor:
    """(length, dim) fixed sinusoidal positions; they extend to any length (unseen audio lengths). Rows are
    computed once per (dim, device) and sliced (a row does not depend on the table's length)."""
    key = (dim, str(torch.device(device) if device is not None else torch.device("cpu")))
    table = _SINUSOIDS.get(key)
    if table is None or table.shape[0] < length:
        table = _sinusoid_table(max(length, 4096, 0 if table is None else 2 * table.shape[0]), dim, device)
        _SINUSOIDS[key] = table
    return table[:length]


def _sinusoid_table(length: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


def _stack(config: TinyConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.d_model * config.ff_mult,
                                       config.dropout, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def layer_step(layer: nn.TransformerEncoderLayer, x: torch.Tensor, attend: torch.Tensor | None = None,
               is_causal: bool = False, past: tuple[torch.Tensor, torch.Tensor] | None = None):
    """One pre-norm layer over x (B, S, H), as the layer module computes it (dropout included when
    training), with torch's scaled_dot_product_attention; queries also attend to `past` keys/values.
    `attend` (B, 1, S or 1, S_keys): True where a query may attend to a key. -> (output, (keys, values)),
    keys/values (B, heads, S_keys, H / heads) for a cache."""
    attn = layer.self_attn
    B, S, H = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).view(B, S, 3, heads, H // heads).permute(
        2, 0, 3, 1, 4)
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, is_causal=is_causal,
                                       dropout_p=attn.dropout if layer.training else 0.0)
    x = x + layer.dropout1(attn.out_proj(a.transpose(1, 2).reshape(B, S, H)))
    x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x))))))
    return x, (k, v)


def run_stack(stack: nn.TransformerEncoder, x: torch.Tensor, attend: torch.Tensor | None = None) -> torch.Tensor:
    """The layers of `stack` over x (B, S, H) by `layer_step`: on CPU 2-4x faster than the module's own
    masked attention path."""
    for layer in stack.layers:
        x, _ = layer_step(layer, x, attend)
    return x


def causal_attend(pad: torch.Tensor) -> torch.Tensor:
    """(B, S) padding mask (True = padding) -> (B, 1, S, S) causal attention mask (True = may attend)
    that also hides padded keys; a query always sees itself, so no row is empty."""
    S = pad.shape[1]
    lower = torch.ones(S, S, dtype=torch.bool, device=pad.device).tril()
    eye = torch.eye(S, dtype=torch.bool, device=pad.device)
    return ((lower[None] & ~pad[:, None, :]) | eye[None])[:, None]


class TinyAudioLM(nn.Module):
    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        if config.audio_encoder == "whisper":
            from frametool.backbones.whisper import WhisperEncoder, WhisperShape

            if config.subsample != 2:
                raise ValueError("a Whisper audio encoder has 20 ms frames (subsample 2)")
            self.whisper = WhisperEncoder(WhisperShape(**(config.whisper or {}), n_mels=config.n_mels))
            self.audio_proj = nn.Linear(self.whisper.shape.dim, d)
        elif config.audio_encoder == "tiny":
            self.conv = nn.Sequential(
                nn.Conv1d(config.n_mels, d, 3, padding=1), nn.GELU(),
                nn.Conv1d(d, d, 3, stride=config.subsample, padding=1), nn.GELU())
            self.encoder = _stack(config, config.enc_layers)
            self.enc_norm = nn.LayerNorm(d)
        else:
            raise ValueError(f"unknown audio encoder {config.audio_encoder!r} (tiny or whisper)")
        self.token_emb = nn.Embedding(config.vocab_size, d, padding_idx=PAD)
        self.word_emb = nn.Embedding(config.max_words + 1, d)  # last row: "no word"
        self.type_emb = nn.Embedding(2, d)  # 0 text, 1 audio
        self.decoder = _stack(config, config.dec_layers)
        self.dec_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)  # for the token baseline
        if config.query_after_audio:
            self.query_emb = nn.Parameter(torch.zeros(d))  # marks the repeated prompt
        if config.ctc:
            self.ctc_head = nn.Linear(d, config.vocab_size)

    @property
    def frame_shift_s(self) -> float:
        return self.config.frame_shift_s

    def num_frames(self, num_feature_frames: torch.Tensor) -> torch.Tensor:
        return (num_feature_frames - 1) // self.config.subsample + 1

    def encode_audio(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Tm, M) log-mel -> (B, T, H) audio states and (B, T) validity mask."""
        lens = self.num_frames(feat_lens)
        jitter = int(self.config.position_jitter_s / self.frame_shift_s) if self.training else 0
        if self.config.audio_encoder == "whisper":
            T = int(self.num_frames(torch.tensor(feats.shape[1])))
            mask = torch.arange(T, device=feats.device)[None] < lens[:, None]
            room = self.whisper.shape.positions - T
            start = torch.randint(0, max(0, min(jitter, room)) + 1, (feats.shape[0],)) if jitter > 0 else None
            return self.audio_proj(self.whisper(feats, mask, start)), mask
        x = self.conv(feats.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        mask = torch.arange(x.shape[1], device=x.device)[None] < lens[:, None]
        if jitter > 0:
            start = torch.randint(0, jitter + 1, (x.shape[0],))
            table = sinusoids(x.shape[1] + jitter, x.shape[2], x.device)
            x = x + table[(start[:, None] + torch.arange(x.shape[1])[None]).to(x.device)]
        else:
            x = x + sinusoids(x.shape[1], x.shape[2], x.device)[None]
        x = run_stack(self.encoder, x, mask[:, None, None, :])
        return self.enc_norm(x), mask

    def ctc_log_probs(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T, H) encoder states -> (B, T, V) log-probabilities over characters; index PAD is the blank."""
        if not self.config.ctc:
            raise ValueError("this backbone has no CTC head")
        return torch.log_softmax(self.ctc_head(audio).float(), dim=-1)

    def embed_text(self, ids: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
        """(B, L) prompt ids and word indices (-1 = special) -> (B, L, H) decoder inputs."""
        widx = torch.where(word_index < 0, torch.full_like(word_index, self.config.max_words),
                           word_index % self.config.max_words)
        return (self.token_emb(ids) + self.word_emb(widx) + self.type_emb.weight[0]
                + sinusoids(ids.shape[1], self.config.d_model, ids.device)[None])

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, ids: torch.Tensor,
                word_index: torch.Tensor, word_last: torch.Tensor, word_mask: torch.Tensor,
                encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> BackboneOutput:
        """feats (B, Tm, M); ids, word_index (B, L) (word_index -1 = special); word_last, word_mask (B, W).
        `encoded`: what encode_audio(feats, feat_lens) returns, when it was computed already."""
        audio, frame_mask = encoded if encoded is not None else self.encode_audio(feats, feat_lens)  # (B, T, H)
        B, L = ids.shape
        T = audio.shape[1]
        text = self.embed_text(ids, word_index)
        parts, pads = [text, audio + self.type_emb.weight[1]], [ids == PAD, ~frame_mask]
        if self.config.query_after_audio:
            parts.append(text + self.query_emb)
            pads.append(ids == PAD)
        seq, pad = torch.cat(parts, dim=1), torch.cat(pads, dim=1)  # (B, S, H), (B, S)
        h = self.dec_norm(run_stack(self.decoder, seq, causal_attend(pad)))
        query_states = h[:, L + T:] if self.config.query_after_audio else h[:, :L]
        words = torch.gather(query_states, 1, word_last.clamp_min(0)[..., None].expand(-1, -1, h.shape[2]))
        return BackboneOutput(h[:, L:L + T], frame_mask, words, word_mask, self.frame_shift_s, audio)
