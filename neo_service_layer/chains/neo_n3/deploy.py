"""Deploy the NSL contracts to a Neo N3 chain with neo-mamba and return their script hashes.

:func:`deploy_nsl` deploys the gateway (admin = the deploying account; ``_deploy`` computes e(G1, G2) on
chain), registers the enclave's secp256r1 key with its attestation measurement, the DY-VRF key if
given, the fees, the price feed contract (``nsl_price_feed``, following the gateway's enclave key and
pause switch) with its pairs, and optionally the example consumers (the requesting ones funded with GAS
for their fees; the price feed consumer reads the feed contract) — all in ONE transaction: contract
hashes are known in advance (sender, NEF checksum, manifest name), so the feed and the consumers are
deployed with the gateway's (or the feed's) hash before it exists on chain. One block instead of a dozen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neo3.api import noderpc
from neo3.api.wrappers import ContractMethodResult, GasToken, GenericContract
from neo3.contracts.utils import get_contract_hash
from neo3.core import types
from neo3.wallet import account

from neo_service_layer.chains.neo_n3.build import N3Artifact, N3Build
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, facade_for
from neo_service_layer.chains.neo_n3.errors import N3TransactionFailed


@dataclass(frozen=True, slots=True)
class N3Fees:
    """Gateway fees in datoshi per mode (1 GAS = 10^8 datoshi)."""

    signature_only: int
    onchain_verify: int


#: Devnet fees: they cover the relayer's fulfilment before the callback (~0.37 GAS signature-only,
#: ~4.5 GAS with on-chain verification; docs/chains-neo-n3.md); requests pay the callback's GAS on top.
DEFAULT_FEES = N3Fees(signature_only=GAS_FACTOR // 2, onchain_verify=5 * GAS_FACTOR)
#: GAS given to each example consumer for its requests (~0.6 GAS each, the callback's GAS included).
DEFAULT_CONSUMER_FUNDING = 300 * GAS_FACTOR
#: Example consumers: deployment name -> contract source stem.
EXAMPLES: Mapping[str, str] = {
    "RandomnessConsumer": "randomness_consumer",
    "OracleConsumer": "oracle_consumer",
    "FunctionsConsumer": "functions_consumer",
    "PriceFeedConsumer": "price_feed_consumer",
}
#: The example that reads the price feed contract (deployed with its hash, needs no GAS); the others
#: request through the gateway (deployed with the gateway's hash, funded for their fees).
FEED_READER = "PriceFeedConsumer"


@dataclass(frozen=True, slots=True)
class N3FeedSpec:
    """One pair of the price feed contract: ``add_feed(pair, decimals, description)``."""

    pair: str
    decimals: int = 8
    description: str = ""

    @property
    def label(self) -> str:
        """The description, or Chainlink's "BASE / QUOTE" form of the pair."""
        return self.description or self.pair.replace("/", " / ")


#: The pairs a deployment creates (issue 15: the four default feeds, 8 decimals).
DEFAULT_FEEDS: tuple[N3FeedSpec, ...] = tuple(
    N3FeedSpec(pair) for pair in ("NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD")
)


