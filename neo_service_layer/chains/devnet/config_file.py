"""Set and remove top-level keys of the NSL TOML config file, keeping everything else as it is.

``nsl devnet`` writes settings by their flat names (``evm_rpc_url``, which ``Settings`` reads as
``settings.evm.rpc_url``: config/flat.py), so a key is one ``name = value`` line before the first table
header; tables (``[evm]``, an operator's) are kept as they are. The file is edited line by line —
comments, order and unrelated keys survive — and the result is parsed with :mod:`tomllib` before it
replaces the old file (atomically, same directory).
Only strings and integers are written (all ``nsl devnet`` needs); the standard library has no TOML
writer.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from neo_service_layer.chains.devnet.errors import ConfigFileInvalid
from neo_service_layer.config import Settings

CONFIG_FILENAME = "nsl.toml"
_TABLE = re.compile(r"^\s*\[")


def config_path(settings: Settings) -> Path:
    """The file :class:`Settings` reads: ``NSL_CONFIG_FILE``, else ``<data_dir>/nsl.toml``."""
    explicit = os.environ.get("NSL_CONFIG_FILE")
    return Path(explicit) if explicit else settings.data_dir / CONFIG_FILENAME


def _value(value: str | int) -> str:
    if isinstance(value, bool):  # before int: bool is an int, and TOML spells it in lower case
        return "true" if value else "false"
    # A JSON string of printable text is a valid TOML basic string (same escapes).
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=True)


def _key_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(k) for k in keys)
    return re.compile(rf"^\s*({names})\s*=")


def _load(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ConfigFileInvalid(f"cannot read {path}: {e}") from e
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileInvalid(f"{path}: {e}") from e
    return text.splitlines()


def _write(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n" if lines else ""
    tomllib.loads(text)  # never write what Settings could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    """(top-level lines, the first table header and everything after it)."""
    for i, line in enumerate(lines):
        if _TABLE.match(line):
            return lines[:i], lines[i:]
    return lines, []


def set_keys(path: Path, values: Mapping[str, str | int], *, comment: str | None = None) -> None:
    """Set top-level ``values`` in ``path`` (created if missing), replacing earlier lines of the same keys."""
    top, tables = _split(_load(path))
    pattern = _key_pattern(values)
    kept = [line for line in top if not pattern.match(line) and line != comment]
    while kept and not kept[-1].strip():
        kept.pop()
    added = ([""] if kept else []) + ([comment] if comment else [])
    added += [f"{key} = {_value(value)}" for key, value in values.items()]
    _write(path, kept + added + (["", *tables] if tables else []))


def remove_keys(path: Path, keys: Iterable[str], *, comment: str | None = None) -> bool:
    """Remove top-level ``keys`` (and the ``comment`` line) from ``path``; True if anything changed."""
    lines = _load(path)
    if not lines:
        return False
    top, tables = _split(lines)
    pattern = _key_pattern(keys)
    kept = [line for line in top if not pattern.match(line) and line != comment]
    if len(kept) == len(top):
        return False
    while kept and not kept[-1].strip():
        kept.pop()
    _write(path, kept + (["", *tables] if tables else []))
    return True


def current_values(path: Path) -> dict[str, object]:
    """The file's top-level values ({} when it does not exist)."""
    lines = _load(path)
    return dict(tomllib.loads("\n".join(lines))) if lines else {}
