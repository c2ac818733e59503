"""Fixtures on a real local chain: one anvil (Prague) for the session, the contracts compiled and
deployed once, and an EVM snapshot reverted after every test so each starts from the same state.

The enclave is stood in for by a secp256k1 key made here (:class:`EnclaveKey`) and a DY-VRF secret
from ``dyvrf.generate_secret``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from neo_service_layer.chains.evm.build import ContractBuild, build_contracts
from neo_service_layer.chains.evm.deploy import contract_at, deploy_nsl
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.server import EnclaveServer
from tests.chains.evm.feed_helpers import TEST_CONFIG_HASH, Feed, trust_test_signer
from tests.chains.evm.flows import Nsl
from tests.chains.evm.fulfil_helpers import Platform, wire_platform
from tests.chains.evm.helpers import EnclaveKey

MEASUREMENT = bytes.fromhex("6d" * 32)


@pytest.fixture(scope="session")
def evm_build() -> ContractBuild:
    return build_contracts()


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
        feed=contract_at(w3, evm_build["NSLPriceFeed"], feed),
        feed_consumer=contract_at(
            w3, evm_build["PriceFeedConsumer"], dep.examples["PriceFeedConsumer NEO / USD"]
        ),
        verifier=contract_at(w3, evm_build["DYVRFVerifier"], dep.verifier),
    )


@pytest.fixture
def nsl(_deployed: Nsl) -> Iterator[Nsl]:
    """The deployment, reset after the test with anvil's evm_snapshot / evm_revert."""
    provider = _deployed.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield _deployed
    reverted = provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
    assert reverted is True


@pytest.fixture
async def platform(
    nsl: Nsl, db: Database, enclave_server: EnclaveServer, enclave_socket: Path
) -> AsyncIterator[Platform]:
    """The test gateway registered with a real (in-process) enclave's keys and a real database."""
    async for wired in wire_platform(nsl, db, enclave_socket):
        yield wired


@pytest.fixture
def feed(platform: Platform) -> Feed:
    """The platform publishing to the NEO / USD ``NSLPriceFeed``, the gateway trusting ``nsl.enclave`` for
    price reports (``Feed.report`` signs with it)."""
    return trust_test_signer(platform)
