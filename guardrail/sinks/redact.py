"""Redaction of personal data before any text leaves the reply path (logs, review store, MQTT).

Replaces e-mail addresses, card-like numbers (13–19 digits, spaces or dashes allowed), phone
numbers (7–15 digits, international and national formats) and configured names with
``[EMAIL]``, ``[CARD]``, ``[PHONE]`` and ``[NAME]``. Dates (``2024-01-15``, ``15/01/2024``) and
dotted IP addresses are left alone. It errs on the side of redacting: a long order number may
come out as ``[PHONE]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: 13–19 digits, optionally grouped by single spaces or dashes; not preceded by "+" (a phone number)
CARD = re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?!\w)")
PHONE = re.compile(
    r"""
    (?<![\w+])
    (?:\+\d{1,3}[ .-]?)?            # country code
    (?:\(\d{1,5}\)[ .-]?)?          # area code in brackets
    \d{1,5}(?:[ .-]?\d{1,5}){1,5}   # digit groups
    (?!\w)
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if not 7 <= digits <= 15 or _DATE.fullmatch(text) or _IP.fullmatch(text):
        return text
    return "[PHONE]"


class Redactor:
    """Callable that returns ``text`` with personal data replaced by placeholders."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        cleaned = sorted({n.strip() for n in names if n and n.strip()}, key=lambda n: (-len(n), n))
        self.names: tuple[str, ...] = tuple(cleaned)
        self._names = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in cleaned) + r")(?!\w)", re.IGNORECASE)
            if cleaned else None
        )

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        if "@" in text:
            text = EMAIL.sub("[EMAIL]", text)
        if _DIGIT.search(text):
            text = CARD.sub("[CARD]", text)
            text = PHONE.sub(_phone, text)
        if self._names is not None:
            text = self._names.sub("[NAME]", text)
        return text

    def __repr__(self) -> str:
        return f"Redactor(names={len(self.names)})"


def redact(text: str, names: Iterable[str] = ()) -> str:
    """One-off redaction (builds a :class:`Redactor`; keep one around for repeated use)."""
    return Redactor(names)(text) or ""
