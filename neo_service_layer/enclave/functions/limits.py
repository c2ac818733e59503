"""Per-run limits of a function (issue 16) and the operator's maximums that bound them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

from neo_service_layer.errors import ValidationFailed

DEFAULT_TIMEOUT_MS: Final = 10_000
DEFAULT_MEMORY_MB: Final = 128
DEFAULT_MAX_OUTPUT_BYTES: Final = 64 * 1024
DEFAULT_MAX_LOG_BYTES: Final = 64 * 1024
DEFAULT_MAX_FETCHES: Final = 5
DEFAULT_MAX_FETCH_RESPONSE_BYTES: Final = 1 << 20

MAX_TIMEOUT_MS: Final = 60_000
MAX_MEMORY_MB: Final = 512
MAX_OUTPUT_BYTES: Final = 1 << 20
MAX_LOG_BYTES: Final = 1 << 20
MAX_FETCHES: Final = 50
MAX_FETCH_RESPONSE_BYTES: Final = 8 << 20
#: Below this the engine cannot even hold the prelude.
MIN_MEMORY_MB: Final = 4


class LimitAboveMaximum(ValidationFailed):
    code = "function_limit_above_maximum"
    title = "A function limit is above the operator's maximum"


@dataclass(frozen=True, slots=True)
class RunLimits:
    """What one run may use. Every field is positive; :meth:`within` checks them against a maximum."""

    timeout_ms: int = DEFAULT_TIMEOUT_MS
    memory_mb: int = DEFAULT_MEMORY_MB
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    max_fetches: int = DEFAULT_MAX_FETCHES
    max_fetch_response_bytes: int = DEFAULT_MAX_FETCH_RESPONSE_BYTES

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationFailed(f"{f.name} must be a non-negative integer")
        if self.timeout_ms < 1 or self.memory_mb < MIN_MEMORY_MB:
            raise ValidationFailed(f"timeout_ms must be at least 1 and memory_mb at least {MIN_MEMORY_MB}")

    def within(self, maximum: RunLimits) -> RunLimits:
        """These limits, or :class:`LimitAboveMaximum` naming the first field above ``maximum``'s."""
        for f in fields(self):
            if getattr(self, f.name) > getattr(maximum, f.name):
                raise LimitAboveMaximum(
                    f"{f.name} {getattr(self, f.name)} is above the maximum {getattr(maximum, f.name)}",
                    field=f.name,
                )
        return self

    def to_wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The operator's maximums (settings may lower them; nothing raises a run above them).
OPERATOR_MAXIMUMS: Final = RunLimits(
    timeout_ms=MAX_TIMEOUT_MS,
    memory_mb=MAX_MEMORY_MB,
    max_output_bytes=MAX_OUTPUT_BYTES,
    max_log_bytes=MAX_LOG_BYTES,
    max_fetches=MAX_FETCHES,
    max_fetch_response_bytes=MAX_FETCH_RESPONSE_BYTES,
)
