"""Text analysis shared by every detector: segmentation, lexicons and the per-text profile."""

from guardrail.text.profile import TextProfile, profile_text
from guardrail.text.segment import Sentence, Word, sentences, words

__all__ = ["Sentence", "TextProfile", "Word", "profile_text", "sentences", "words"]
