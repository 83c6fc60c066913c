"""The model manifest: what files make up the shipped model, and their sha256.

Every file is hashed at load; a missing or altered file is refused with an error naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

#: onnx_models/ at the top of the repository (override with $GUARDRAIL_MODEL_DIR)
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "onnx_models"


class ModelIntegrityError(RuntimeError):
    """A model file is missing or does not match its sha256 in the manifest."""


class ModelFile(BaseModel):
    path: str
    sha256: str
    bytes: int


class Manifest(BaseModel):
    name: str
    version: str
    base_model: str
    max_len: int
    files: dict[str, ModelFile]
    encoder_inputs: list[str]
    emotion_labels: list[str]
    mechanisms: list[str]
    thresholds: dict[str, float]
    features: list[str]
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}


def model_dir() -> Path:
    return Path(os.environ.get("GUARDRAIL_MODEL_DIR", DEFAULT_MODEL_DIR))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(directory: Path | None = None, *, verify: bool = True) -> tuple[Manifest, Path]:
    """The manifest of ``directory`` with every listed file checked against its sha256."""
    directory = directory or model_dir()
    path = directory / "manifest.json"
    if not path.is_file():
        raise ModelIntegrityError(f"model manifest not found: {path}")
    manifest = Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    if verify:
        for role, entry in manifest.files.items():
            file = directory / entry.path
            if not file.is_file():
                raise ModelIntegrityError(f"model file missing: {file} ({role})")
            actual = sha256_of(file)
            if actual != entry.sha256:
                raise ModelIntegrityError(
                    f"model file altered: {file} ({role}): sha256 {actual} does not match the manifest")
    return manifest, directory