@dataclass(frozen=True, slots=True)
class N3Deployment:
    """Script hashes of one deployment."""

    magic: int
    admin: types.UInt160
    gateway: types.UInt160
    examples: Mapping[str, types.UInt160] = field(default_factory=dict)
    #: The price feed contract (``nsl_price_feed``) and its pairs: pair -> decimals.
    price_feed: types.UInt160 | None = None
    feeds: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON / TOML friendly form (hashes as ``0x`` + big-endian hex, as N3 tools show them)."""
        out: dict[str, Any] = {
            "magic": self.magic,
            "admin": f"0x{self.admin}",
            "gateway": f"0x{self.gateway}",
            "examples": {name: f"0x{h}" for name, h in self.examples.items()},
        }
        if self.price_feed is not None:
            out["price_feed"] = f"0x{self.price_feed}"
            out["feeds"] = dict(self.feeds)
        return out


def predicted_hash(sender: types.UInt160, artifact: N3Artifact) -> types.UInt160:
    """The script hash ``artifact`` gets when ``sender`` deploys it (ContractManagement's rule)."""
    return get_contract_hash(sender, artifact.nef().checksum, artifact.manifest().name)


def deploy_call(artifact: N3Artifact, data: types.UInt160 | None = None) -> ContractMethodResult[Any]:
    """A ``ContractManagement.deploy`` call for ``artifact`` with ``_deploy`` data."""
    return GenericContract.deploy(artifact.nef(), artifact.manifest(), data)


async def deploy_nsl(
    rpc_url: str,
    admin: account.Account,
    build: N3Build,
    *,
    enclave_public_key: bytes,
    measurement: bytes,
    vrf_public_key: bytes | None = None,
    vrf_key_version: int = 1,
    fees: N3Fees = DEFAULT_FEES,
    feeds: Sequence[N3FeedSpec] = DEFAULT_FEEDS,
    examples: bool = True,
    consumer_funding: int = DEFAULT_CONSUMER_FUNDING,
    config_hashes: Mapping[str, bytes] | None = None,
) -> N3Deployment:
    """Deploy and configure the NSL contracts from ``admin`` (a funded single-signature account).

    ``enclave_public_key``: the enclave's compressed secp256r1 key (33 bytes); ``measurement``: its
    attestation measurement; ``vrf_public_key``: the DY-VRF key (compressed G1, 48 bytes), registered as
    version ``vrf_key_version``; ``feeds``: the pairs the price feed contract starts with (``admin``
    owns it and may add more with ``add_feed``); ``config_hashes`` (pair -> 32 bytes, ``nsl feeds
    config-hash``) registers the hash of a pair's rules when it is known (``set_config_hash``): a pair
    without one takes no report until its owner sets it.
    """
    gateway_hash = predicted_hash(admin.script_hash, build["nsl_gateway"])
    gateway = GenericContract(gateway_hash)
    calls: list[ContractMethodResult[Any]] = [
        deploy_call(build["nsl_gateway"]),
        gateway.call_function("set_enclave_key", [enclave_public_key, measurement]),
        gateway.call_function("set_fees", [fees.signature_only, fees.onchain_verify]),
    ]
    if vrf_public_key is not None:
        calls.append(gateway.call_function("set_vrf_key", [vrf_key_version, vrf_public_key]))
    # After the gateway: the feed reads its enclave key and pause switch.
    feed_hash = predicted_hash(admin.script_hash, build["nsl_price_feed"])
    feed = GenericContract(feed_hash)
    calls.append(deploy_call(build["nsl_price_feed"], gateway_hash))
    calls.extend(feed.call_function("add_feed", [f.pair, f.decimals, f.label]) for f in feeds)
    calls.extend(feed.call_function("set_config_hash", [p, h]) for p, h in (config_hashes or {}).items())
    consumers: dict[str, types.UInt160] = {}
    if examples:
        gas = GasToken()  # type: ignore[no-untyped-call]
        for name, stem in EXAMPLES.items():
            consumers[name] = predicted_hash(admin.script_hash, build[stem])
            calls.append(deploy_call(build[stem], feed_hash if name == FEED_READER else gateway_hash))
            if consumer_funding > 0 and name != FEED_READER:
                calls.append(gas.transfer(admin.script_hash, consumers[name], consumer_funding))
    facade = facade_for(rpc_url, admin)
    receipt = await facade.invoke_multi(calls)
    if str(receipt.state) != "HALT":  # annotated VMState, delivered as the RPC's string
        raise N3TransactionFailed(f"deployment FAULTed: {receipt.exception}")
    async with noderpc.NeoRpcClient(rpc_url) as client:
        version = await client.get_version()
    return N3Deployment(
        magic=version.protocol.network,
        admin=admin.script_hash,
        gateway=gateway_hash,
        examples=consumers,
        price_feed=feed_hash,
        feeds={f.pair: f.decimals for f in feeds},
    )
