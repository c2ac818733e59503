"""The session's local chains, shared by the tests of each chain family and by those that use both
(tests/chains/test_price_feed_both_chains.py): ONE anvil (Prague) with the EVM contracts deployed once,
and ONE neo-go node (blocks every ``BLOCK_TIME_MS``) with the N3 contracts compiled once. Each family's
own fixtures (tests/chains/evm/conftest.py, tests/chains/neo_n3/conftest.py) build on these.

The EVM enclave is stood in for by a secp256k1 key made here (:class:`EnclaveKey`) and a DY-VRF secret
from ``dyvrf.generate_secret``; ``evm_platform`` and ``n3_platform`` register the real enclave's keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.build import build_contracts as build_evm_contracts
from neo_service_layer.chains.evm.deploy import contract_at, deploy_nsl
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.neo_n3.build import N3Build
from neo_service_layer.chains.neo_n3.build import build_contracts as build_n3_contracts
from neo_service_layer.chains.neo_n3.devnet import N3Devnet
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.server import EnclaveServer
from tests.chains.evm.feed_helpers import TEST_CONFIG_HASH
from tests.chains.evm.flows import Nsl
from tests.chains.evm.fulfil_helpers import Platform, wire_platform
from tests.chains.evm.helpers import MEASUREMENT, EnclaveKey
from tests.chains.neo_n3.platform import BLOCK_TIME_MS, N3Platform, wire_n3_platform


@pytest.fixture(scope="session")
def evm_build() -> ContractBuild:
    return build_evm_contracts()


@pytest.fixture(scope="session")
def devnet() -> Iterator[EvmDevnet]:
    with EvmDevnet() as chain:
        yield chain


@pytest.fixture(scope="session")
def _deployed(devnet: EvmDevnet, evm_build: ContractBuild) -> Nsl:
    w3 = devnet.web3()
    owner, user = devnet.accounts[0].signer, devnet.accounts[1].signer
    enclave = EnclaveKey()
    vrf_secret = dyvrf.generate_secret()
    dep = deploy_nsl(
        w3,
        owner,
        evm_build,
        enclave_signer=enclave.address,
        measurement=MEASUREMENT,
        vrf_public_key=dyvrf.eip2537_g1(dyvrf.public_key(vrf_secret)),
        config_hashes={"NEO / USD": TEST_CONFIG_HASH},  # GAS / USD has none: it takes no report
    )
    feed = dep.price_feeds["NEO / USD"]
    return Nsl(
        w3=w3,
        build=evm_build,
        deployment=dep,
        owner=owner,
        user=user,
        enclave=enclave,
        vrf_secret=vrf_secret,
        gateway=contract_at(w3, evm_build["NSLGateway"], dep.gateway),
        randomness_consumer=contract_at(
            w3, evm_build["RandomnessConsumer"], dep.examples["RandomnessConsumer"]
        ),
        oracle_consumer=contract_at(w3, evm_build["OracleConsumer"], dep.examples["OracleConsumer"]),
        functions_consumer=contract_at(w3, evm_build["FunctionsConsumer"], dep.examples["FunctionsConsumer"]),
        feed=contract_at(w3, evm_build["NSLPriceFeed"], feed),
        feed_consumer=contract_at(
            w3, evm_build["PriceFeedConsumer"], dep.examples["PriceFeedConsumer NEO / USD"]
        ),
        verifier=contract_at(w3, evm_build["DYVRFVerifier"], dep.verifier),
    )


@pytest.fixture
def evm_nsl(_deployed: Nsl) -> Iterator[Nsl]:
    """The EVM deployment, reset after the test with anvil's evm_snapshot / evm_revert."""
    provider = _deployed.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield _deployed
    reverted = provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
    assert reverted is True


@pytest.fixture
async def evm_platform(
    evm_nsl: Nsl, db: Database, enclave_server: EnclaveServer, enclave_socket: Path
) -> AsyncIterator[Platform]:
    """The EVM test gateway registered with a real (in-process) enclave's keys and a real database."""
    async for wired in wire_platform(evm_nsl, db, enclave_socket):
        yield wired


@pytest.fixture(scope="session")
def n3_build() -> N3Build:
    return build_n3_contracts()


@pytest.fixture(scope="session")
def n3_devnet() -> Iterator[N3Devnet]:
    with N3Devnet(block_time_ms=BLOCK_TIME_MS) as chain:
        yield chain


@pytest.fixture
async def n3_platform(
    n3_devnet: N3Devnet, n3_build: N3Build, db: Database, enclave_server: EnclaveServer, enclave_socket: Path
) -> AsyncIterator[N3Platform]:
    """A fresh N3 gateway (and price feed) registered with a real (in-process) enclave's keys and a real
    database."""
    async for wired in wire_n3_platform(n3_devnet, n3_build, db, enclave_socket):
        yield wired
