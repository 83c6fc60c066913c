"""Pydantic models at the boundary: what goes into the guard and what comes out."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mechanism = Literal["attenuation", "granularity", "conflict_avoidance", "distancing"]
MECHANISMS: tuple[Mechanism, ...] = ("attenuation", "granularity", "conflict_avoidance", "distancing")

#: The paper's three dimensions; attenuation runs across all three.
DIMENSIONS: dict[Mechanism, str] = {
    "attenuation": "cross-cutting",
    "granularity": "cognitive",
    "conflict_avoidance": "relational",
    "distancing": "cultural",
}

Action = Literal["none", "flag", "rewrite", "reask", "block"]
ReferenceKind = Literal["user", "source"]

#: Texts longer than this are cut before analysis (the verdict says so); keeps the guard bounded.
MAX_TEXT_CHARS = 100_000


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(value: str) -> str:
    """Drop NUL and other control characters that only binary input carries."""
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


class Message(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str

    @field_validator("content")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _clean_text(value)


class Turn(BaseModel):
    """A reply and the reference it must preserve: the user's message or a source text."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    user: str | None = None
    source: str | None = None
    history: list[Message] = Field(default_factory=list)
    response: str

    @field_validator("user", "source", "response")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else _clean_text(value)

    @model_validator(mode="after")
    def _one_reference(self) -> Turn:
        if self.user is None and self.source is None:
            raise ValueError("a turn needs a reference: 'user' or 'source'")
        if self.user is not None and self.source is not None:
            raise ValueError("give either 'user' or 'source', not both")
        return self

    @property
    def reference_kind(self) -> ReferenceKind:
        return "user" if self.user is not None else "source"

    @property
    def reference(self) -> str:
        """The text the reply is compared with (the user's own words, not the history)."""
        return self.user if self.user is not None else (self.source or "")


class Span(BaseModel):
    """Evidence: a character range in the reply or the reference."""

    side: Literal["reply", "reference"]
    start: int
    end: int
    text: str
    label: str = ""


class Finding(BaseModel):
    """One mechanism's assessment of a turn, with the evidence a person can check."""

    mechanism: Mechanism
    score: float = Field(ge=0.0, le=1.0)
    flagged: bool = False
    dimension: str
    explanation: str
    evidence: list[Span] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    """The guard's answer for one turn; ``model_dump()`` is the scan output line."""

    id: str | int | None = None
    flagged: bool
    flags: list[Mechanism]
    scores: dict[Mechanism, float]
    findings: list[Finding]
    action: Action = "none"
    latency_ms: float
    error: str | None = None
    #: The reply the person should see (differs from the input once rewrite/block act).
    final_text: str | None = Field(default=None, exclude=True)
