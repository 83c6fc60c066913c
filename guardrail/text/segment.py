"""Sentences and words with character offsets, so every finding can point at its evidence."""

from __future__ import annotations

import re
from typing import NamedTuple

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
# A sentence ends at . ! ? … (runs of them, optionally closing quotes/brackets), or at a line break.
_SENTENCE = re.compile(r"[^.!?…\n]*(?:[.!?…]+[\"'”’)\]]*|\n|$)")


class Word(NamedTuple):
    start: int
    end: int
    text: str
    lower: str


class Sentence(NamedTuple):
    start: int
    end: int
    text: str
    words: tuple[Word, ...]


def words(text: str, offset: int = 0) -> tuple[Word, ...]:
    """Alphabetic words and numbers with their offsets (apostrophes normalised)."""
    return tuple(
        Word(m.start() + offset, m.end() + offset, m.group(), m.group().lower().replace("’", "'"))
        for m in _WORD.finditer(text)
    )


def sentences(text: str) -> tuple[Sentence, ...]:
    """Split on sentence punctuation and line breaks; list items become their own sentences."""
    out = []
    for m in _SENTENCE.finditer(text):
        chunk = m.group()
        stripped = chunk.strip(" \t\r\n*-#>•")
        if not stripped:
            continue
        start = m.start() + chunk.find(stripped)
        end = start + len(stripped)
        ws = words(stripped, start)
        if ws:
            out.append(Sentence(start, end, stripped, ws))
    return tuple(out)
