"""One analysis of a text that every detector reads from.

Each group of features is computed on first use and then kept, so a reply pays only for the
features the detectors ask of a reply, and the reference (analysable while the LLM is still
generating) is never analysed twice: profiles are cached by text.
"""

from __future__ import annotations

import math
import re
from functools import cached_property, lru_cache
from typing import NamedTuple

from guardrail.text import lexicon as lx
from guardrail.text.segment import Sentence, Word, lower, sentences

try:  # vaderSentiment ships 7.5k human valence ratings (MIT); used only as a lexicon
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    _VADER: dict[str, float] = dict(SentimentIntensityAnalyzer().lexicon)
except ImportError:  # pragma: no cover - declared dependency
    _VADER = {}

#: frequent words whose VADER valence is about the topic, not a feeling, in assistant prose
_VADER_IGNORE = frozenset(
    ["help", "helpful", "like", "free", "important", "great", "good", "best", "better", "well", "care", "support", "please", "ok", "okay", "yes", "no", "problem", "problems", "error", "errors", "kill", "killed", "fun", "safe", "safety", "success", "successful", "clean", "win", "winning", "benefit", "benefits", "easy", "clear", "true", "false", "ready", "perfect", "positive", "negative", "cancer", "death", "died", "dead", "hospital"]
)
_PERSONAL = lx.FIRST_SINGULAR | lx.FIRST_PLURAL | lx.SECOND
#: life events are told flatly yet carry affect; each counts this much towards intensity
_EVENT_STRENGTH = 0.55


class Hit(NamedTuple):
    """A matched word or phrase: character range, text and label."""

    start: int
    end: int
    text: str
    label: str
    strength: float = 1.0


def stem(word: str) -> str:
    """Crude stem so "divorce"/"divorced" and "interview"/"interviews" meet."""
    return word.lower()[:6]


