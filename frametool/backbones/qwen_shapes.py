"""Qwen2.5-Omni thinker configs written out by hand: the real 3B shapes (for benchmarks/gpu_check.py, random
weights) and a toy size (tests and `gpu_check.py --toy`), plus a toy checkpoint folder with a character
tokenizer whose special tokens sit at the toy config's ids. Nothing here downloads anything.
"""
from __future__ import annotations

from pathlib import Path

# the audio and chat special tokens a Qwen2.5-Omni tokenizer has, and the ones the thinker config names
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>",
            "<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>", "<|VIDEO|>")
# toy ids: 256 byte-like characters first, then the specials
TOY_IDS = {name: 256 + i for i, name in enumerate(SPECIALS)}
TOY_VOCAB = 256 + len(SPECIALS) + 6


def thinker_3b_config():
    """Qwen2.5-Omni-3B's thinker shapes (audio tower, vision tower, text decoder), as its config.json
    gives them; the special-token ids are the config class's defaults (the released ones)."""
    from transformers import Qwen2_5OmniThinkerConfig

    return Qwen2_5OmniThinkerConfig(
        audio_config=dict(num_mel_bins=128, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                          d_model=1280, output_dim=2048, n_window=100, max_source_positions=1500),
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                           fullatt_block_indexes=[7, 15, 23, 31], patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, in_channels=3),
        text_config=dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                         num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768,
                         tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [16, 24, 24]}))


def thinker_toy_config(n_mels: int = 128, hidden: int = 32, layers: int = 2):
    """The same classes at toy size (a few hundred thousand parameters), with a 272-token vocabulary."""
    from transformers import Qwen2_5OmniThinkerConfig

    return Qwen2_5OmniThinkerConfig(
        audio_token_index=TOY_IDS["<|AUDIO|>"], audio_start_token_id=TOY_IDS["<|audio_bos|>"],
        audio_end_token_id=TOY_IDS["<|audio_eos|>"], image_token_index=TOY_IDS["<|IMAGE|>"],
        video_token_index=TOY_IDS["<|VIDEO|>"], vision_start_token_id=TOY_IDS["<|vision_bos|>"],
        vision_end_token_id=TOY_IDS["<|vision_eos|>"],
        audio_config=dict(num_mel_bins=n_mels, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                          d_model=16, output_dim=hidden, n_window=50, max_source_positions=1500),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=hidden,
                           fullatt_block_indexes=[0]),
        text_config=dict(vocab_size=TOY_VOCAB, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                         pad_token_id=TOY_IDS["<|endoftext|>"], eos_token_id=TOY_IDS["<|im_end|>"],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3]}))


def toy_tokenizer():
    """A character tokenizer (one token per character of the first 256 code points) with the Qwen special
    tokens at TOY_IDS, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {chr(i): i for i in range(256)}
    vocab.update(TOY_IDS)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<|endoftext|>"))
    core.add_special_tokens(list(SPECIALS))
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


def make_toy_checkpoint(folder: Path, seed: int = 0, **sizes) -> Path:
    """Write a random toy thinker (config.json + safetensors) and its tokenizer into `folder`, laid out as
    a downloaded Qwen2.5-Omni checkpoint's thinker would be. -> folder."""
    import torch
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    torch.manual_seed(seed)
    thinker = Qwen2_5OmniThinkerForConditionalGeneration(thinker_toy_config(**sizes))
    folder = Path(folder)
    thinker.save_pretrained(str(folder))
    toy_tokenizer().save_pretrained(str(folder))
    return folder


def make_toy_full_checkpoint(folder: Path, seed: int = 0) -> Path:
    """A toy *whole* Qwen2.5-Omni checkpoint as the releases lay it out (config model_type "qwen2_5_omni",
    weights under "thinker."), without its talker (enable_audio_output false). -> folder."""
    import torch
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    torch.manual_seed(seed)
    config = Qwen2_5OmniConfig(thinker_config=thinker_toy_config().to_dict(), enable_audio_output=False)
    Qwen2_5OmniForConditionalGeneration(config).save_pretrained(str(folder))
    toy_tokenizer().save_pretrained(str(folder))
    torch.save({}, Path(folder) / "spk_dict.pt")  # the talker's voices, which a release ships and the loader reads
    return Path(folder)
