"""The tiny backbone's character tokenizer, with the word index that lets a pointer tell words apart.

Tokens of a prompt are characters of the spoken words; each carries the index of the transcript token it
belongs to. `word_last` gives, for every transcript token, the position of its last character: the
backbone's state there is that token's query state for the pointer head.
"""
from __future__ import annotations

from dataclasses import dataclass

from frametool.text.normalize import Token

PAD, BOS, SEP, UNK, SPACE = 0, 1, 2, 3, 4
ALPHABET = "abcdefghijklmnopqrstuvwxyz'"
VOCAB = ["<pad>", "<bos>", "<sep>", "<unk>", " "] + list(ALPHABET)
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]  # (L,)
    word_index: list[int]  # (L,) transcript-token index of each character, -1 for specials
    word_last: list[int]  # (W,) position of each transcript token's last character


def encode_words(tokens: list[Token]) -> EncodedPrompt:
    ids, word_index, word_last = [BOS], [-1], []
    for i, token in enumerate(tokens):
        text = " ".join(token.spoken)
        if i:
            ids.append(SPACE)
            word_index.append(i)
        for ch in text:
            ids.append(_INDEX.get(ch, UNK))
            word_index.append(i)
        word_last.append(len(ids) - 1)
    ids.append(SEP)
    word_index.append(-1)
    return EncodedPrompt(ids, word_index, word_last)