class TextProfile:
    """Everything the linguistic detectors need about one text, computed on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lowered = lower(text)
        self.sentences: tuple[Sentence, ...] = sentences(text)
        self.words: tuple[Word, ...] = tuple(w for s in self.sentences for w in s.words)
        self.n_words = len(self.words)
        self.word_set = frozenset(w.lower for w in self.words)

    # --- helpers -----------------------------------------------------------------------------
    def _hits(self, pattern: re.Pattern[str], label: str, strength: float = 1.0) -> list[Hit]:
        text = self.text
        return [Hit(m.start(), m.end(), text[m.start():m.end()], label, strength)
                for m in pattern.finditer(self.lowered)]

    # --- affect ------------------------------------------------------------------------------
    @cached_property
    def emotions(self) -> list[Hit]:
        """Words and phrases that name a feeling, with fine label and strength."""
        hits: list[Hit] = []
        taken: set[int] = set()
        for trigger, pattern, label, strength in lx.EMOTION_PHRASES:
            if trigger in self.word_set:
                for h in self._hits(pattern, label, strength):
                    hits.append(h)
                    taken.update(range(h.start, h.end))
        words = self.words
        for i, w in enumerate(words):
            if taken and w.start in taken:
                continue
            found = lx.emotion_of(w.lower)
            if found is not None:
                label, strength = found
            else:
                valence = _VADER.get(w.lower, 0.0)
                if abs(valence) < 2.5 or w.lower in _VADER_IGNORE:
                    continue
                label = "valence-negative" if valence < 0 else "valence-positive"
                strength = min(0.5, abs(valence) / 6)
            for prev in words[max(0, i - 2):i]:
                if prev.lower in lx.INTENSIFIERS:
                    strength = min(1.0, strength * 1.25 + 0.05)
                elif prev.lower in lx.DIMINISHERS:
                    strength *= 0.6
            if len(w.text) > 2 and w.text.isupper():
                strength = min(1.0, strength + 0.1)
            hits.append(Hit(w.start, w.end, w.text, label, strength))
        return hits

    @cached_property
    def named_emotions(self) -> list[Hit]:
        """Emotion hits with a fine label (VADER-only valence words left out)."""
        return [h for h in self.emotions if h.label in lx.EMOTION_FAMILY]

    @cached_property
    def families(self) -> set[str]:
        return families_of(self.named_emotions)

    @cached_property
    def addressed_emotions(self) -> list[Hit]:
        """Feelings the text attributes to its reader: named in a sentence with "you"/"your".

        Courtesy words ("sorry", "hope", "thanks") are left out: they name no feeling of the reader.
        """
        out: list[Hit] = []
        for s in self.sentences:
            if any(w.lower in lx.SECOND for w in s.words):
                out.extend(h for h in self.named_emotions
                           if s.start <= h.start < s.end and h.text.lower() not in lx.COURTESY_WORDS)
        return out

    @cached_property
    def events(self) -> list[Hit]:
        return self._hits(lx.EVENT_RE, "life event", _EVENT_STRENGTH)

    @cached_property
    def intensity(self) -> float:
        """Emotional intensity in [0, 1]: the strongest sentences, how dense affect is, how it's said."""
        if not self.sentences:
            return 0.0
        hits = self.emotions + self.events
        per_sentence = []
        for s in self.sentences:
            remaining = 1.0
            for h in hits:
                if s.start <= h.start < s.end:
                    remaining *= 1.0 - h.strength
            per_sentence.append(1.0 - remaining)
        top = sorted(per_sentence, reverse=True)
        peak = 0.75 * top[0] + 0.25 * (top[1] if len(top) > 1 else top[0])
        density = sum(h.strength for h in hits) / math.sqrt(max(self.n_words, 1))
        exclaim = min(self.text.count("!"), 4) * 0.03
        caps = sum(1 for w in self.words if len(w.text) > 1 and w.text.isupper() and w.lower != "i")
        shouting = 0.15 if caps >= 3 and caps / self.n_words >= 0.3 else 0.0
        repeated = 0.08 if re.search(r"[!?]{2,}", self.text) else 0.0
        score = (0.7 * peak + 0.3 * min(1.0, density / 1.5) + exclaim + min(caps, 4) * 0.03
                 + shouting + repeated)
        return max(0.0, min(1.0, score))

    @cached_property
    def addressed_intensity(self) -> float:
        """Intensity counting only feelings voiced to or by a person (sentences with I/you/we).

        "Job loss is associated with acute stress" names a feeling as a topic, not to anyone;
        a reply that only does that has not met the person's affect.
        """
        personal = [s for s in self.sentences if any(w.lower in _PERSONAL for w in s.words)]
        if not personal:
            return 0.0
        starts = [(s.start, s.end) for s in personal]
        kept = [h for h in self.emotions if any(a <= h.start < b for a, b in starts)]
        if not kept:
            return 0.0
        return self.intensity * min(1.0, sum(h.strength for h in kept)
                                    / max(sum(h.strength for h in self.emotions + self.events), 1e-9))

    # --- who speaks, about whom --------------------------------------------------------------
    def _rate(self, vocabulary: frozenset[str]) -> float:
        return sum(w.lower in vocabulary for w in self.words) / self.n_words if self.n_words else 0.0

    @cached_property
    def first_singular_rate(self) -> float:
        return self._rate(lx.FIRST_SINGULAR)

    @cached_property
    def second_person_rate(self) -> float:
        return self._rate(lx.SECOND)

    @cached_property
    def present_share(self) -> float:
        """Share of tensed markers in the present (Nook et al.: distance moves speech to the past)."""
        lows = [w.lower for w in self.words]
        present = sum(w in lx.PRESENT_AUX for w in lows)
        past = sum(w in lx.PAST_AUX for w in lows) + sum(len(w) > 4 and w.endswith("ed") for w in lows)
        return present / (present + past) if present + past else 0.5

    @cached_property
    def is_task_request(self) -> bool:
        """An instruction to do a task, not a person telling of their life."""
        if not self.sentences or not lx.TASK_REQUEST_RE.match(self.text.lstrip()):
            return False
        first = self.sentences[0]
        first_affect = [h for h in self.emotions + self.events if first.start <= h.start < first.end]
        return max((h.strength for h in first_affect), default=0.0) < 0.6

    @cached_property
    def is_personal(self) -> bool:
        """The writer brings something of their own life or feelings."""
        if self.is_task_request and self.first_singular_rate < 0.02:
            return False
        has_affect = bool(self.named_emotions) or bool(self.events) or self.intensity >= 0.4
        narrative = self.first_singular_rate >= 0.04 and not self.is_task_request
        explicit_conflict = any(h.strength >= 1.0 for h in self.conflict)
        return has_affect or narrative or explicit_conflict

    # --- the paper's distancing features ------------------------------------------------------
    @cached_property
    def passives(self) -> list[Hit]:
        """Agentless passives: a form of "be/get" + participle with no "by" agent after it."""
        out = []
        for s in self.sentences:
            ws = s.words
            for i, w in enumerate(ws[:-1]):
                if w.lower not in lx.BE_FORMS:
                    continue
                j = i + 1
                if ws[j].lower.endswith("ly") or ws[j].lower in ("not", "been", "being", "never"):
                    j += 1
                if j >= len(ws):
                    continue
                p = ws[j].lower
                participle = (len(p) > 4 and p.endswith("ed") and p not in lx.ADJECTIVAL_ED) or (
                    p in lx.IRREGULAR_PARTICIPLES
                )
                if not participle or lx.emotion_of(p) is not None:
                    continue
                if any(x.lower == "by" for x in ws[j + 1:j + 7]):
                    continue
                out.append(Hit(w.start, ws[j].end, self.text[w.start:ws[j].end], "agentless passive"))
        return out

    @cached_property
    def passive_share(self) -> float:
        if not self.sentences:
            return 0.0
        starts = {h.start for h in self.passives}
        with_passive = sum(any(s.start <= x < s.end for x in starts) for s in self.sentences)
        return with_passive / len(self.sentences)

    @cached_property
    def nominals(self) -> list[Hit]:
        """Nominalisations: -tion -sion -ment -ance -ence -ity -ness nouns (and determiner + -al)."""
        out = []
        for s in self.sentences:
            ws = s.words
            for i, w in enumerate(ws):
                lw = w.lower
                if len(lw) < 6 or lw in lx.NOMINAL_STOPLIST or (i > 0 and w.text[0].isupper()):
                    continue
                if lw.endswith(lx.NOMINAL_SUFFIXES) or (
                    lw.endswith("al") and i > 0 and ws[i - 1].lower in lx.DETERMINERS
                ):
                    out.append(Hit(w.start, w.end, w.text, "nominalisation"))
        return out

    @cached_property
    def nominal_density(self) -> float:
        return len(self.nominals) / self.n_words if self.n_words else 0.0

    @cached_property
    def nonperson_subjects(self) -> list[Hit]:
        """Sentences whose grammatical subject (heuristic: words before the verb) is not a person."""
        out = []
        for s in self.sentences:
            if _subject_is_person(s) is False:
                out.append(Hit(s.start, min(s.end, s.start + 40), s.text[:40], "non-person subject"))
        return out

    @cached_property
    def nonperson_subject_share(self) -> float:
        decided = [x for x in (_subject_is_person(s) for s in self.sentences) if x is not None]
        return sum(not x for x in decided) / len(decided) if decided else 0.0

    # --- reply moves -------------------------------------------------------------------------
    @cached_property
    def questions(self) -> list[Hit]:
        return [Hit(s.start, s.end, s.text, "question") for s in self.sentences if s.text.endswith("?")]

    @cached_property
    def questions_to_person(self) -> list[Hit]:
        """Questions that ask the person something ("you", "your")."""
        return [q for q in self.questions if any(w.lower in lx.SECOND for w in _words_in(self, q))]

    @cached_property
    def advice_share(self) -> float:
        """Share of sentences that advise: imperatives, "you should", "here are some steps"."""
        if not self.sentences:
            return 0.0
        advice = 0
        for s in self.sentences:
            if s.words[0].lower in lx.ADVICE_VERBS or lx.ADVICE_RE.search(self.lowered, s.start, s.end):
                advice += 1
        return advice / len(self.sentences)

    @cached_property
    def reply_phrases(self) -> dict[str, list[Hit]]:
        """Template empathy, euphemism, boilerplate, third person, avoidance and engagement moves,
        found in one scan of the text (keyed by family)."""
        found: dict[str, list[Hit]] = {family: [] for family, _, _ in lx.REPLY_FAMILIES}
        text = self.text
        for m in lx.REPLY_PHRASES_RE.finditer(self.lowered):
            family, label = lx.REPLY_GROUPS[m.lastgroup or ""]
            found[family].append(Hit(m.start(), m.end(), text[m.start():m.end()], label))
        return found

    @property
    def generic_empathy(self) -> list[Hit]:
        return self.reply_phrases["generic_empathy"]

    @property
    def flattening(self) -> list[Hit]:
        return self.reply_phrases["flattening"]

    @property
    def boilerplate(self) -> list[Hit]:
        return self.reply_phrases["boilerplate"]

    @property
    def third_person(self) -> list[Hit]:
        return self.reply_phrases["third_person"]

    @property
    def avoidance(self) -> list[Hit]:
        return self.reply_phrases["avoidance"]

    @property
    def engagement(self) -> list[Hit]:
        return self.reply_phrases["engagement"]

    # --- reference content -------------------------------------------------------------------
    @cached_property
    def conflict(self) -> list[Hit]:
        """Conflict cues: a grievance, a disagreement with the assistant, a request for a view."""
        return [h for label, pattern, weight in lx.CONFLICT_PATTERNS for h in self._hits(pattern, label, weight)]

    @cached_property
    def conflict_weight(self) -> float:
        """How clearly the text holds a conflict: 1 explicit cue, 0.8 a hurt involving someone else,
        0.5 a weak cue ("should I", "do you think")."""
        explicit = max((h.strength for h in self.conflict), default=0.0)
        negative = self.families & {"anger", "sadness", "fear", "shame"} or any(
            h.label == "valence-negative" for h in self.emotions)
        others = self.word_set & (lx.PERSON_NOUNS | lx.THIRD_PERSON_PRONOUNS)
        interpersonal = 0.8 if negative and others and self.is_personal else 0.0
        return max(explicit, interpersonal)

    @cached_property
    def specifics(self) -> dict[str, Hit]:
        """Concrete content words (names, numbers, things), keyed by stem."""
        out: dict[str, Hit] = {}
        for w in self.words:
            lw = w.lower
            if len(lw) < 3 or lw in lx.SPECIFICS_STOPLIST or lx.emotion_of(lw) is not None:
                continue
            out.setdefault(stem(lw), Hit(w.start, w.end, w.text, "specific"))
        return out

    @cached_property
    def stems(self) -> frozenset[str]:
        return frozenset(w[:6] for w in self.word_set)


def families_of(hits: list[Hit]) -> set[str]:
    """Emotion families of a set of hits ("anger", "sadness", "joy", …)."""
    return {lx.EMOTION_FAMILY[h.label] for h in hits if h.label in lx.EMOTION_FAMILY}


def _words_in(profile: TextProfile, hit: Hit) -> list[Word]:
    return [w for w in profile.words if hit.start <= w.start < hit.end]


def _subject_is_person(sentence: Sentence) -> bool | None:
    """Heuristic grammatical subject: the words before the first verb. None when undecidable."""
    ws = [w.lower for w in sentence.words]
    i = 0
    while i < len(ws) and ws[i] in lx.OPENERS:
        i += 1
    if i >= len(ws):
        return None
    if ws[i] in lx.PERSON_SUBJECTS or ws[i] in lx.ADVICE_VERBS:  # imperative: implied "you"
        return True
    for w in ws[i:i + 4]:
        if w in lx.BE_FORMS or w in lx.PRESENT_AUX or w in lx.PAST_AUX:
            break
        if w in lx.PERSON_SUBJECTS:
            return True
    return False


@lru_cache(maxsize=1024)
def profile_text(text: str) -> TextProfile:
    """The (cached) profile of a text."""
    return TextProfile(text)
