"""Thresholds and actions per mechanism, from a TOML file and GUARDRAIL_* environment variables.

Precedence, highest first: environment variables, the TOML file, the defaults below.
Example file (``guardrail.toml``)::

    fail_mode = "open"
    [attenuation]
    threshold = 0.55
    action = "flag"

Environment: ``GUARDRAIL_ATTENUATION__THRESHOLD=0.6``, ``GUARDRAIL_FAIL_MODE=closed``;
``GUARDRAIL_POLICY=path/to/guardrail.toml`` names the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from guardrail.types import MECHANISMS, Action, Mechanism


class PolicyError(ValueError):
    """The policy file or environment is invalid; the message says where."""


class MechanismPolicy(BaseModel):
    enabled: bool = True
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    action: Action = "flag"


class Policy(BaseSettings):
    """What the guard does with each mechanism's score."""

    model_config = SettingsConfigDict(env_prefix="GUARDRAIL_", env_nested_delimiter="__", extra="forbid")

    attenuation: MechanismPolicy = MechanismPolicy(threshold=0.5)
    granularity: MechanismPolicy = MechanismPolicy(threshold=0.5)
    conflict_avoidance: MechanismPolicy = MechanismPolicy(threshold=0.5)
    distancing: MechanismPolicy = MechanismPolicy(threshold=0.5)
    #: on an internal error: "open" passes the reply unflagged, "closed" blocks it
    fail_mode: Literal["open", "closed"] = "open"
    #: replies and references longer than this are cut before analysis
    max_chars: int = Field(default=20_000, gt=0)
    #: shown instead of a blocked reply
    block_message: str = "I'm sorry, I can't send that reply. Could you tell me a bit more about what you need?"
    #: put the user's and the reply's text into log events (off: ids, flags and scores only)
    log_text: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # environment overrides the file

    def for_mechanism(self, mechanism: Mechanism) -> MechanismPolicy:
        policy: MechanismPolicy = getattr(self, mechanism)
        return policy


def load_policy(path: str | Path | None = None, **overrides: Any) -> Policy:
    """Policy from ``path`` (or $GUARDRAIL_POLICY), then the environment on top."""
    path = path or os.environ.get("GUARDRAIL_POLICY")
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PolicyError(f"policy file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from exc
    data.update(overrides)
    try:
        return Policy(**data)
    except ValidationError as exc:
        where = f"policy file {path}" if path else "policy"
        raise PolicyError(f"invalid {where} (or GUARDRAIL_* environment): {exc}") from exc


__all__ = ["MECHANISMS", "MechanismPolicy", "Policy", "PolicyError", "load_policy"]
