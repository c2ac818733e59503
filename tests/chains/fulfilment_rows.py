"""Reading ``chain_fulfilments`` rows in the fulfiller tests of every chain family."""

from __future__ import annotations

from neo_service_layer.chains.fulfilments import ChainFulfilment
from neo_service_layer.db.session import Database
from tests.worker.helpers import wait_until


async def fulfilment_row(db: Database, chain: str, key: str) -> ChainFulfilment | None:
    async with db.transaction() as session:
        return await session.get(ChainFulfilment, (chain, key))


async def wait_fulfilment(
    db: Database, chain: str, key: str, *statuses: str, within: float
) -> ChainFulfilment:
    """The row once its status is one of ``statuses`` (``wait_until`` fails the test after ``within`` s)."""

    async def reached() -> bool:
        row = await fulfilment_row(db, chain, key)
        return row is not None and row.status in statuses

    await wait_until(reached, within=within)
    row = await fulfilment_row(db, chain, key)
    assert row is not None
    return row
