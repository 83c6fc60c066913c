"""Check a reply while it streams: incrementally, at sentence boundaries.

Chunks arrive as the LLM writes them. ``StreamChecker`` looks only at the new characters of each
chunk to find where sentences end; every completed stretch of text is analysed once, on its own,
and the analyses are put together for the checks made while the stream runs (each character is
analysed once however many chunks it came in). The final verdict is one ``Guard.check_turn`` on
the whole reply, so it is exactly what ``guard.check`` says for the same text, and it goes to the
guard's sinks once.

Two modes:

- ``observe``: every chunk passes at once; the verdict comes at the end. Nothing can be taken
  back, so nothing is checked on the way (set ``interim=True`` to check anyway).
- ``hold``: up to ``hold_sentences`` complete sentences (plus the unfinished one) are held back;
  text is released only after the check of the text so far passed. When the policy's action is
  ``block``, the held text is replaced by the block message and the stream stops early.
  ``hold_sentences=None`` holds the whole reply until the final verdict, so a block withholds all
  of it. Text already released cannot be recalled.

A phrase split across chunks ("challen" + "ging time") cannot escape: analysis runs on completed
sentences built from the joined chunks, never on single chunks.

    async for item in guard.astream(my_chunks(), user="my dad died on tuesday"):
        if isinstance(item, Verdict):
            print(item.flags)
        else:
            print(item, end="")
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import structlog

from guardrail.actions import choose_action
from guardrail.detectors import Pair
from guardrail.text.profile import Hit, TextProfile, profile_text
from guardrail.text.segment import Sentence, Word
from guardrail.types import Finding, Message, Turn, Verdict

if TYPE_CHECKING:
    from guardrail.guard import Guard

_log = structlog.get_logger("guardrail.stream")

StreamMode = Literal["observe", "hold"]
STREAM_MODES: tuple[StreamMode, ...] = ("observe", "hold")

#: what may end a sentence, and what may close it after the punctuation (mirrors text.segment)
_TERMINATORS = ".!?…"
_CLOSERS = "\"'”’)]"
_TAIL_CHARS = frozenset(_TERMINATORS + _CLOSERS)
#: a sentence boundary that no later chunk can move: punctuation (+ closers) followed by anything
#: else, or a line break
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=[^.!?…\"'”’)\]])|\n")

#: profile features that are lists of hits (or lists of hits by key): each hit lies inside one
#: sentence, so the reply's list is the parts' lists put together, shifted to reply offsets
_HIT_LIST = "list[Hit]"
_HIT_LISTS_BY_KEY = "dict[str, list[Hit]]"


class _Part:
    """One completed stretch of the reply (one or more sentences), analysed once."""

    __slots__ = ("offset", "profile", "sentences", "text")

    def __init__(self, text: str, offset: int) -> None:
        self.text = text
        self.offset = offset
        self.profile = TextProfile(text)  # not the shared cache: parts are seen once
        self.sentences = tuple(_shift_sentence(s, offset) for s in self.profile.sentences)


def _shift_sentence(s: Sentence, offset: int) -> Sentence:
    if not offset:
        return s
    return Sentence(s.start + offset, s.end + offset, s.text,
                    tuple(Word(w.start + offset, w.end + offset, w.text, w.lower) for w in s.words))


class _AssembledProfile(TextProfile):
    """The profile of the reply so far, put together from the profiles of its parts.

    Sentence-local hit lists are concatenated (shifted to reply offsets) instead of re-matched;
    whole-text features are derived from them by ``TextProfile``'s own code.
    """

    def __init__(self, parts: Sequence[_Part], word_set: frozenset[str]) -> None:  # no super(): no re-scan
        self._parts = tuple(parts)
        self.text = "".join(p.text for p in self._parts)
        self.lowered = "".join(p.profile.lowered for p in self._parts)
        self.sentences = tuple(s for p in self._parts for s in p.sentences)
        self.words = tuple(w for s in self.sentences for w in s.words)
        self.n_words = len(self.words)
        self.word_set = word_set

    def _merged(self, name: str) -> list[Hit]:
        out: list[Hit] = []
        for part in self._parts:
            off = part.offset
            hits: list[Hit] = getattr(part.profile, name)
            out.extend(h._replace(start=h.start + off, end=h.end + off) for h in hits)
        return out

    def _merged_by_key(self, name: str) -> dict[str, list[Hit]]:
        out: dict[str, list[Hit]] = {}
        for part in self._parts:
            off = part.offset
            by_key: dict[str, list[Hit]] = getattr(part.profile, name)
            for key, hits in by_key.items():
                out.setdefault(key, []).extend(h._replace(start=h.start + off, end=h.end + off) for h in hits)
        return out


def _merged_property(name: str, by_key: bool) -> cached_property[Any]:
    def merged(self: _AssembledProfile) -> Any:
        return self._merged_by_key(name) if by_key else self._merged(name)

    merged.__name__ = name
    prop: cached_property[Any] = cached_property(merged)
    prop.__set_name__(_AssembledProfile, name)
    return prop


# Every hit-list feature the profile has today (read from its annotations, so features added to
# TextProfile later are merged too); any other feature is computed by TextProfile's own code from
# the merged sentences, words and hits.
for _name, _attr in vars(TextProfile).items():
    if isinstance(_attr, cached_property):
        _returns = getattr(_attr.func, "__annotations__", {}).get("return")
        if not isinstance(_returns, str):  # evaluated annotations: list[guardrail.text.profile.Hit]
            _returns = repr(_returns).replace(f"{Hit.__module__}.", "")
        if _returns in (_HIT_LIST, _HIT_LISTS_BY_KEY):
            setattr(_AssembledProfile, _name, _merged_property(_name, by_key=_returns == _HIT_LISTS_BY_KEY))


class StreamChecker:
    """Incremental check of one streamed reply (sans-IO: feed text, get the text to release).

    ``feed(chunk)`` returns the text that may be shown now; ``finish()`` returns the rest and the
    final verdict. In ``observe`` mode ``feed`` returns the chunk itself.
    """

    def __init__(self, guard: Guard, *, user: str | None = None, source: str | None = None,
                 history: Sequence[Message | dict[str, str]] | None = None, id: str | int | None = None,
                 mode: StreamMode = "observe", hold_sentences: int | None = 2,
                 interim: bool | None = None) -> None:
        if mode not in STREAM_MODES:
            raise ValueError(f"mode must be one of {STREAM_MODES}, not {mode!r}")
        if hold_sentences is not None and hold_sentences < 0:
            raise ValueError("hold_sentences must be >= 0 (or None to hold the whole reply)")
        self.guard = guard
        # validates the reference now (a bad request fails before the stream, not after it)
        self._turn = Turn(id=id, user=user, source=source, response="",
                          history=[Message.model_validate(m) for m in history or []])
        self.mode: StreamMode = mode
        self.hold_sentences = hold_sentences
        self.interim = (mode == "hold") if interim is None else interim
        self._parts: list[_Part] = []
        self._complete_chars = 0  # characters in self._parts
        self._pending: list[str] = []  # chunks after the last sentence boundary
        self._tail = ""  # end of _pending that a later chunk may still extend into a boundary
        self._word_set: frozenset[str] = frozenset()
        self._ends: list[int] = []  # reply offsets where a sentence with words ends (raw, after closers)
        self._released = 0  # characters of the reply handed out (hold mode)
        self._reference_profile: TextProfile | None = None
        self.blocked = False
        self.finished = False
        self.verdict: Verdict | None = None
        #: the last check made while streaming (None until a sentence completes with ``interim``)
        self.interim_verdict: Verdict | None = None
        self.checks = 0

    # --- what the caller sees -----------------------------------------------------------------
    @property
    def text(self) -> str:
        """The reply received so far."""
        return "".join(p.text for p in self._parts) + "".join(self._pending)

    @property
    def released_chars(self) -> int:
        """How many characters of the reply were handed out (observe: all received)."""
        return self._complete_chars + sum(map(len, self._pending)) if self.mode == "observe" else self._released

    def prepare(self) -> None:
        """Analyse the reference (cached by the guard); call early, e.g. in a worker thread."""
        if self._reference_profile is None:
            self._reference_profile = self.guard.prepare(self._turn.reference)

    # --- feeding --------------------------------------------------------------------------------
    def feed(self, chunk: str) -> str:
        """Add one chunk; return the text to show now ("" while holding or after a block)."""
        if self.finished or self.blocked:
            return ""
        if not chunk:
            return ""
        completed = self._cut_boundaries(chunk)
        if self.mode == "observe":
            if completed and self.interim:
                self._interim_check()
            return chunk
        if completed:
            if self.interim:
                self._interim_check()
                if self.blocked:
                    return self._blocked_text()
            return self._release_up_to(self._releasable())
        return ""

    def finish(self) -> tuple[str, Verdict]:
        """End of stream: the text still to show and the final verdict (goes to the guard's sinks)."""
        if self.finished and self.verdict is not None:
            return "", self.verdict
        self.finished = True
        if self.blocked and self.verdict is not None:
            return "", self.verdict
        full = self.text
        verdict = self.guard.check_turn(self._turn.model_copy(update={"response": full}))
        self.verdict = verdict
        if self.mode == "observe":
            return "", verdict
        final = verdict.final_text if verdict.final_text is not None else full
        if final == full:
            return self._release_up_to(len(full)), verdict
        released, self._released = self._released, len(full)
        if final.startswith(full[:released]):  # the change lies in the held part
            return final[released:], verdict
        # text already out cannot be recalled; a block still withholds what is held
        return (self.guard.policy.block_message if verdict.action == "block" else full[released:]), verdict

    # --- internals ------------------------------------------------------------------------------
    def _cut_boundaries(self, chunk: str) -> bool:
        """Move every completed stretch out of the pending text, looking only at the new chunk (and
        the run of punctuation before it that the chunk may continue)."""
        window = self._tail + chunk
        last = 0
        for m in _BOUNDARY.finditer(window):
            last = m.end()
        if last:
            pending = "".join(self._pending) + chunk
            cut = len(pending) - len(window) + last
            self._add_part(pending[:cut])
            rest = pending[cut:]
            self._pending = [rest] if rest else []
            window = rest
        else:
            self._pending.append(chunk)
        i = len(window)
        while i > 0 and window[i - 1] in _TAIL_CHARS:
            i -= 1
        self._tail = window[i:]
        return bool(last)

    def _add_part(self, text: str) -> None:
        part = _Part(text, self._complete_chars)
        self._parts.append(part)
        self._complete_chars += len(text)
        if part.sentences:
            self._word_set = self._word_set | part.profile.word_set
        # where each sentence may be cut off from the next: where the next one starts, and the
        # part's own end (closing punctuation and quotes included) for its last sentence
        self._ends.extend(s.start for s in part.sentences[1:])
        if part.sentences:
            self._ends.append(self._complete_chars)

    def _releasable(self) -> int:
        if self.hold_sentences is None:
            return self._released
        n = len(self._ends) - self.hold_sentences
        return max(self._released, self._ends[n - 1]) if n > 0 else self._released

    def _release_up_to(self, end: int) -> str:
        if end <= self._released:
            return ""
        out = self.text[self._released:end] if end > self._complete_chars else self._complete_text(self._released, end)
        self._released = end
        return out

    def _complete_text(self, start: int, end: int) -> str:
        """Slice of the completed parts without joining the whole reply."""
        out = []
        for part in reversed(self._parts):
            p_start, p_end = part.offset, part.offset + len(part.text)
            if p_end <= start:
                break
            if p_start < end:
                out.append(part.text[max(0, start - p_start):end - p_start])
        return "".join(reversed(out))

    def _blocked_text(self) -> str:
        """What replaces the held text once the stream is blocked."""
        if self._released == 0 and self.verdict is not None and self.verdict.final_text is not None:
            return self.verdict.final_text
        return self.guard.policy.block_message

    def _interim_check(self) -> None:
        """Check the completed sentences so far, from the parts' analyses (no re-scan, no sinks)."""
        self.checks += 1
        try:
            if self._reference_profile is None:
                self.prepare()
            assert self._reference_profile is not None
            reply = _AssembledProfile(self._parts, self._word_set)
            verdict = self._evaluate(self._reference_profile, reply)
            self.interim_verdict = verdict
            if verdict.action != "block" or self.mode == "observe":
                return
            # confirm on the exact analysis of the text so far before stopping the stream
            exact = self._evaluate(self._reference_profile, profile_text(reply.text[: self.guard.policy.max_chars]))
            if exact.action != "block":
                return
        except Exception as exc:  # an interim check never breaks the stream; the final check decides
            _log.error("guardrail.stream.interim_error", turn_id=self._turn.id, error=repr(exc))
            return
        self.blocked = True
        self.finished = True
        self.verdict = self.guard.check_turn(self._turn.model_copy(update={"response": reply.text}))
        _log.info("guardrail.stream.blocked", turn_id=self._turn.id, flags=self.verdict.flags,
                  released_chars=self._released)

    def _evaluate(self, reference: TextProfile, reply: TextProfile) -> Verdict:
        policy = self.guard.policy
        pair = Pair(reference=reference, reply=reply, kind=self._turn.reference_kind)
        findings: list[Finding] = []
        for detector in self.guard.detectors:
            rule = policy.for_mechanism(detector.mechanism)
            if rule.enabled:
                found = detector.assess(pair)
                findings.append(found.model_copy(update={"flagged": found.score >= rule.threshold}))
        flags = [f.mechanism for f in findings if f.flagged]
        return Verdict(id=self._turn.id, flagged=bool(flags), flags=flags,
                       scores={f.mechanism: round(f.score, 4) for f in findings}, findings=findings,
                       action=choose_action(findings, policy), latency_ms=0.0)


# --- iterator front ends ----------------------------------------------------------------------
def stream(guard: Guard, chunks: Iterable[str], *, user: str | None = None, source: str | None = None,
           history: Sequence[Message | dict[str, str]] | None = None, id: str | int | None = None,
           mode: StreamMode = "observe", hold_sentences: int | None = 2,
           interim: bool | None = None) -> Iterator[str | Verdict]:
    """Yield the text to show as it streams (``str``), then the final ``Verdict`` (always last)."""
    checker = StreamChecker(guard, user=user, source=source, history=history, id=id, mode=mode,
                            hold_sentences=hold_sentences, interim=interim)
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            out = checker.feed(chunk)
            if out:
                yield out
            if checker.blocked:
                break
    finally:
        if checker.blocked and hasattr(iterator, "close"):
            iterator.close()
    rest, verdict = checker.finish()
    if rest:
        yield rest
    yield verdict


async def astream(guard: Guard, chunks: AsyncIterable[str] | Iterable[str], *, user: str | None = None,
                  source: str | None = None, history: Sequence[Message | dict[str, str]] | None = None,
                  id: str | int | None = None, mode: StreamMode = "observe", hold_sentences: int | None = 2,
                  interim: bool | None = None) -> AsyncIterator[str | Verdict]:
    """Async ``stream``: the reference is analysed in a worker thread while the first chunks arrive,
    and the final check runs off the event loop."""
    checker = StreamChecker(guard, user=user, source=source, history=history, id=id, mode=mode,
                            hold_sentences=hold_sentences, interim=interim)
    preparing = asyncio.ensure_future(asyncio.to_thread(checker.prepare))
    try:
        async for chunk in _aiter(chunks):
            if checker.interim and not preparing.done():
                await preparing
            out = checker.feed(chunk)
            if out:
                yield out
            if checker.blocked:
                break
    finally:
        aclose = getattr(chunks, "aclose", None)
        if checker.blocked and aclose is not None:
            await aclose()  # stop the LLM: nothing more of this reply will be shown
        if not preparing.done():
            await asyncio.wait([preparing])
    rest, verdict = await asyncio.to_thread(checker.finish)
    if rest:
        yield rest
    yield verdict


async def _aiter(chunks: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


__all__ = ["STREAM_MODES", "StreamChecker", "StreamMode", "astream", "stream"]
