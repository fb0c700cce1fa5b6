"""CLIP's byte-level BPE tokenizer files with a small hand-written vocabulary.

Real SD checkpoints ship vocab.json + merges.txt for their CLIP tokenizers; no model hub is
reachable here, so the tiny model gets files of the same format, written from scratch: every
byte is a symbol (so any prompt tokenizes), and twenty studio words are single tokens.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAX_PROMPT_TOKENS = 77  # CLIP's context length, as in every SD model

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
# Real SDXL pads its second tokenizer with "!" and its first with end-of-text.
PAD_TOKENS = {"tokenizer": EOS_TOKEN, "tokenizer_2": "!"}

# Made single tokens so typical studio prompts are short and the identifier is one token.
PROMPT_WORDS = (
    "photo",
    "person",
    "sks",
    "headshot",
    "portrait",
    "studio",
    "backdrop",
    "professional",
    "lighting",
    "background",
    "business",
    "wearing",
    "smiling",
    "man",
    "woman",
    "the",
    "of",
    "in",
    "with",
    "and",
)


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable character map, in CLIP's vocabulary order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {byte: chr(byte) for byte in printable}
    # Whitespace and control bytes are shifted past 255 so every symbol is visible.
    unprintable = [byte for byte in range(256) if byte not in table]
    table.update({byte: chr(256 + n) for n, byte in enumerate(unprintable)})
    return table


def word_symbols(word: str) -> list[str]:
    """A word as CLIP's BPE starts from it: byte symbols, the last marked end-of-word."""
    table = bytes_to_unicode()
    symbols = [table[byte] for byte in word.encode("utf-8")]
    symbols[-1] += END_OF_WORD
    return symbols


def apply_bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE: repeatedly merge the adjacent pair with the best (lowest) rank."""
    while len(symbols) > 1:
        pairs = list(zip(symbols, symbols[1:]))
        best = min(pairs, key=lambda pair: ranks.get(pair, math.inf))
        if best not in ranks:
            break
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def prompt_word_merges(words: tuple[str, ...] = PROMPT_WORDS) -> list[tuple[str, str]]:
    """Merges that turn each word into one token.

    Each new merge gets the lowest priority, so it cannot fire inside a word that is
    already a single token: earlier words stay single tokens as later ones are added.
    """
    merges: list[tuple[str, str]] = []
    for word in words:
        while len(tokens := apply_bpe(word_symbols(word), _ranks(merges))) > 1:
            merges.append((tokens[0], tokens[1]))
    return merges


def _ranks(merges: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {pair: rank for rank, pair in enumerate(merges)}


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's vocabulary layout: bytes, bytes + </w>, merge results, then the specials."""
    byte_symbols = list(bytes_to_unicode().values())
    tokens = [
        *byte_symbols,
        *(symbol + END_OF_WORD for symbol in byte_symbols),
        *("".join(pair) for pair in merges),
        BOS_TOKEN,
        EOS_TOKEN,
    ]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def write_tokenizer(folder: Path, pad_token: str) -> dict[str, int]:
    """Write the files SD checkpoints ship (vocab.json + merges.txt); return the vocab.

    They are written by hand rather than with `save_pretrained`: transformers 5 would
    save only tokenizer.json plus machine-specific keys ("is_local") in the config.
    """
    merges = prompt_word_merges()
    vocab = clip_vocab(merges)
    special_tokens = {
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
        "pad_token": pad_token,
    }
    config = {
        **special_tokens,
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_PROMPT_TOKENS,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
    }
    folder.mkdir(parents=True)
    _write_json(folder / "vocab.json", vocab, indent=None)
    merge_lines = "".join(f"{first} {second}\n" for first, second in merges)
    (folder / "merges.txt").write_text("#version: 0.2\n" + merge_lines, encoding="utf-8")
    _write_json(folder / "special_tokens_map.json", special_tokens)
    _write_json(folder / "tokenizer_config.json", config)
    return vocab


def _write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    text = json.dumps(data, indent=indent, sort_keys=indent is not None, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
