"""Helpers for the EVM chain tests: an enclave-like signer, revert assertions, event decoding."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, cast

import coincurve
import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt, Wei

from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.errors import EvmTransactionFailed
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.enclave.crypto.keys import SECP256K1_ORDER

#: Gas for transactions that are expected to revert (no estimate: estimation would fail first).
REVERT_TX_GAS = 1_500_000
#: The enclave measurement the session deployment registers (tests/chains/conftest.py).
MEASUREMENT = bytes.fromhex("6d" * 32)


class EnclaveKey:
    """A secp256k1 key standing in for the enclave's: signs 32-byte digests as r ‖ s ‖ v (v 27/28, low s)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._key = coincurve.PrivateKey(secret or secrets.token_bytes(32))
        uncompressed = self._key.public_key.format(compressed=False)
        self.address = Web3.to_checksum_address(keccak(uncompressed[1:])[-20:])

    def sign(self, digest: bytes) -> bytes:
        """The 65-byte signature of ``digest`` itself (no hashing, no EIP-191 prefix)."""
        rsv = self._key.sign_recoverable(digest, hasher=None)  # libsecp256k1: RFC 6979, low s
        return rsv[:64] + bytes([rsv[64] + 27])


def high_s(signature: bytes) -> bytes:
    """The malleated twin (r, n - s, the other v) of a signature: valid for the same key, but high s."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([27 + 28 - signature[64]])


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one bit of byte ``index`` flipped."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def error_selectors(build: ContractBuild) -> dict[bytes, str]:
    """4-byte selector → custom error name over every compiled contract."""
    out: dict[bytes, str] = {}
    for artifact in build.artifacts.values():
        for item in artifact.abi:
            if item.get("type") == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                out[keccak(text=sig)[:4]] = item["name"]
    return out


def revert_name(
    build: ContractBuild, fn: ContractFunction, sender: str, value: int = 0, *, gas_price: int | None = None
) -> str:
    """The custom error name ``fn`` reverts with when called from ``sender`` (fails if it does not revert);
    ``gas_price`` sets ``tx.gasprice`` in the call (0 otherwise)."""
    params: dict[str, Any] = {"from": Web3.to_checksum_address(sender), "value": Wei(value)}
    if gas_price is not None:
        params["gasPrice"] = Wei(gas_price)
    try:
        fn.call(cast(TxParams, params))
    except ContractCustomError as e:
        data = bytes.fromhex(str(e.data).removeprefix("0x"))
        return error_selectors(build).get(data[:4], data[:4].hex())
    pytest.fail(f"{fn.fn_name} did not revert")


def assert_reverts(
    w3: Web3, build: ContractBuild, account: LocalAccount, fn: ContractFunction, error: str, *, value: int = 0
) -> None:
    """``fn`` reverts with custom ``error`` in eth_call, and a real transaction of it gets status 0."""
    name = revert_name(build, fn, account.address, value)
    assert name == error, f"{fn.fn_name} reverted with {name}, not {error}"
    with pytest.raises(EvmTransactionFailed, match="reverted"):
        transact(w3, account, fn, value=value, gas=REVERT_TX_GAS)


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[Any]:
    """The ``name`` events ``contract`` emitted in ``receipt``."""
    return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))  # other events: skipped


def one_event(contract: Contract, name: str, receipt: TxReceipt) -> Any:
    """The single ``name`` event of ``receipt``."""
    found = events(contract, name, receipt)
    assert len(found) == 1, found
    return found[0]


def ids(cases: Iterable[tuple[str, Any]]) -> list[str]:
    """The ids of a table of ``(id, ...)`` cases."""
    return [c[0] for c in cases]
