"""LangChain integration (extra ``[langchain]``).

- ``GuardrailRunnable(chain, guard=guard)``: a Runnable that guards any chat model or chain
  (invoke, ainvoke, batch, abatch, stream, astream). Its output is an ``AIMessage`` whose
  ``response_metadata["guardrail"]`` is the verdict (``Verdict.model_dump(mode="json")``);
  streamed, the last chunk carries it, so the summed chunks carry it too.
- ``GuardrailCallbackHandler(guard)``: add to any existing chain's callbacks; logs flagged turns
  (and keeps them in ``handler.flagged``) without changing any output.
"""

from guardrail_langchain.callbacks import GuardrailCallbackHandler
from guardrail_langchain.runnable import GuardrailRunnable, reference_of

__all__ = ["GuardrailCallbackHandler", "GuardrailRunnable", "reference_of"]
