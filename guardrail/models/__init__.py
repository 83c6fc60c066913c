"""The learned scorer (int8 ONNX) and how the guard finds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from guardrail.models.manifest import ModelIntegrityError, load_manifest, model_dir

if TYPE_CHECKING:
    from guardrail.models.learned import LearnedScorer
    from guardrail.policy import Policy

_log = structlog.get_logger("guardrail")


def load_scorer(policy: Policy) -> LearnedScorer | None:
    """The shipped model per the policy: None for "off", or for "auto" when it is not installed.

    An altered or missing model file is always an error (it names the file), never a silent fallback.
    """
    if policy.model == "off":
        return None
    directory = policy.model_dir or model_dir()
    manifest_present = (directory / "manifest.json").is_file()
    try:
        from guardrail.models.learned import LearnedScorer
    except ImportError as exc:  # onnxruntime / tokenizers not installed
        if policy.model == "on":
            raise ModelIntegrityError(f"the learned scorer needs the [models] extra: {exc}") from exc
        if manifest_present:
            _log.warning("guardrail.model_unavailable", reason=str(exc), fallback="linguistic")
        return None
    if not manifest_present and policy.model == "auto":
        return None  # "on" goes on and fails with the missing manifest named
    return LearnedScorer(directory, threads=policy.model_threads)


__all__ = ["ModelIntegrityError", "load_manifest", "load_scorer", "model_dir"]
