"""Helpers for the Neo N3 chain tests: the deployed platform, an enclave-like signer, raw test invocations.

FAULT checks use a raw ``invokescript`` (httpx) rather than neo-mamba's ``test_invoke``: neo-mamba 3.3
raises ``ValueError`` when a FAULT leaves a BLS12-381 interop item on the stack, and the raw reply
carries the VM's exception text the tests assert on.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from neo3.api.noderpc import Notification
from neo3.api.wrappers import ContractMethodResult, GenericContract
from neo3.core import types
from neo3.wallet import account

from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.chains.neo_n3.build import N3Build
from neo_service_layer.chains.neo_n3.deploy import N3Deployment
from neo_service_layer.chains.neo_n3.devnet import N3Devnet, facade_for
from neo_service_layer.enclave.crypto import dyvrf, keys, n3_gateway, signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat

#: The rules' hash the session deployments register for NEO/USD (``deploy_nsl(config_hashes=...)``);
#: the price feed tests register it for their own pairs too.
TEST_CONFIG_HASH = hashlib.sha256(b"NEO/USD test rules").digest()


class EnclaveKey:
    """A secp256r1 key standing in for the enclave's: raw r ‖ s ECDSA over SHA-256 of the message."""

    def __init__(self) -> None:
        self._material = keys.generate(KeyType.SECP256R1)
        self.public_key = keys.public_key(KeyType.SECP256R1, self._material)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature CryptoLib.verifyWithECDsa(secp256r1SHA256) accepts for ``message``."""
        return signing.sign(
            KeyType.SECP256R1, self._material, message, hash_alg=HashAlgorithm.SHA256, fmt=SignatureFormat.RAW
        )


@dataclass(frozen=True)
class Nsl:
    """The session's chain, contracts and keys."""

    devnet: N3Devnet
    build: N3Build
    deployment: N3Deployment
    admin: account.Account
    relayer: account.Account
    stranger: account.Account
    enclave: EnclaveKey
    vrf_secret: bytes
    measurement: bytes

    @property
    def rpc_url(self) -> str:
        return self.devnet.rpc_url

    @property
    def gateway(self) -> GenericContract:
        return GenericContract(self.deployment.gateway)

    def consumer(self, name: str) -> GenericContract:
        return GenericContract(self.deployment.examples[name])

    @property
    def price_feed(self) -> GenericContract:
        assert self.deployment.price_feed is not None
        return GenericContract(self.deployment.price_feed)

    @property
    def gateway_le(self) -> bytes:
        """The gateway hash as the 20 bytes the contract concatenates (UInt160 serialized, little-endian)."""
        return bytes(self.deployment.gateway.to_array())

    def alpha(self, request_id: int, payload: bytes) -> bytes:
        return messages.randomness_alpha(self.deployment.magic, self.gateway_le, request_id, payload)

    def randomness_result(self, request_id: int, payload: bytes, secret: bytes | None = None) -> bytes:
        alpha = self.alpha(request_id, payload)
        return messages.randomness_result(dyvrf.prove(secret or self.vrf_secret, alpha), alpha)

    def stored(self, request_id: int) -> tuple[bytes, int, bytes]:
        """``(SHA-256(payload), vrf key version, SHA-256(vrf key))`` the gateway stored with a pending
        request (zeros for an unknown or fulfilled one: its fulfilment FAULTs before the signature)."""
        reply = test_invoke(
            self.rpc_url, self.gateway.call_function("get_request", [request_id]), self.stranger
        )
        record = reply.stack[0].get("value") or []
        if not record:
            return bytes(32), 0, bytes(32)
        version = int.from_bytes(stack_bytes(record[8]), "little")
        keys = test_invoke(
            self.rpc_url, self.gateway.call_function("get_vrf_key_of", [version]), self.stranger
        )
        key = stack_bytes(keys.stack[0])
        return stack_bytes(record[2]), version, n3_gateway.vrf_key_hash(key) if key else bytes(32)

    def sign(
        self,
        request_id: int,
        result: bytes,
        key: EnclaveKey | None = None,
        **fields: Any,
    ) -> bytes:
        """The enclave's signature of a fulfilment: over the request's stored payload hash, pinned VRF key
        version and that version's key hash, unless a test names others in ``fields``."""
        payload_hash, version, key_hash = self.stored(request_id)
        stored: dict[str, Any] = {
            "payload_hash": payload_hash,
            "vrf_key_version": version,
            "vrf_key_hash": key_hash,
        }
        message = messages.fulfilment_message(
            self.deployment.magic, self.gateway_le, request_id, result=result, **(stored | fields)
        )
        return (key or self.enclave).sign(message)

    def fulfil_call(
        self, request_id: int, result: bytes, signature: bytes | None = None
    ) -> ContractMethodResult[Any]:
        sig = self.sign(request_id, result) if signature is None else signature
        return self.gateway.call_function("fulfill", [request_id, result, sig])


@dataclass(frozen=True)
class RawResult:
    """An ``invokescript`` reply: VM state, exception text, GAS consumed (datoshi), raw stack."""

    state: str
    exception: str | None
    gas_consumed: int
    stack: list[dict[str, Any]]

    def assert_fault(self, reason: str) -> None:
        assert self.state == "FAULT", f"expected FAULT ({reason}), got {self.state}"
        assert reason in (self.exception or ""), self.exception


def test_invoke(
    rpc_url: str,
    calls: ContractMethodResult[Any] | Sequence[ContractMethodResult[Any]],
    signer: account.Account,
) -> RawResult:
    """Run ``calls`` read-only on the node's current state, with ``signer``'s called-by-entry witness."""
    script = b"".join(c.script for c in (calls if isinstance(calls, Sequence) else [calls]))
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "invokescript",
        "params": [
            base64.b64encode(script).decode(),
            [{"account": f"0x{signer.script_hash}", "scopes": "CalledByEntry"}],
        ],
    }
    reply = httpx.post(rpc_url, json=body, timeout=30.0).json()["result"]
    return RawResult(reply["state"], reply.get("exception"), int(reply["gasconsumed"]), reply["stack"])


test_invoke.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def stack_bytes(item: dict[str, Any]) -> bytes:
    """A ByteString / Buffer stack item's bytes (empty for Null / Any)."""
    if item["type"] in ("Any", "Null") or "value" not in item:
        return b""
    return base64.b64decode(item["value"])


def stack_int(item: dict[str, Any]) -> int:
    """An Integer stack item (or Boolean) as int."""
    value = item["value"]
    return int(value)


async def send(
    nsl: Nsl, calls: Sequence[ContractMethodResult[Any]], signer: account.Account
) -> tuple[str, int, list[Notification], str | None]:
    """Send ``calls`` in one transaction signed by ``signer``: (state, GAS used, notifications, exception)."""
    receipt = await facade_for(nsl.rpc_url, signer).invoke_multi(list(calls))
    # neo-mamba annotates state as VMState but hands over the RPC's string ("HALT" / "FAULT").
    return str(receipt.state), receipt.gas_consumed, list(receipt.notifications), receipt.exception


def events(notifications: Sequence[Notification], name: str, contract: types.UInt160) -> list[list[Any]]:
    """The state (list of Python values) of each ``name`` notification emitted by ``contract``."""
    out: list[list[Any]] = []
    for n in notifications:
        if n.event_name == name and n.contract == contract:
            out.append([item.value for item in n.state.value])
    return out


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one bit of byte ``index`` flipped."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
