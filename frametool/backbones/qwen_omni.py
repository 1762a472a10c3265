"""Qwen2.5-Omni thinker as a frame-state backbone (a LOCAL checkpoint folder; nothing downloads).

Sequence of one row: <|im_start|>user\\n [prompt with the transcript] <|audio_bos|> <|AUDIO|> x n <|audio_eos|>
(+ <|im_end|>\\n<|im_start|>assistant\\n when the model is to answer in text, for the token baseline).
The prompt comes first so that the causal decoder conditions every audio position on it. The frame
states D are the last layer's (normed) states at the <|AUDIO|> positions, 25 per second (40 ms frames),
found row by row, so left and right padding both work. A word's query state is the state at its last
prompt token.

Shapes: waveforms -> log-mel (B, Tm, M) at 10 ms (Whisper's features, M = 128) -> audio tower -> n
placeholders per row -> decoder states (B, S, H) -> frames (B, T, H), words (B, W, H).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from frametool.backbones.base import BackboneOutput
from frametool.errors import ModelError

FRAME_SHIFT_S = 0.04
ALIGN_PROMPT = "Transcript: {words}\nBased on the transcript, output the timestamps for every word"
USER_HEAD, ASSISTANT_HEAD = "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
LORA_DEFAULT_TARGET = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


@dataclass(frozen=True)
class QwenConfig:
    """`backbone_config` of a model on the Qwen2.5-Omni backbone (ModelConfig.backbone = "qwen2.5-omni")."""
    model_path: str  # local folder of a Qwen2.5-Omni (thinker) checkpoint with its tokenizer
    n_mels: int = 128  # Whisper-style log-mel bins the audio tower reads (read from the checkpoint)
    max_words: int = 256  # longest transcript aligned in one pass
    longest_s: float = 30.0  # longest training utterance (the released models read 30 s windows)
    prompt: str = ALIGN_PROMPT
    attn_implementation: str = "sdpa"  # sdpa | flash_attention_2 | eager
    gradient_checkpointing: bool = False
    # LoRA through peft instead of full fine-tuning: {r, alpha, dropout, target (a module-name regex)};
    # empty = every weight of the thinker trains
    lora: dict = field(default_factory=dict)
    ctc: bool = False  # no CTC head: recordings are aligned in one piece (runner and trainer read this)
    position_jitter_s: float = 0.0

    @property
    def frame_shift_s(self) -> float:
        return FRAME_SHIFT_S

    @property
    def features(self):
        from frametool.audio.features import FeatureConfig

        return FeatureConfig(n_mels=self.n_mels, norm="whisper")

    @property
    def longest_input_s(self) -> float:
        return self.longest_s

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class QwenBatch:
    feats: torch.Tensor  # (B, Tm, M) log-mel
    feat_lens: torch.Tensor  # (B,)
    input_ids: torch.Tensor  # (B, S)
    attention_mask: torch.Tensor  # (B, S)
    word_last: torch.Tensor  # (B, W) position in the row of each word's last token
    word_mask: torch.Tensor  # (B, W)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def load_thinker(folder: Path | str, dtype: torch.dtype = torch.float32, attn_implementation: str = "sdpa"):
    """-> (thinker, tokenizer) from a local folder (a clear ModelError when it is missing or not one)."""
    from transformers import AutoTokenizer, Qwen2_5OmniThinkerForConditionalGeneration

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"Qwen2.5-Omni checkpoint folder {folder} does not exist "
                         "(download Qwen/Qwen2.5-Omni-3B or -7B yourself and give its folder as model_path)")
    if not (folder / "config.json").is_file():
        raise ModelError(f"Qwen2.5-Omni checkpoint folder {folder} has no config.json")
    _quiet_transformers()
    try:
        if json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == "qwen2_5_omni":
            # a whole Qwen2.5-Omni download (thinker + talker + vocoder): only its thinker is built and read
            from transformers import Qwen2_5OmniForConditionalGeneration

            thinker = Qwen2_5OmniForConditionalGeneration.from_pretrained(
                str(folder), dtype=dtype, local_files_only=True, attn_implementation=attn_implementation,
                enable_audio_output=False).thinker
        else:
            thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
                str(folder), dtype=dtype, local_files_only=True, attn_implementation=attn_implementation)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load Qwen2.5-Omni from {folder}: {exc}") from None
    return thinker, tokenizer


class QwenOmniBackbone(torch.nn.Module):
    def __init__(self, thinker, tokenizer=None, config: QwenConfig | None = None) -> None:
        super().__init__()
        self.thinker = thinker
        self.tokenizer = tokenizer
        tc = thinker.config
        self.config = config or QwenConfig(model_path="", n_mels=tc.audio_config.num_mel_bins)
        self.audio_token_id = tc.audio_token_index
        self.audio_bos_id = tc.audio_start_token_id
        self.audio_eos_id = tc.audio_end_token_id
        self.hidden_size = tc.text_config.hidden_size
        self.pad_id = tc.text_config.pad_token_id if tc.text_config.pad_token_id is not None else 0
        if tokenizer is not None:
            for name, wanted in (("<|AUDIO|>", self.audio_token_id), ("<|audio_bos|>", self.audio_bos_id),
                                 ("<|audio_eos|>", self.audio_eos_id)):
                if tokenizer.convert_tokens_to_ids(name) != wanted:
                    raise ModelError(f"the tokenizer of {self.config.model_path} maps {name} to "
                                     f"{tokenizer.convert_tokens_to_ids(name)}, its thinker config to {wanted}")
            if tokenizer.pad_token_id is not None:
                self.pad_id = tokenizer.pad_token_id
        if self.config.lora:
            self._add_lora(self.config.lora)
        if self.config.gradient_checkpointing:
            enable = getattr(thinker, "activation_checkpointing_enable", None)  # transformers 5 renamed it
            if enable is not None:
                enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                thinker.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    @classmethod
    def from_config(cls, config: QwenConfig, dtype: torch.dtype = torch.float32,
                    folder: Path | str | None = None) -> "QwenOmniBackbone":
        """The thinker of `folder` (default: config.model_path; a full fine-tune's own copy when given)."""
        thinker, tokenizer = load_thinker(folder or config.model_path, dtype, config.attn_implementation)
        from dataclasses import replace

        return cls(thinker, tokenizer, replace(config, n_mels=thinker.config.audio_config.num_mel_bins))

    def _add_lora(self, lora: dict) -> None:
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError:
            raise ModelError("a LoRA backbone needs peft: pip install 'frametool[gpu]'") from None
        unknown = set(lora) - {"r", "alpha", "dropout", "target"}
        if unknown:
            raise ModelError(f"unknown LoRA settings {sorted(unknown)} (r, alpha, dropout, target)")
        config = LoraConfig(r=int(lora.get("r", 16)), lora_alpha=float(lora.get("alpha", 32)),
                            lora_dropout=float(lora.get("dropout", 0.0)),
                            target_modules=lora.get("target", LORA_DEFAULT_TARGET))
        inject_adapter_in_model(config, self.thinker)
        for name, p in self.thinker.named_parameters():
            p.requires_grad = "lora_" in name

    @property
    def frame_shift_s(self) -> float:
        return FRAME_SHIFT_S

    def num_frames(self, num_feature_frames: torch.Tensor) -> torch.Tensor:
        """Audio placeholders (40 ms frames) for log-mel lengths (10 ms frames), as the audio tower counts."""
        return self.thinker.model.audio_tower._get_feat_extract_output_lengths(torch.as_tensor(num_feature_frames))[1]

    # --- prompts --------------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def encode_prompt(self, words: list[str]) -> tuple[list[int], list[int]]:
        """The user turn's ids up to the audio, and the position of each word's last token in them. Words are
        encoded one by one (" word"), so a word's tokens never merge with its neighbours'."""
        if self.tokenizer is None:
            raise ModelError("this Qwen backbone has no tokenizer (its checkpoint folder had none)")
        before, _, after = self.config.prompt.partition("{words}")
        ids = self._encode(USER_HEAD + before.rstrip(" "))
        word_last = []
        for word in words:
            ids += self._encode(" " + word)
            word_last.append(len(ids) - 1)
        ids += self._encode(after)
        return ids, word_last

    def build_inputs(self, prompts: list[list[int]], word_last: list[list[int]], feat_lens: torch.Tensor,
                     padding_side: str = "right", answer: bool = False):
        """Rows [prompt, bos, AUDIO x n, eos (+ assistant head when `answer`)] padded on `padding_side`.
        -> input_ids (B, S), attention_mask (B, S), word_last (B, W) positions in the padded rows, word_mask."""
        n_audio = self.num_frames(feat_lens.cpu()).tolist()
        tail = self._encode(ASSISTANT_HEAD) if answer else []
        rows = [list(p) + [self.audio_bos_id] + [self.audio_token_id] * int(n) + [self.audio_eos_id] + tail
                for p, n in zip(prompts, n_audio)]
        B, S = len(rows), max(len(r) for r in rows)
        W = max(1, max(len(w) for w in word_last))
        ids = torch.full((B, S), self.pad_id, dtype=torch.long)
        mask = torch.zeros((B, S), dtype=torch.long)
        last = torch.zeros((B, W), dtype=torch.long)
        word_mask = torch.zeros((B, W), dtype=torch.bool)
        for b, row in enumerate(rows):
            start = S - len(row) if padding_side == "left" else 0
            ids[b, start:start + len(row)] = torch.tensor(row)
            mask[b, start:start + len(row)] = 1
            last[b, :len(word_last[b])] = torch.tensor(word_last[b], dtype=torch.long) + start
            word_mask[b, :len(word_last[b])] = True
        return ids, mask, last, word_mask

    def make_batch(self, waveforms: list[np.ndarray], transcripts, device="cpu", padding_side: str = "right",
                   answer: bool = False) -> QwenBatch:
        """16 kHz waveforms and tokenised transcripts (lists of Token) -> model inputs on `device`."""
        from frametool.audio.features import log_mel_batch

        feats = log_mel_batch([torch.from_numpy(np.asarray(w, dtype=np.float32)).to(device) for w in waveforms],
                              self.config.features)
        encoded = [self.encode_prompt([t.text for t in tokens]) for tokens in transcripts]
        Tm = max(f.shape[0] for f in feats)
        padded = torch.zeros(len(feats), Tm, self.config.n_mels, device=device)
        for b, f in enumerate(feats):
            padded[b, :f.shape[0]] = f
        feat_lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        ids, mask, last, word_mask = self.build_inputs([e[0] for e in encoded], [e[1] for e in encoded], feat_lens,
                                                       padding_side, answer)
        return QwenBatch(padded, feat_lens.to(device), ids.to(device), mask.to(device), last.to(device),
                         word_mask.to(device))

    # --- forward and generation ------------------------------------------------------------------------
    @staticmethod
    def _audio_inputs(batch: QwenBatch, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        Tm = batch.feats.shape[1]
        feature_mask = (torch.arange(Tm, device=batch.feats.device)[None] < batch.feat_lens[:, None]).long()
        return batch.feats.transpose(1, 2).to(dtype), feature_mask  # (B, M, Tm), (B, Tm)

    def forward(self, batch: QwenBatch) -> BackboneOutput:
        dtype = next(self.thinker.parameters()).dtype
        features, feature_mask = self._audio_inputs(batch, dtype)
        out = self.thinker.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                 input_features=features, feature_attention_mask=feature_mask, use_cache=False)
        hidden = out.last_hidden_state  # (B, S, H), after the final norm
        is_audio = (batch.input_ids == self.audio_token_id) & batch.attention_mask.bool()  # (B, S)
        counts = is_audio.sum(1)
        T = int(counts.max())
        frame_mask = torch.arange(T, device=hidden.device)[None] < counts[:, None]  # (B, T)
        frames = hidden.new_zeros(hidden.shape[0], T, hidden.shape[2])
        frames[frame_mask] = hidden[is_audio]  # row by row, in order: any padding side
        words = torch.gather(hidden, 1, batch.word_last[..., None].expand(-1, -1, hidden.shape[2]))  # (B, W, H)
        return BackboneOutput(frames, frame_mask, words, batch.word_mask, FRAME_SHIFT_S)

    @torch.inference_mode()
    def generate(self, batch: QwenBatch, min_new_tokens: int, max_new_tokens: int) -> torch.Tensor:
        """Greedy text answer after [prompt; audio; assistant head] (a batch built with padding_side="left"
        and answer=True) through the thinker's own generate(). -> (B, new) token ids."""
        dtype = next(self.thinker.parameters()).dtype
        features, feature_mask = self._audio_inputs(batch, dtype)
        out = self.thinker.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                    input_features=features, feature_attention_mask=feature_mask,
                                    do_sample=False, min_new_tokens=min_new_tokens, max_new_tokens=max_new_tokens,
                                    pad_token_id=self.pad_id)
        return out[:, batch.input_ids.shape[1]:]


