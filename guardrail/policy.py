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

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

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
    #: the learned ONNX scorer: "auto" uses it when the model and onnxruntime are installed,
    #: "on" requires it, "off" uses the linguistic detectors alone
    model: Literal["auto", "on", "off"] = "auto"
    #: where the model lives (default: onnx_models/ of this checkout, or $GUARDRAIL_MODEL_DIR)
    model_dir: Path | None = None
    #: onnxruntime threads per session
    model_threads: int = Field(default=2, ge=1, le=64)

    # --- sinks (guardrail.sinks; README "Flagged turns") ---
    #: names replaced by [NAME] wherever text is logged, stored or published (comma-separated in the env)
    redact_names: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: SQLite review queue of flagged turns (GUARDRAIL_REVIEW_DB); unset: no review store
    review_db: str | None = None
    #: keep the (redacted) user and reply text in the review store
    review_text: bool = True
    #: mqtt://[user:pass@]host:1883 or mqtts://host:8883 (GUARDRAIL_MQTT_URL); unset: no MQTT events
    mqtt_url: str | None = None
    #: topics are <prefix>/flagged/<mechanism>
    mqtt_prefix: str = "guardrail"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    #: TLS (mqtts://): CA bundle, client certificate and key; insecure skips verification (testing only)
    mqtt_ca_file: str | None = None
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    mqtt_tls_insecure: bool = False
    mqtt_client_id: str | None = None
    #: the durable outbox (SQLite); default $XDG_STATE_HOME/guardrail/mqtt-outbox-<host>-<port>-….db
    mqtt_outbox: str | None = None
    #: outbox bounds and what happens when it is full (drop_oldest keeps the newest events)
    mqtt_outbox_max_events: int = Field(default=100_000, gt=0)
    mqtt_outbox_max_mb: int = Field(default=256, gt=0)
    mqtt_outbox_when_full: Literal["drop_oldest", "drop_newest"] = "drop_oldest"

    @field_validator("redact_names", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [name.strip() for name in text.split(",") if name.strip()]
        return value

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
