"""The deployed NSL contracts of the test chain, and the request → fulfil round trips tests drive."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.deploy import EvmDeployment, contract_at
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.tx import fill_fees, transact
from neo_service_layer.enclave.crypto import dyvrf
from tests.chains.evm.helpers import EnclaveKey, one_event

RANDOMNESS = messages.service_id("randomness")
ORACLE = messages.service_id("oracle")
FUNCTIONS = messages.service_id("functions")


@dataclass(frozen=True)
class Nsl:
    """The deployed contracts and the keys behind them."""

    w3: Web3
    build: ContractBuild
    deployment: EvmDeployment
    owner: LocalAccount
    user: LocalAccount
    enclave: EnclaveKey
    vrf_secret: bytes
    gateway: Contract
    randomness_consumer: Contract
    oracle_consumer: Contract
    functions_consumer: Contract
    feed: Contract
    feed_consumer: Contract
    verifier: Contract

    @property
    def chain_id(self) -> int:
        return int(self.deployment.chain_id)

    def contract(self, name: str, address: str) -> Contract:
        return contract_at(self.w3, self.build[name], address)

    def fee(self, service: bytes, mode: Mode) -> int:
        return int(self.gateway.functions.fee(service, int(mode)).call())

    def price(self, service: bytes, mode: Mode, gas_for_response: int) -> int:
        """What a request pays at most: its fee and the callback's gas at the highest gas price a
        transaction of :func:`transact` offers (2 x base fee + tip; the gateway charges tx.gasprice)."""
        fees = fill_fees(self.w3, {})
        gas_price = int(fees["maxFeePerGas"])
        return int(
            self.gateway.functions.requestPrice(service, int(mode), gas_for_response, gas_price).call()
        )


def stored_request(nsl: Nsl, request_id: bytes) -> tuple[bytes, int, bytes]:
    """``(payloadHash, vrfKeyVersion, vrfKeyHash)`` as the gateway stored them for ``request_id``."""
    stored = nsl.gateway.functions.getRequest(request_id).call()
    version = int(stored[6])
    key_hash = bytes(nsl.gateway.functions.vrfKeyHashes(version).call()) if version else bytes(32)
    return bytes(stored[8]), version, key_hash


def request_randomness(nsl: Nsl, seed: bytes, *, verify: bool, overpay: int = 1) -> tuple[bytes, TxReceipt]:
    """The RandomnessConsumer asks for randomness, paying ``overpay`` times the price; the request id and
    the receipt."""
    mode = Mode.ONCHAIN_VERIFY if verify else Mode.SIGNATURE_ONLY
    fn = nsl.randomness_consumer.functions.requestRandomness(seed, verify)
    gas = int(nsl.randomness_consumer.functions.CALLBACK_GAS().call())
    receipt = transact(nsl.w3, nsl.user, fn, value=overpay * nsl.price(RANDOMNESS, mode, gas))
    event = one_event(nsl.gateway, "ServiceRequested", receipt)
    return bytes(event.args.requestId), receipt


def request_oracle(nsl: Nsl, query: bytes) -> tuple[bytes, TxReceipt]:
    """The OracleConsumer sends ``query``; the request id and the receipt."""
    gas = int(nsl.oracle_consumer.functions.CALLBACK_GAS().call())
    value = nsl.price(ORACLE, Mode.SIGNATURE_ONLY, gas)
    receipt = transact(nsl.w3, nsl.user, nsl.oracle_consumer.functions.requestData(query), value=value)
    event = one_event(nsl.gateway, "ServiceRequested", receipt)
    return bytes(event.args.requestId), receipt


def randomness_result(nsl: Nsl, request_id: bytes, seed: bytes, *, secret: bytes | None = None) -> bytes:
    """What the enclave answers: beta ‖ pi for the alpha the gateway derives from the request."""
    alpha = messages.randomness_alpha(nsl.chain_id, nsl.gateway.address, request_id, seed)
    pi = dyvrf.prove(secret or nsl.vrf_secret, alpha)
    return messages.randomness_result(dyvrf.proof_to_hash(pi), dyvrf.eip2537_g2(pi))


def sign_result(
    nsl: Nsl,
    request_id: bytes,
    result: bytes,
    *,
    key: EnclaveKey | None = None,
    payload_hash: bytes | None = None,
    vrf_key_version: int | None = None,
    vrf_key_hash: bytes | None = None,
) -> bytes:
    """The enclave's signature of a fulfilment: over the request's stored payload hash, pinned VRF key
    version and that version's key hash, unless a test names others."""
    stored_payload, stored_version, stored_key_hash = stored_request(nsl, request_id)
    digest = messages.fulfilment_digest(
        nsl.chain_id,
        nsl.gateway.address,
        request_id,
        result,
        payload_hash=stored_payload if payload_hash is None else payload_hash,
        vrf_key_version=stored_version if vrf_key_version is None else vrf_key_version,
        vrf_key_hash=stored_key_hash if vrf_key_hash is None else vrf_key_hash,
    )
    return (key or nsl.enclave).sign(digest)


def fulfil(nsl: Nsl, request_id: bytes, result: bytes, signature: bytes | None = None) -> TxReceipt:
    """A relayer (the owner account here; anyone may) submits the fulfilment."""
    sig = signature if signature is not None else sign_result(nsl, request_id, result)
    return transact(nsl.w3, nsl.owner, nsl.gateway.functions.fulfill(request_id, result, sig))


def mine(nsl: Nsl, blocks: int) -> None:
    """Mine ``blocks`` empty blocks."""
    nsl.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def reorg(nsl: Nsl, depth: int) -> None:
    """Replace the newest ``depth`` blocks (anvil's reorg support).

    The first replacement block carries a small transfer, so it differs from the block it replaces
    even when both were mined in the same second: empty replacements can hash the same as the
    originals, and then there is no reorg to see.
    """
    # anvil rebuilds the new branch on the state it stored for the fork point. Once, late in a long CI
    # session, a reorg back to the snapshot block (mined at the session's start) left the consumer without
    # code; not reproduced alone or in a probe of 2,000 reverted blocks. Callers keep the fork point a block
    # they mined themselves (``mine``), which never failed.
    marker = {"from": nsl.owner.address, "to": nsl.user.address, "value": hex(1)}
    reply = nsl.w3.provider.make_request("anvil_reorg", [depth, [[marker, 0]]])  # type: ignore[arg-type]
    assert "error" not in reply, reply
