"""What the guard does with a flagged reply. ``flag`` and ``block`` act here; ``rewrite`` and
``reask`` are named in the policy and handled as ``flag`` until their issues land."""

from __future__ import annotations

from guardrail.policy import Policy
from guardrail.types import Action, Finding

#: stronger actions win when several flagged mechanisms ask for different ones
_STRENGTH: dict[Action, int] = {"none": 0, "flag": 1, "rewrite": 2, "reask": 3, "block": 4}
IMPLEMENTED: frozenset[Action] = frozenset({"none", "flag", "block"})


def choose_action(findings: list[Finding], policy: Policy) -> Action:
    """The strongest action any flagged mechanism asks for (falling back to flag)."""
    wanted: list[Action] = [policy.for_mechanism(f.mechanism).action for f in findings if f.flagged]
    if not wanted:
        return "none"
    action = max(wanted, key=_STRENGTH.__getitem__)
    return action if action in IMPLEMENTED else "flag"


def apply_action(action: Action, reply: str, policy: Policy) -> str:
    """The text the person should see."""
    return policy.block_message if action == "block" else reply
