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
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.enclave.crypto import dyvrf
from tests.chains.evm.helpers import EnclaveKey, one_event

RANDOMNESS = messages.service_id("randomness")
ORACLE = messages.service_id("oracle")


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


def request_randomness(nsl: Nsl, seed: bytes, *, verify: bool) -> tuple[bytes, TxReceipt]:
    """The RandomnessConsumer asks for randomness; the request id and the receipt."""
    mode = Mode.ONCHAIN_VERIFY if verify else Mode.SIGNATURE_ONLY
    fn = nsl.randomness_consumer.functions.requestRandomness(seed, verify)
    receipt = transact(nsl.w3, nsl.user, fn, value=nsl.fee(RANDOMNESS, mode))
    event = one_event(nsl.gateway, "ServiceRequested", receipt)
    return bytes(event.args.requestId), receipt


def randomness_result(nsl: Nsl, request_id: bytes, seed: bytes, *, secret: bytes | None = None) -> bytes:
    """What the enclave answers: beta ‖ pi for the alpha the gateway derives from the request."""
    alpha = messages.randomness_alpha(nsl.chain_id, nsl.gateway.address, request_id, seed)
    pi = dyvrf.prove(secret or nsl.vrf_secret, alpha)
    return messages.randomness_result(dyvrf.proof_to_hash(pi), dyvrf.eip2537_g2(pi))


def sign_result(nsl: Nsl, request_id: bytes, result: bytes, *, key: EnclaveKey | None = None) -> bytes:
    """The enclave's signature of a fulfilment."""
    digest = messages.fulfilment_digest(nsl.chain_id, nsl.gateway.address, request_id, result)
    return (key or nsl.enclave).sign(digest)


def fulfil(nsl: Nsl, request_id: bytes, result: bytes, signature: bytes | None = None) -> TxReceipt:
    """A relayer (the owner account here; anyone may) submits the fulfilment."""
    sig = signature if signature is not None else sign_result(nsl, request_id, result)
    return transact(nsl.w3, nsl.owner, nsl.gateway.functions.fulfill(request_id, result, sig))


def reorg(nsl: Nsl, depth: int) -> None:
    """Replace the newest ``depth`` blocks (anvil's reorg support).

    The first replacement block carries a small transfer, so it differs from the block it replaces
    even when both were mined in the same second: empty replacements can hash the same as the
    originals, and then there is no reorg to see.
    """
    marker = {"from": nsl.owner.address, "to": nsl.user.address, "value": hex(1)}
    reply = nsl.w3.provider.make_request("anvil_reorg", [depth, [[marker, 0]]])  # type: ignore[arg-type]
    assert "error" not in reply, reply
