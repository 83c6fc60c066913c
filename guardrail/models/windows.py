"""Token windows: long texts are scored over consecutive windows, never silently truncated.

Shared by training and run time so the model sees texts cut the same way in both.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

CLS_ID = 101
SEP_ID = 102


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The WordPiece tokenizer with its built-in padding and truncation switched off.

    The shipped tokenizer.json pads and cuts every text to 128 tokens; windows are made here
    instead, so nothing is cut and no padding is counted as text.
    """
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def token_windows(tokenizer: Tokenizer, text: str, max_len: int, max_windows: int = 16) -> list[list[int]]:
    """[CLS] … [SEP] windows of at most ``max_len`` tokens covering the whole text (up to a cap)."""
    ids: list[int] = tokenizer.encode(text, add_special_tokens=False).ids
    body = max_len - 2
    if not ids:
        return [[CLS_ID, SEP_ID]]
    chunks = [ids[i:i + body] for i in range(0, len(ids), body)][:max_windows]
    return [[CLS_ID, *chunk, SEP_ID] for chunk in chunks]
