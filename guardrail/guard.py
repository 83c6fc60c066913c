"""The guard: turn → detectors → policy → action → sinks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from guardrail.actions import IMPLEMENTED, apply_action, choose_action
from guardrail.detectors import Detector, Pair, default_detectors
from guardrail.models import load_scorer
from guardrail.policy import Policy, load_policy
from guardrail.sinks import Sink, default_sinks
from guardrail.text.profile import TextProfile, profile_text
from guardrail.types import MECHANISMS, Finding, Message, ReferenceKind, Turn, Verdict

_log = structlog.get_logger("guardrail")


@dataclass(frozen=True, slots=True)
class GuardedReply:
    """What a wrapped LLM call returns: the reply the person should see and its verdict."""

    text: str
    verdict: Verdict
    raw: Any = None


class Guard:
    """Scores replies for the four empathic failures and applies the policy.

    ``Guard()`` loads the default policy (or $GUARDRAIL_POLICY) and the shipped detectors.
    """

    def __init__(self, policy: Policy | None = None, *, detectors: Sequence[Detector] | None = None,
                 sinks: Sequence[Sink] | None = None) -> None:
        self.policy = policy or load_policy()
        self.detectors = list(detectors) if detectors is not None else default_detectors()
        # default: structlog, plus the review store / MQTT when GUARDRAIL_REVIEW_DB / GUARDRAIL_MQTT_URL are set
        self.sinks: list[Sink] = list(sinks) if sinks is not None else default_sinks(self.policy)
        # the learned scorer fuses with the shipped detectors; custom detectors score on their own
        self.scorer = load_scorer(self.policy) if detectors is None else None
        for mechanism in MECHANISMS:
            action = self.policy.for_mechanism(mechanism).action
            if action not in IMPLEMENTED:
                _log.warning("guardrail.action_not_available", mechanism=mechanism, action=action,
                             fallback="flag")

    # --- the reference side can be prepared while the LLM generates ---------------------------
    def prepare(self, reference: str) -> TextProfile:
        """Analyse (and encode) the reference now, cached, so only the reply is left for ``check``."""
        text = reference[: self.policy.max_chars]
        if self.scorer is not None:
            self.scorer.encode(text)
        return profile_text(text)

    # --- checking -----------------------------------------------------------------------------
    def check(self, user: str | None = None, response: str = "", *, source: str | None = None,
              history: Sequence[Message | dict[str, str]] | None = None, id: str | int | None = None) -> Verdict:
        """Score one reply against the user's message (or the source text it transforms)."""
        turn = Turn(id=id, user=user, source=source, response=response,
                    history=[Message.model_validate(m) for m in history or []])
        return self.check_turn(turn)

    async def acheck(self, user: str | None = None, response: str = "", *, source: str | None = None,
                     history: Sequence[Message | dict[str, str]] | None = None,
                     id: str | int | None = None) -> Verdict:
        """``check`` off the event loop (the detectors are CPU work)."""
        return await asyncio.to_thread(self.check, user, response, source=source, history=history, id=id)

    def check_turn(self, turn: Turn) -> Verdict:
        started = time.perf_counter()
        try:
            verdict = self._verdict(turn, started)
        except Exception as exc:  # a detector bug must not take the conversation down
            verdict = self._failed(turn, started, exc)
        for sink in self.sinks:
            try:
                sink.emit(turn, verdict)
            except Exception as exc:  # a sink never breaks the reply path
                _log.error("guardrail.sink_error", sink=type(sink).__name__, error=repr(exc))
        return verdict

    def _verdict(self, turn: Turn, started: float) -> Verdict:
        limit = self.policy.max_chars
        kind: ReferenceKind = turn.reference_kind
        pair = Pair(reference=self.prepare(turn.reference), reply=profile_text(turn.response[:limit]), kind=kind,
                    full_evidence=self.scorer is not None)
        findings: list[Finding] = []
        for detector in self.detectors:
            if not self.policy.for_mechanism(detector.mechanism).enabled:
                continue
            findings.append(detector.assess(pair))
        if self.scorer is not None and findings:
            findings = self.scorer.fuse(pair, findings)
        findings = [f.model_copy(update={"flagged": f.score >= self.policy.for_mechanism(f.mechanism).threshold})
                    for f in findings]
        flags = [f.mechanism for f in findings if f.flagged]
        action = choose_action(findings, self.policy)
        return Verdict(
            id=turn.id, flagged=bool(flags), flags=flags,
            scores={f.mechanism: round(f.score, 4) for f in findings},
            findings=findings, action=action, final_text=apply_action(action, turn.response, self.policy),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            error=None if len(turn.response) <= limit and len(turn.reference) <= limit
            else f"text longer than {limit} characters was cut before analysis",
        )

    def _failed(self, turn: Turn, started: float, exc: Exception) -> Verdict:
        closed = self.policy.fail_mode == "closed"
        _log.error("guardrail.detector_error", turn_id=turn.id, error=repr(exc), fail_mode=self.policy.fail_mode)
        return Verdict(id=turn.id, flagged=closed, flags=[], scores={}, findings=[],
                       action="block" if closed else "none",
                       final_text=self.policy.block_message if closed else turn.response,
                       latency_ms=round((time.perf_counter() - started) * 1000, 3),
                       error=f"detector error: {type(exc).__name__}")

    # --- wrapping an LLM call -----------------------------------------------------------------
    def wrap(self, llm: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[GuardedReply]]:
        """Guard an async LLM function ``llm(user, **kwargs) -> str``.

        The reference is analysed in a worker thread while the LLM generates, so the guard adds
        only the reply side's latency.
        """

        async def guarded(user: str, **kwargs: Any) -> GuardedReply:
            preparing = asyncio.create_task(asyncio.to_thread(self.prepare, user))
            try:
                reply = await llm(user, **kwargs)
            finally:
                await preparing
            verdict = await self.acheck(user=user, response=reply)
            return GuardedReply(text=verdict.final_text or reply, verdict=verdict, raw=reply)

        return guarded

    # --- streamed replies ---------------------------------------------------------------------
    def astream(self, chunks: AsyncIterable[str] | Iterable[str], *, user: str | None = None,
                source: str | None = None, history: Sequence[Message | dict[str, str]] | None = None,
                id: str | int | None = None, mode: str = "observe", hold_sentences: int | None = 2,
                interim: bool | None = None) -> AsyncIterator[str | Verdict]:
        """Check a streamed reply at sentence boundaries; yields text to show, then the ``Verdict``.

        ``mode="observe"`` passes chunks at once; ``mode="hold"`` holds back up to ``hold_sentences``
        sentences so a block can still act. See ``guardrail.stream``.
        """
        from guardrail.stream import astream

        return astream(self, chunks, user=user, source=source, history=history, id=id,
                       mode=mode, hold_sentences=hold_sentences, interim=interim)  # type: ignore[arg-type]
