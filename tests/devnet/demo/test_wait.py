"""``devnet.demo.wait``: the chain decides, the fulfiller's row explains (real database, both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.demo.errors import DemoFulfilmentFailed, DemoNoFulfilment
from neo_service_layer.devnet.demo.wait import platform_row, wait_for
from tests.settings_helpers import settings_with

CHAIN, KEY = "evm:31337", "ab" * 32
FAST = {"interval": 0.01, "explain_every": 0.02}


@dataclass
class Poll:
    """Finds the fulfilment at the ``on``-th poll (never if None)."""

    on: int | None
    calls: int = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        return "fulfilled" if self.on is not None and self.calls >= self.on else None


async def test_returns_what_the_chain_shows(settings: Settings) -> None:
    poll = Poll(on=3)
    assert await wait_for(poll, settings, CHAIN, KEY, within=5, **FAST) == "fulfilled"
    assert poll.calls == 3


async def test_a_failed_row_ends_the_wait_at_once(settings: Settings, db: Database) -> None:
    store = FulfilmentStore(db, CHAIN)
    await store.ensure(KEY, "oracle", 0)
    await store.finish(
        KEY, FulfilmentStatus.FAILED, reason="service_not_supported_yet", failure_detail="not offered"
    )
    poll = Poll(on=None)
    with pytest.raises(DemoFulfilmentFailed) as caught:
        await wait_for(poll, settings, CHAIN, KEY, within=30, **FAST)
    assert caught.value.detail == "nsl serve gave up on the request: service_not_supported_yet: not offered"
    assert poll.calls < 100  # well before the 30 s timeout


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(
            None, "no fulfilment after 0 s: is `nsl serve` running (on this data directory)?", id="unseen"
        ),
        pytest.param(
            "pending",
            "no fulfilment after 0 s; nsl serve saw the request and its fulfilment is pending "
            "(tx not sent yet): try again with a longer --timeout",
            id="seen-not-sent",
        ),
        pytest.param(
            "sent",
            "no fulfilment after 0 s; nsl serve saw the request and its fulfilment is sent "
            "(tx 0xfeed): try again with a longer --timeout",
            id="sent",
        ),
    ],
)
async def test_the_timeout_says_what_the_platform_did(
    settings: Settings, db: Database, row: str | None, message: str
) -> None:
    store = FulfilmentStore(db, CHAIN)
    if row is not None:
        await store.ensure(KEY, "randomness", 1)
    if row == "sent":
        await store.update(KEY, status=FulfilmentStatus.SENT, tx_hash="0xfeed")
    with pytest.raises(DemoNoFulfilment) as caught:
        await wait_for(Poll(on=None), settings, CHAIN, KEY, within=0.1, **FAST)
    assert caught.value.detail == message


async def test_an_unreadable_database_only_loses_the_explanation(tmp_path: Path, settings: Settings) -> None:
    """A database nsl serve never migrated (no ``chain_fulfilments`` table)."""
    (tmp_path / "empty.db").touch()
    broken = settings_with(settings, database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert await platform_row(broken, CHAIN, KEY) is None
    with pytest.raises(DemoNoFulfilment, match="is `nsl serve` running"):
        await wait_for(Poll(on=None), broken, CHAIN, KEY, within=0.1, **FAST)
