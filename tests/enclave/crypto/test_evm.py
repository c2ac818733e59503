"""EVM: addresses, EIP-155 / EIP-1559 transactions, EIP-191 and EIP-712 signatures; published vectors
(EIP-155 example, EIP-712 example, eth-account's documented EIP-191 example) and eth-account recovery."""

from __future__ import annotations

from typing import Any

import pytest
import rlp  # type: ignore[import-untyped]  # eth-rlp's dependency, untyped
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto import evm, keys, signing
from neo_service_layer.enclave.crypto.errors import InvalidInput, InvalidKeyMaterial, UnsupportedOperation
from neo_service_layer.enclave.crypto.hashing import keccak256
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from tests.enclave.crypto.vectors import load_testdata

K1 = KeyType.SECP256K1
VECTORS = load_testdata("evm_vectors.json")
NEO_X_CHAIN_ID = 47763  # Neo X MainNet


def _eip1559_tx(**overrides: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "type": 2,
        "nonce": 3,
        "maxFeePerGas": 40_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "gas": 60_000,
        "to": "0x" + "35" * 20,
        "value": 12345,
        "data": b"\xa9\x05\x9c\xbb",
        "chainId": NEO_X_CHAIN_ID,
        "accessList": [],
    }
    tx.update(overrides)
    return tx


@pytest.mark.parametrize(
    "seed", [b"\x01" * 32, b"\x46" * 32, keccak256(b"cow")], ids=["ones", "eip155", "cow"]
)
def test_address_matches_eth_account(seed: bytes) -> None:
    public = keys.public_key(K1, seed)
    expected = Account.from_key(seed).address
    assert evm.address(public) == expected
    assert evm.address(keys.uncompressed_public_key(K1, public)) == expected


def test_address_is_eip55_checksummed() -> None:
    address = evm.address(keys.public_key(K1, keccak256(b"cow")))
    assert address == VECTORS["eip712"]["address"]  # EIP-712 example: keccak256("cow") -> 0xCD2a…D826
    assert address != address.lower()
    with pytest.raises(InvalidKeyMaterial):
        evm.address(b"\x02" * 10)


def test_eip155_example_byte_for_byte() -> None:
    """EIP-155 'Example': RFC 6979 makes the signed transaction reproducible."""
    vector = VECTORS["eip155"]
    material = bytes.fromhex(vector["private_key"])
    tx = dict(vector["tx"])
    signed = evm.sign_transaction(material, tx)
    assert signed.raw_transaction.hex() == vector["signed_tx"]
    assert signed.tx_hash == keccak256(signed.raw_transaction)
    assert Account.recover_transaction(signed.raw_transaction) == evm.address(keys.public_key(K1, material))
    assert tx == vector["tx"]  # the caller's dict is not modified


def test_eip1559_transaction() -> None:
    material = keys.generate(K1)
    signed = evm.sign_transaction(material, _eip1559_tx())
    assert signed.raw_transaction[0] == 0x02  # EIP-2718 envelope, type 2
    assert Account.recover_transaction(signed.raw_transaction) == evm.address(keys.public_key(K1, material))
    decoded = TypedTransaction.from_bytes(HexBytes(signed.raw_transaction)).as_dict()
    assert decoded["chainId"] == NEO_X_CHAIN_ID
    assert decoded["v"] in (0, 1)  # y-parity
    assert decoded["s"] <= keys.SECP256K1_ORDER // 2  # EIP-2
    assert signed.tx_hash == keccak256(signed.raw_transaction)
    assert evm.sign_transaction(material, _eip1559_tx()) == signed  # deterministic


def test_legacy_transaction_is_eip155_protected() -> None:
    material = keys.generate(K1)
    tx = {"nonce": 0, "gasPrice": 10, "gas": 21000, "to": "0x" + "11" * 20, "value": 1, "chainId": 5}
    raw = evm.sign_transaction(material, tx).raw_transaction
    assert raw[0] >= 0xC0  # RLP list
    *_fields, v, _r, s = rlp.decode(raw)  # [nonce, gasPrice, gas, to, value, data, v, r, s]
    assert int.from_bytes(v, "big") in (5 * 2 + 35, 5 * 2 + 36)  # EIP-155: v = chainId * 2 + 35 + recid
    assert int.from_bytes(s, "big") <= keys.SECP256K1_ORDER // 2  # EIP-2
    assert Account.recover_transaction(raw) == evm.address(keys.public_key(K1, material))


