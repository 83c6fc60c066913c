"""Write per-mechanism thresholds into a policy TOML file, keeping everything else as it was.

The file is edited line by line (comments, order and other keys survive): the ``threshold``
line of each ``[mechanism]`` table is replaced, added under the table header, or a new table is
appended. Files that spell the table another way (dotted keys, inline tables) are rewritten from
their parsed content instead (comments are then lost). The result is parsed back and checked
before it atomically replaces the file.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guardrail.types import Mechanism


class PolicyFileError(ValueError):
    """The policy file could not be updated; the message says why."""


def _fmt(value: float) -> str:
    return repr(round(float(value), 4))


def _header(line: str) -> str | None:
    m = re.match(r"^\s*\[\s*([A-Za-z0-9_\-\"'. ]+?)\s*\]\s*(#.*)?$", line)
    if m is None or line.lstrip().startswith("[["):
        return None
    return m.group(1).strip().strip("\"'")


def _edit_lines(text: str, thresholds: Mapping[Mechanism, float], stamp: str) -> str:
    lines = text.splitlines()
    for mechanism, value in thresholds.items():
        new_line = f"threshold = {_fmt(value)}  # {stamp}"
        start = next((i for i, line in enumerate(lines) if _header(line) == mechanism), None)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += [f"[{mechanism}]", new_line]
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(start + 1, end) if re.match(r"^\s*threshold\s*=", lines[i])), None)
        if at is None:
            lines.insert(start + 1, new_line)
        else:
            lines[at] = new_line
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise PolicyFileError(f"cannot write non-finite number {value}")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise PolicyFileError(f"cannot write {type(value).__name__} values")


def dump_toml(data: Mapping[str, Any]) -> str:
    """A TOML document for a policy: top-level scalars, then one table per mapping (one level)."""
    out = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for key, table in data.items():
        if isinstance(table, Mapping):
            if out:
                out.append("")
            out.append(f"[{key}]")
            for k, v in table.items():
                if isinstance(v, Mapping):
                    raise PolicyFileError(f"nested table {key}.{k} is not supported")
                out.append(f"{k} = {_toml_value(v)}")
    return "\n".join(out) + "\n"


def _check(text: str, thresholds: Mapping[Mechanism, float]) -> dict[str, Any]:
    data = tomllib.loads(text)
    for mechanism, value in thresholds.items():
        table = data.get(mechanism)
        if not isinstance(table, dict) or not math.isclose(float(table.get("threshold", -1)), round(value, 4)):
            raise ValueError(f"{mechanism}.threshold did not come out as {value}")
    return data


def write_thresholds(path: str | Path, thresholds: Mapping[Mechanism, float]) -> Path:
    """Set ``[mechanism] threshold`` for each entry in the policy file at ``path`` (created if missing)."""
    path = Path(path)
    stamp = f"calibrated {datetime.now(UTC).date().isoformat()}"
    try:
        original = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc}") from exc
    try:
        parsed = tomllib.loads(original)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"policy file {path} is not valid TOML: {exc}") from exc
    if not original:
        original = "# empathy-guardrail policy (see README: Policy)\n"
    text = _edit_lines(original, thresholds, stamp)
    try:
        _check(text, thresholds)
    except (tomllib.TOMLDecodeError, ValueError):
        for mechanism, value in thresholds.items():  # unusual layout: rewrite from the parsed data
            table = parsed.setdefault(mechanism, {})
            if not isinstance(table, dict):
                raise PolicyFileError(f"{mechanism} in {path} is not a table") from None
            table["threshold"] = round(float(value), 4)
        text = dump_toml(parsed)
        try:
            _check(text, thresholds)
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise PolicyFileError(f"could not update {path}: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
