"""The function ``nsl devnet demo functions`` calls: deployed once in the platform's system account of the
running devnet (through the functions service, its source checked by the enclave as a REST deploy is),
with the chain's example FunctionsConsumer added to its ``onchain_consumers`` (docs/functions.md §11).

The demo talks to the database and the enclave of ``nsl serve`` directly — the devnet's operator owns
both — so it needs no API key; a real deployment deploys over ``POST /v1/functions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.demo.errors import DevnetNotUp
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.accounts.service import system_account
from neo_service_layer.services.functions import service
from neo_service_layer.services.functions.models import Function
from neo_service_layer.services.functions.runner import syntax_check

DEMO_FUNCTION_NAME: Final = "devnet-demo"
#: Adds ``args.a`` and ``args.b``; what it returns is what the consumer's callback gets (JSON text).
DEMO_SOURCE: Final = 'console.log("called from a contract"); return {sum: args.a + args.b};'
DEFAULT_ARGS: Final = '{"a": 2, "b": 40}'


@dataclass(frozen=True, slots=True)
class DemoFunction:
    """The deployed demo function: what a consumer names and pins."""

    function_id: str
    version: int
    source_sha256: str  # hex


async def demo_function(settings: Settings, consumer: str) -> DemoFunction:
    """The demo function (deployed if missing) with ``consumer`` (a ``consumer_key``) allowed.

    :class:`DevnetNotUp` when the platform has not bootstrapped its system account (``nsl serve`` never
    started on this data directory)."""
    db = Database(settings.effective_database_url)
    enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
    try:
        async with db.transaction() as session:
            system = await system_account(session)
        if system is None:
            raise DevnetNotUp("the platform has not started on this devnet yet (nsl serve)")
        check = syntax_check(enclave)
        async with db.transaction(system.id) as session:
            named = select(Function).where(Function.live_name == DEMO_FUNCTION_NAME)
            function = (await session.execute(named)).scalar_one_or_none()
            if function is None:
                spec = service.FunctionSpec(
                    name=DEMO_FUNCTION_NAME, source=DEMO_SOURCE, onchain_consumers=[consumer]
                )
                function, _ = await service.deploy(session, system.id, spec, check)
            elif consumer not in function.onchain_consumers:
                allowed = [*function.onchain_consumers, consumer]
                await service.update(
                    session, function, service.FunctionSpec(onchain_consumers=allowed), check
                )
            version = await service.get_version(session, function.id, function.version)
            return DemoFunction(function.id, version.version, version.source_sha256)
    finally:
        await enclave.close()
        await db.dispose()
