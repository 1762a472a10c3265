"""Token generation on the tiny backbone: the baseline that writes timestamps as text.

The same backbone reads [prompt; audio] and then GENERATES the answer one character at a time (e.g.
"[0.21, 0.49, 0.85]") after a start symbol, greedily, with a key/value cache so every step runs only the new position through
the decoder. This is how a text-timestamp audio LM answers; frametool instead reads the answer off the
frame states in one pass. The answer vocabulary, its embeddings and output layer (`AnswerHead`) belong to
the baseline; the backbone's weights are shared.
"""
from __future__ import annotations

import torch
from torch import nn

from frametool.backbones.tiny import causal_attend, layer_step, run_stack

ANSWER_VOCAB = ["<eos>", "[", "]", ",", " ", ".", *"0123456789", "{", "}", ":", '"', *"abcdefghijklmnopqrstuvwxyz'"]
_ANSWER_INDEX = {ch: i for i, ch in enumerate(ANSWER_VOCAB)}


def answer_text(times_s) -> str:
    """The paper's answer format for all words of a transcript: "[0.21, 0.49, 0.85]"."""
    return "[" + ", ".join(f"{t:.2f}" for t in times_s) + "]"


def encode_answer(text: str) -> list[int]:
    return [_ANSWER_INDEX[ch] for ch in text] + [_ANSWER_INDEX["<eos>"]]


def decode_answer(ids: list[int]) -> str:
    out = []
    for i in ids:
        if i == _ANSWER_INDEX["<eos>"]:
            break
        out.append(ANSWER_VOCAB[i])
    return "".join(out)


START = _ANSWER_INDEX["<eos>"]  # the same symbol opens the answer (fed after the audio) and ends it


class AnswerHead(nn.Module):
    """Embeddings (with their position in the answer) and output layer of the answer characters."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(ANSWER_VOCAB), d_model)
        self.out = nn.Linear(d_model, len(ANSWER_VOCAB))

    def embed_at(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """(B, A) answer ids at answer positions start.. -> (B, A, H) decoder inputs."""
        from frametool.backbones.tiny import sinusoids

        d = self.embed.embedding_dim
        return self.embed(ids) + sinusoids(start + ids.shape[1], d, ids.device)[start:][None]


def answer_inputs(texts: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher forcing: -> inputs (START + characters) and targets (characters + <eos>), (B, A) each,
    padded (targets with -100, ignored by the loss)."""
    encoded = [encode_answer(t) for t in texts]
    A = max(len(e) for e in encoded)
    inputs = torch.full((len(texts), A), START, dtype=torch.long)
    targets = torch.full((len(texts), A), -100, dtype=torch.long)
    for b, e in enumerate(encoded):
        inputs[b, 1:len(e)] = torch.tensor(e[:-1])
        targets[b, :len(e)] = torch.tensor(e)
    return inputs.to(device), targets.to(device)


def teacher_forced_logits(backbone, answer: AnswerHead, feats, feat_lens, ids, word_index,
                          inputs: torch.Tensor) -> torch.Tensor:
    """(B, A, V) answer logits of [prompt; audio; answer inputs] in one causal pass, padding masked (for
    training the baseline; the same states as generation computes, as the tests check)."""
    from frametool.text.tokenizer import PAD

    audio, frame_mask = backbone.encode_audio(feats, feat_lens)
    seq = torch.cat([backbone.embed_text(ids, word_index), audio + backbone.type_emb.weight[1],
                     answer.embed_at(inputs)], dim=1)
    pad = torch.cat([ids == PAD, ~frame_mask, torch.zeros_like(inputs, dtype=torch.bool)], dim=1)
    h = backbone.dec_norm(run_stack(backbone.decoder, seq, causal_attend(pad)))
    return answer.out(h[:, -inputs.shape[1]:])


def _prefix(backbone, feats, feat_lens, ids, word_index) -> torch.Tensor:
    """Decoder inputs of [prompt; audio] (B, L + T, H), as the backbone builds them."""
    audio, _ = backbone.encode_audio(feats, feat_lens)
    return torch.cat([backbone.embed_text(ids, word_index), audio + backbone.type_emb.weight[1]], dim=1)


def _prefill(backbone, x: torch.Tensor) -> tuple[torch.Tensor, list[dict]]:
    """The causal pass over the prefix -> (normed states (B, S, H), one key/value cache per layer)."""
    caches = []
    for layer in backbone.decoder.layers:
        x, cache = layer_step(layer, x, is_causal=True)
        caches.append(cache)
    return backbone.dec_norm(x), caches


def _step(backbone, x: torch.Tensor, caches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """One new position (B, 1, H) through every layer, growing `caches` in place -> its normed state."""
    for i, layer in enumerate(backbone.decoder.layers):
        x, caches[i] = layer_step(layer, x, past=caches[i])
    return backbone.dec_norm(x)


@torch.inference_mode()
def generate(backbone, answer: AnswerHead, feats: torch.Tensor, feat_lens: torch.Tensor, ids: torch.Tensor,
             word_index: torch.Tensor, steps: int, stop_at_eos: bool = False) -> torch.Tensor:
    """Greedy generation of `steps` answer characters after [prompt; audio] -> (B, steps) ids.

    Inputs must not be padded (equal lengths in the batch): the benchmark builds them so.
    `stop_at_eos=False` generates exactly `steps` characters (the length of the true answer), so the
    time measured is the cost of writing that answer whatever the weights are.
    """
    _, caches = _prefill(backbone, _prefix(backbone, feats, feat_lens, ids, word_index))
    start = torch.full((feats.shape[0], 1), START, dtype=torch.long, device=feats.device)
    last = _step(backbone, answer.embed_at(start, 0), caches)
    out = []
    for t in range(steps):
        token = answer.out(last).argmax(-1)  # (B, 1)
        out.append(token)
        if stop_at_eos and bool((token == START).all()):
            break
        last = _step(backbone, answer.embed_at(token, t + 1), caches)
    return torch.cat(out, dim=1)


def full_forward_states(backbone, answer: AnswerHead, feats, feat_lens, ids, word_index, answer_ids) -> torch.Tensor:
    """Decoder states of [prompt; audio; answer] in one causal pass (for checking the cached steps)."""
    seq = torch.cat([_prefix(backbone, feats, feat_lens, ids, word_index), answer.embed_at(answer_ids)], dim=1)
    pad = torch.zeros(seq.shape[:2], dtype=torch.bool, device=seq.device)
    return backbone.dec_norm(run_stack(backbone.decoder, seq, causal_attend(pad)))


def cached_states(backbone, answer: AnswerHead, feats, feat_lens, ids, word_index, answer_ids) -> torch.Tensor:
    """The same states computed as generation does: prefill, then one cached step per answer token."""
    states, caches = _prefill(backbone, _prefix(backbone, feats, feat_lens, ids, word_index))
    steps = [_step(backbone, answer.embed_at(answer_ids[:, t:t + 1], t), caches) for t in range(answer_ids.shape[1])]
    return torch.cat([states, *steps], dim=1)