@pytest.mark.parametrize(
    ("tx", "error", "match"),
    [
        pytest.param(_eip1559_tx(chainId=None), InvalidInput, "chainId", id="no-chain-id"),
        pytest.param(_eip1559_tx(chainId=0), InvalidInput, "chainId", id="chain-id-0"),
        pytest.param(_eip1559_tx(chainId=True), InvalidInput, "chainId", id="chain-id-bool"),
        pytest.param(_eip1559_tx(chainId="1"), InvalidInput, "chainId", id="chain-id-str"),
        pytest.param(_eip1559_tx(nonce="x"), InvalidInput, "invalid EVM transaction", id="bad-nonce"),
        pytest.param(_eip1559_tx(to="0xzz"), InvalidInput, "invalid EVM transaction", id="bad-to"),
        pytest.param(_eip1559_tx(bogus=1), InvalidInput, "invalid EVM transaction", id="unknown-field"),
        pytest.param(
            _eip1559_tx(**{"from": "0x" + "11" * 20}),
            InvalidInput,
            "invalid EVM transaction",
            id="from-mismatch",
        ),
        pytest.param(
            {
                "type": 1,
                "nonce": 0,
                "gasPrice": 1,
                "gas": 21000,
                "to": "0x" + "11" * 20,
                "value": 0,
                "chainId": 1,
                "accessList": [],
            },
            UnsupportedOperation,
            "0x01",
            id="eip2930-type-1",
        ),
    ],
)
def test_rejected_transactions(tx: dict[str, Any], error: type[Exception], match: str) -> None:
    tx = {k: v for k, v in tx.items() if v is not None}
    with pytest.raises(error, match=match):
        evm.sign_transaction(keys.generate(K1), tx)


def test_bad_material() -> None:
    with pytest.raises(InvalidKeyMaterial):
        evm.sign_transaction(b"\x00" * 32, _eip1559_tx())
    with pytest.raises(InvalidKeyMaterial):
        evm.sign_message_eip191(b"\x01" * 31, b"m")
    with pytest.raises(InvalidKeyMaterial):
        evm.sign_typed_data_eip712(keys.SECP256K1_ORDER.to_bytes(32, "big"), VECTORS["eip712"]["typed_data"])


def test_eip191_documented_example() -> None:
    vector = VECTORS["eip191"]
    material = bytes.fromhex(vector["private_key"])
    message = vector["message_utf8"].encode()
    signature = evm.sign_message_eip191(material, message)
    assert signature.hex() == vector["signature"]
    public = keys.public_key(K1, material)
    assert evm.address(public) == vector["address"]
    assert (
        Account.recover_message(encode_defunct(primitive=message), signature=signature) == vector["address"]
    )
    assert signing.verify(
        K1, public, evm.eip191_hash(message), signature, hash_alg=HashAlgorithm.NONE, fmt=SignatureFormat.EVM
    )
    assert evm.eip191_hash(message) == keccak256(
        b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message
    )


def test_eip712_example() -> None:
    """EIP-712 Example.js: the Mail message signed by keccak256("cow")."""
    vector = VECTORS["eip712"]
    material = keccak256(vector["private_key_preimage"].encode())
    typed_data = vector["typed_data"]
    assert evm.eip712_hash(typed_data).hex() == vector["hash"]
    signature = evm.sign_typed_data_eip712(material, typed_data)
    assert signature == bytes.fromhex(vector["r"]) + bytes.fromhex(vector["s"]) + bytes([vector["v"]])
    recovered = Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature)
    assert recovered == vector["address"]
    assert signing.verify(
        K1,
        keys.public_key(K1, material),
        evm.eip712_hash(typed_data),
        signature,
        hash_alg=HashAlgorithm.NONE,
        fmt=SignatureFormat.EVM,
    )


@pytest.mark.parametrize(
    "typed_data",
    [
        pytest.param({}, id="empty"),
        pytest.param({"types": {}}, id="no-domain"),
        pytest.param(
            {"types": {"EIP712Domain": []}, "primaryType": "X", "domain": {}, "message": {}}, id="bad-primary"
        ),
        pytest.param(
            {
                "types": {
                    "EIP712Domain": [{"name": "name", "type": "string"}],
                    "M": [{"name": "a", "type": "uint8"}],
                },
                "primaryType": "M",
                "domain": {"name": "x"},
                "message": {"a": 300},
            },
            id="uint8-overflow",
        ),
    ],
)
def test_invalid_typed_data(typed_data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="EIP-712"):
        evm.sign_typed_data_eip712(keys.generate(K1), typed_data)
    with pytest.raises(InvalidInput):
        evm.eip712_hash(typed_data)


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_eip191_recovers_and_matches_our_signer(seed: bytes, message: bytes) -> None:
    try:
        keys.validate_material(K1, seed)
    except InvalidKeyMaterial:
        return
    signature = evm.sign_message_eip191(seed, message)
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    address = evm.address(keys.public_key(K1, seed))
    assert Account.recover_message(encode_defunct(primitive=message), signature=signature) == address
    # eth-account and our coincurve path are both RFC 6979: identical bytes.
    ours = signing.sign(
        K1, seed, evm.eip191_hash(message), hash_alg=HashAlgorithm.NONE, fmt=SignatureFormat.EVM
    )
    assert ours == signature
