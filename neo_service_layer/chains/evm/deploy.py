"""Deploy the NSL contracts to an EVM chain with web3.py and return their addresses.

:func:`deploy_nsl` deploys the gateway (owned by the deploying account), registers the enclave's
secp256k1 signer with its attestation measurement, the DY-VRF public key if given (needs Prague), the
service fees, one :class:`FeedSpec` price feed each, and optionally the example consumers. The result,
:class:`EvmDeployment`, is what ``nsl devnet`` writes to the NSL config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from neo_service_layer.chains.evm.build import ContractArtifact, ContractBuild
from neo_service_layer.chains.evm.errors import EvmTransactionFailed
from neo_service_layer.chains.evm.messages import Mode, service_id
from neo_service_layer.chains.evm.tx import send_transaction, transact

#: Devnet fees in wei per (service, mode), before the callback's gas (which requests pay on top at their
#: own gas price). They cover the fulfilment's own gas (~85k; ~230k with on-chain verification) at up
#: to ~1 gwei.
DEFAULT_FEES: Mapping[tuple[str, Mode], int] = {
    ("randomness", Mode.SIGNATURE_ONLY): 10**14,
    ("randomness", Mode.ONCHAIN_VERIFY): 3 * 10**14,
    ("oracle", Mode.SIGNATURE_ONLY): 10**14,
    ("functions", Mode.SIGNATURE_ONLY): 10**14,
}


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One price feed: its AggregatorV3Interface description (the pair) and decimals."""

    description: str
    decimals: int = 8


#: The shipped default feeds' pairs (services/pricefeed/default_feeds.py), 8 decimals each.
DEFAULT_FEEDS: tuple[FeedSpec, ...] = (
    FeedSpec("NEO / USD"),
    FeedSpec("GAS / USD"),
    FeedSpec("BTC / USD"),
    FeedSpec("ETH / USD"),
)


@dataclass(frozen=True, slots=True)
class EvmDeployment:
    """Addresses of one deployment (EIP-55 checksummed)."""

    chain_id: int
    owner: str
    gateway: str
    verifier: str
    price_feeds: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON / TOML friendly form for the NSL config."""
        return {
            "chain_id": self.chain_id,
            "owner": self.owner,
            "gateway": self.gateway,
            "verifier": self.verifier,
            "price_feeds": dict(self.price_feeds),
            "examples": dict(self.examples),
        }


def contract_at(w3: Web3, artifact: ContractArtifact, address: str) -> Contract:
    """A web3 contract object for a deployed artifact."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)


def deploy_contract(w3: Web3, account: LocalAccount, artifact: ContractArtifact, *args: Any) -> str:
    """Deploy ``artifact`` with constructor ``args``; its address (:class:`EvmTransactionFailed` if not)."""
    if not artifact.bytecode:
        raise EvmTransactionFailed(f"{artifact.name} is abstract or an interface: nothing to deploy")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    try:
        tx = factory.constructor(*args).build_transaction({"from": account.address})
    except (ValueError, TypeError) as e:
        raise EvmTransactionFailed(f"{artifact.name} constructor would fail: {e}") from e
    receipt = send_transaction(w3, account, tx)
    address = receipt.get("contractAddress")
    if not address:
        raise EvmTransactionFailed(f"{artifact.name} deployment created no contract")
    return Web3.to_checksum_address(address)


def deploy_nsl(
    w3: Web3,
    account: LocalAccount,
    build: ContractBuild,
    *,
    enclave_signer: str,
    measurement: bytes,
    vrf_public_key: bytes | None = None,
    vrf_key_version: int = 1,
    fees: Mapping[tuple[str, Mode], int] = DEFAULT_FEES,
    feeds: Sequence[FeedSpec] = DEFAULT_FEEDS,
    examples: bool = True,
    config_hashes: Mapping[str, bytes] | None = None,
) -> EvmDeployment:
    """Deploy and configure the NSL contracts from ``account`` (which becomes the gateway owner).

    ``measurement`` is the enclave's 32-byte attestation measurement; ``vrf_public_key`` the DY-VRF key
    as an EIP-2537 G1 point (``dyvrf.eip2537_g1``), registered as version ``vrf_key_version`` only when
    given. ``config_hashes`` (feed description -> 32 bytes, ``nsl feeds config-hash``) registers the
    hash of a feed's rules when it is known; a feed without one takes no report until its owner sets it
    (``setConfigHash``).
    """
    gateway_address = deploy_contract(w3, account, build["NSLGateway"], enclave_signer, measurement)
    gateway = contract_at(w3, build["NSLGateway"], gateway_address)
    if vrf_public_key is not None:
        transact(w3, account, gateway.functions.setVrfPublicKey(vrf_key_version, vrf_public_key))
    for (service, mode), amount in fees.items():
        transact(w3, account, gateway.functions.setFee(service_id(service), int(mode), amount, True))
    verifier = deploy_contract(w3, account, build["DYVRFVerifier"])
    price_feeds = {
        spec.description: deploy_contract(
            w3, account, build["NSLPriceFeed"], gateway_address, spec.decimals, spec.description
        )
        for spec in feeds
    }
    for description, config_hash in (config_hashes or {}).items():
        feed_contract = contract_at(w3, build["NSLPriceFeed"], price_feeds[description])
        transact(w3, account, feed_contract.functions.setConfigHash(config_hash))
    consumers: dict[str, str] = {}
    if examples:
        consumers["RandomnessConsumer"] = deploy_contract(
            w3, account, build["RandomnessConsumer"], gateway_address
        )
        consumers["OracleConsumer"] = deploy_contract(w3, account, build["OracleConsumer"], gateway_address)
        consumers["FunctionsConsumer"] = deploy_contract(
            w3, account, build["FunctionsConsumer"], gateway_address
        )
        for description, feed in price_feeds.items():
            consumers[f"PriceFeedConsumer {description}"] = deploy_contract(
                w3, account, build["PriceFeedConsumer"], feed
            )
    return EvmDeployment(
        chain_id=w3.eth.chain_id,
        owner=account.address,
        gateway=gateway_address,
        verifier=verifier,
        price_feeds=price_feeds,
        examples=consumers,
    )