def generate_answers(model, waveforms, transcripts, max_new_tokens: int) -> list[str]:
    """The token baseline on a FrameModel over this backbone: the thinker writes its answer as text (the
    paper's JSON of word times, once fine-tuned for it). -> one decoded answer per row."""
    backbone = model.backbone
    device = next(model.parameters()).device
    batch = backbone.make_batch(waveforms, transcripts, device, padding_side="left", answer=True)
    ids = backbone.generate(batch, 1, max_new_tokens)
    return backbone.tokenizer.batch_decode(ids, skip_special_tokens=True)


THINKER_PREFIX = "backbone.thinker."  # the thinker's weights inside a FrameModel's state dict


def _own(name: str) -> bool:
    """Weights a frametool checkpoint keeps in model.safetensors: the head's and LoRA adapters'."""
    return not name.startswith(THINKER_PREFIX) or "lora_" in name


def save_thinker(backbone: QwenOmniBackbone, folder: Path, state: dict, dtype: torch.dtype | None = None) -> dict:
    """A full fine-tune's thinker weights (from `state`, a FrameModel state dict) and tokenizer to `folder` in
    transformers' own format (replacing an earlier copy); nothing for LoRA, whose base weights stay in
    model_path. -> the rest of `state`, for model.safetensors."""
    import shutil

    if not backbone.config.lora:
        thinker_state = {k[len(THINKER_PREFIX):]: v.detach().to(dtype or v.dtype)
                         for k, v in state.items() if k.startswith(THINKER_PREFIX)}
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        _quiet_transformers()
        backbone.thinker.save_pretrained(str(tmp), state_dict=thinker_state)
        if backbone.tokenizer is not None:
            backbone.tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    return {k: v for k, v in state.items() if _own(k)}


def load_own_weights(model, state: dict) -> None:
    """Load model.safetensors into a FrameModel whose thinker came from its folder: every head (and LoRA)
    weight must be there, and nothing else unknown (RuntimeError otherwise)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    lacking = [k for k in missing if _own(k)]
    if lacking or unexpected:
        raise RuntimeError(f"missing {lacking[:4]}, unexpected {list(unexpected)[:4]}")
