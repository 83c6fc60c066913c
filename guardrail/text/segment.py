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


def lower(text: str) -> str:
    """Lower-case with typographic apostrophes made plain; keeps every character offset."""
    return text.lower().replace("’", "'")


def words(text: str, offset: int = 0) -> tuple[Word, ...]:
    """Alphabetic words and numbers with their offsets (apostrophes normalised)."""
    lowered = lower(text)
    return tuple(
        Word(m.start() + offset, m.end() + offset, text[m.start():m.end()], lowered[m.start():m.end()])
        for m in _WORD.finditer(text)
    )


def sentences(text: str) -> tuple[Sentence, ...]:
    """Split on sentence punctuation and line breaks; list items become their own sentences."""
    all_words = words(text)
    out = []
    i = 0
    for m in _SENTENCE.finditer(text):
        chunk = m.group()
        stripped = chunk.strip(" \t\r\n*-#>•")
        if not stripped:
            continue
        start = m.start() + chunk.find(stripped)
        end = start + len(stripped)
        while i < len(all_words) and all_words[i].start < start:
            i += 1
        j = i
        while j < len(all_words) and all_words[j].start < end:
            j += 1
        if j > i:
            out.append(Sentence(start, end, stripped, all_words[i:j]))
        i = j
    return tuple(out)
