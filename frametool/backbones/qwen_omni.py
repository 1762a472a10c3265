"""Qwen2.5-Omni thinker as a frame-state backbone (a LOCAL checkpoint folder; nothing downloads).

Sequence: [prompt tokens] <|audio_bos|> <|AUDIO|> x n <|audio_eos|>; the prompt comes first so that the
causal decoder conditions every audio position on it. The frame states D are hidden_states[-1] at the
<|AUDIO|> positions: 25 per second (40 ms frames). Word query states are the prompt positions given
by `word_last` (each transcript word's last token).
"""
from __future__ import annotations

from pathlib import Path

import torch

from frametool.backbones.base import BackboneOutput
from frametool.errors import ModelError

FRAME_SHIFT_S = 0.04


class QwenOmniBackbone(torch.nn.Module):
    def __init__(self, thinker) -> None:
        super().__init__()
        self.thinker = thinker
        config = thinker.config
        self.audio_token_id = config.audio_token_index
        self.audio_bos_id = config.audio_start_token_id
        self.audio_eos_id = config.audio_end_token_id
        self.hidden_size = config.text_config.hidden_size

    @classmethod
    def from_local(cls, folder: Path, dtype: torch.dtype = torch.bfloat16) -> "QwenOmniBackbone":
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        if not Path(folder).is_dir():
            raise ModelError(f"Qwen2.5-Omni checkpoint folder {folder} does not exist "
                             "(download Qwen/Qwen2.5-Omni-3B or -7B yourself and pass its folder)")
        try:
            thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
                str(folder), dtype=dtype, local_files_only=True)
        except OSError as exc:
            raise ModelError(f"cannot load Qwen2.5-Omni from {folder}: {exc}") from None
        return cls(thinker)

    def num_audio_tokens(self, num_feature_frames: torch.Tensor) -> torch.Tensor:
        """Audio placeholders for log-mel lengths (100 per second) -> 25 per second."""
        return self.thinker.model.audio_tower._get_feat_extract_output_lengths(num_feature_frames)[1]

    def build_input_ids(self, prompts: list[list[int]], num_feature_frames: torch.Tensor,
                        pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded (B, S) ids [prompt, bos, AUDIO x n, eos] and the (B, S) attention mask."""
        n_audio = self.num_audio_tokens(num_feature_frames).tolist()
        rows = [list(p) + [self.audio_bos_id] + [self.audio_token_id] * n + [self.audio_eos_id]
                for p, n in zip(prompts, n_audio)]
        S = max(len(r) for r in rows)
        ids = torch.full((len(rows), S), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), S), dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
            mask[b, : len(row)] = 1
        return ids, mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, input_features: torch.Tensor,
                feature_attention_mask: torch.Tensor, word_last: torch.Tensor,
                word_mask: torch.Tensor) -> BackboneOutput:
        """input_features (B, n_mels, Tm); feature_attention_mask (B, Tm); word_last/word_mask (B, W)."""
        out = self.thinker(input_ids=input_ids, attention_mask=attention_mask, input_features=input_features,
                           feature_attention_mask=feature_attention_mask, output_hidden_states=True,
                           use_cache=False)
        hidden = out.hidden_states[-1]  # (B, S, H)
        is_audio = input_ids == self.audio_token_id  # (B, S)
        counts = is_audio.sum(1)
        T = int(counts.max())
        frames = hidden.new_zeros(hidden.shape[0], T, hidden.shape[2])
        frame_mask = torch.arange(T, device=hidden.device)[None] < counts[:, None]
        frames[frame_mask] = hidden[is_audio]
        words = torch.gather(hidden, 1, word_last.clamp_min(0)[..., None].expand(-1, -1, hidden.shape[2]))
        return BackboneOutput(frames, frame_mask, words, word_mask, FRAME_SHIFT_S)
