"""Test settings with a few changes, group by group (``jobs={"max_attempts": 5}`` keeps the other ones)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo_service_layer.config import Settings


def settings_with(base: Settings | Mapping[str, Any], **changes: Any) -> Settings:
    """``base`` (settings, or constructor arguments) with ``changes`` on top, validated again.

    A group given as a dict is merged into the group of ``base``; any other value replaces it.
    """
    values = base.model_dump() if isinstance(base, Settings) else dict(base)
    for name, value in changes.items():
        current = values.get(name)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            value = {**current, **value}
        values[name] = value
    return Settings(**values)
