"""empathy-guardrail: score LLM replies for four empathic failures and act on them.

>>> from guardrail import Guard
>>> verdict = Guard().check(user="How do I reverse a list in Python?", response="Use lst[::-1].")
>>> verdict.flagged
False
"""

from guardrail.guard import Guard, GuardedReply
from guardrail.policy import MechanismPolicy, Policy, PolicyError, load_policy
from guardrail.types import DIMENSIONS, MECHANISMS, Finding, Mechanism, Message, Span, Turn, Verdict

__version__ = "0.1.0"

__all__ = ["DIMENSIONS", "MECHANISMS", "Finding", "Guard", "GuardedReply", "Mechanism", "MechanismPolicy",
           "Message", "Policy", "PolicyError", "Span", "Turn", "Verdict", "load_policy"]
