"""The N3 fulfiller's policy comes from the ``settings.n3.fulfil_*`` settings (``NSL_N3_FULFIL_*``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from neo_service_layer.chains.neo_n3.fulfiller import N3FulfilPolicy
from neo_service_layer.config import Settings
from neo_service_layer.worker.chain_fulfil_n3 import n3_fulfil_policy


def test_the_environment_reaches_the_fulfil_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSL_N3_FULFIL_VALID_BLOCKS", "7")
    monkeypatch.setenv("NSL_N3_FULFIL_MAX_RESENDS", "0")
    monkeypatch.setenv("NSL_N3_FULFIL_POLL_SECONDS", "0.05")
    monkeypatch.setenv("NSL_N3_FULFIL_TIMEOUT_SECONDS", "42")
    policy = n3_fulfil_policy(Settings())
    assert policy == N3FulfilPolicy(valid_blocks=7, max_resends=0, poll_seconds=0.05, timeout_seconds=42.0)


def test_the_default_settings_give_the_fulfillers_default_policy() -> None:
    assert n3_fulfil_policy(Settings()) == N3FulfilPolicy()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fulfil_valid_blocks", 0),
        ("fulfil_valid_blocks", 5761),  # above MainNet's MaxValidUntilBlockIncrement
        ("fulfil_max_resends", -1),
        ("fulfil_poll_seconds", 0),
        ("fulfil_timeout_seconds", 0),
    ],
    ids=["valid-blocks-zero", "valid-blocks-above-max", "resends-negative", "poll-zero", "timeout-zero"],
)
def test_out_of_range_fulfil_settings_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=rf"n3\.{field}\n  Input should be"):
        Settings.model_validate({"n3": {field: value}})
