"""The shipped model's integrity check: a missing or altered file is refused, naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guardrail import Guard, load_policy
from guardrail.models import ModelIntegrityError, load_manifest, model_dir


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    target = tmp_path / "onnx_models"
    shutil.copytree(model_dir(), target)
    return target


def test_shipped_manifest_verifies() -> None:
    manifest, directory = load_manifest()
    assert {"encoder_int8", "heads", "tokenizer"} <= set(manifest.files)
    assert manifest.files["encoder_int8"].bytes <= 25 * 2**20  # the size budget
    assert set(manifest.thresholds) == {"attenuation", "granularity", "conflict_avoidance", "distancing"}
    assert directory == model_dir()


def test_tampered_file_is_refused(model_copy: Path) -> None:
    heads = model_copy / "heads.onnx"
    data = bytearray(heads.read_bytes())
    data[len(data) // 2] ^= 0xFF
    heads.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"heads\.onnx.*sha256"):
        load_manifest(model_copy)
    with pytest.raises(ModelIntegrityError, match=r"heads\.onnx"):
        Guard(load_policy(model="auto", model_dir=model_copy), sinks=[])


def test_missing_file_is_named(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing: .*tokenizer\.json"):
        Guard(load_policy(model="on", model_dir=model_copy), sinks=[])


def test_no_model_falls_back_only_when_allowed(tmp_path: Path) -> None:
    assert Guard(load_policy(model="auto", model_dir=tmp_path), sinks=[]).scorer is None
    with pytest.raises(ModelIntegrityError, match="manifest not found"):
        Guard(load_policy(model="on", model_dir=tmp_path), sinks=[])
