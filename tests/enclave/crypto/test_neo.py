"""Neo N3: addresses of neo-go's known keys, agreement with neo-mamba's ``Account``, and transaction
witnesses that neo-mamba parses and its verifier (neo3crypto) accepts."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from neo3.core import cryptography as neo_crypto
from neo3.core import types
from neo3.network.payloads.transaction import HighPriorityAttribute, Transaction
from neo3.network.payloads.verification import Signer, Witness, WitnessScope
from neo3.wallet.account import Account

from neo_service_layer.enclave.crypto import keys, neo, signing
from neo_service_layer.enclave.crypto.errors import InvalidInput, InvalidKeyMaterial
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from tests.enclave.crypto.vectors import load_testdata

P256 = KeyType.SECP256R1
#: Network magic of N3 MainNet (neo-go ``netmode.MainNet``).
MAINNET_MAGIC = 860833102
#: Network magic of N3 TestNet T5 (neo-go ``netmode.TestNet``).
TESTNET_MAGIC = 894710606
NEO_GO_KEYS = load_testdata("neo_go_keys.json")["vectors"]
MAGICS = [
    pytest.param(MAINNET_MAGIC, id="mainnet"),
    pytest.param(TESTNET_MAGIC, id="testnet-t5"),
    pytest.param(0, id="magic-0"),
    pytest.param(0xFFFFFFFF, id="magic-max"),
]


@pytest.mark.parametrize("vector", NEO_GO_KEYS, ids=[v["id"] for v in NEO_GO_KEYS])
def test_neo_go_known_keys(vector: dict[str, str]) -> None:
    """neo-go internal/keytestcases: private key -> compressed public key -> address."""
    material = bytes.fromhex(vector["private_key"])
    public = keys.public_key(P256, material)
    assert public.hex() == vector["public_key"]
    assert neo.address(public) == vector["address"]


@pytest.mark.parametrize("vector", NEO_GO_KEYS, ids=[v["id"] for v in NEO_GO_KEYS])
def test_matches_neo_mamba_account(vector: dict[str, str]) -> None:
    material = bytes.fromhex(vector["private_key"])
    account = Account.from_private_key(material)
    public = keys.public_key(P256, material)
    assert account.contract is not None
    assert neo.verification_script(public) == account.contract.script
    assert neo.script_hash(public) == account.script_hash.to_array()
    assert neo.script_hash_hex(public) == f"0x{account.script_hash}"
    assert neo.address(public) == account.address
    # Uncompressed input gives the same account.
    uncompressed = keys.uncompressed_public_key(P256, public)
    assert neo.address(uncompressed) == account.address


def test_verification_script_layout() -> None:
    """PUSHDATA1 0x21 <key> SYSCALL <id>; id = first 4 bytes of SHA256("System.Crypto.CheckSig")."""
    public = keys.public_key(P256, keys.generate(P256))
    script = neo.verification_script(public)
    assert len(script) == 40
    assert script[:2] == b"\x0c\x21"  # PUSHDATA1, 33 bytes
    assert script[2:35] == public
    assert script[35] == 0x41  # SYSCALL
    assert script[36:] == hashlib.sha256(b"System.Crypto.CheckSig").digest()[:4]
    script_hash = neo.script_hash(public)
    assert script_hash == hashlib.new("ripemd160", hashlib.sha256(script).digest()).digest()
    assert neo.script_hash_hex(public) == "0x" + script_hash[::-1].hex()


@pytest.mark.parametrize("bad", [b"", b"\x02" * 32, b"\x05" + b"\x01" * 32, b"\x04" + b"\x01" * 64])
def test_bad_public_key(bad: bytes) -> None:
    with pytest.raises(InvalidKeyMaterial):
        neo.address(bad)


def _transaction(account: Account, *, nonce: int = 7) -> Transaction:
    return Transaction(
        version=0,
        nonce=nonce,
        system_fee=1_000_000,
        network_fee=1_200_000,
        valid_until_block=5_000,
        attributes=[HighPriorityAttribute()],  # type: ignore[no-untyped-call]
        signers=[Signer(account.script_hash, WitnessScope.CALLED_BY_ENTRY)],
        script=b"\x11\xc0\x1f\x0c\x06symbol",
        protocol_magic=MAINNET_MAGIC,
    )


@pytest.mark.parametrize("magic", MAGICS)
def test_witness_verifies_with_neo_mamba(magic: int) -> None:
    material = keys.generate(P256)
    account = Account.from_private_key(material)
    tx = _transaction(account)
    tx_bytes = tx.to_array()  # unsigned: an empty witness list
    witness = neo.sign_n3_transaction(material, tx_bytes, magic)

    sign_data = magic.to_bytes(4, "little") + hashlib.sha256(tx_bytes[:-1]).digest()
    assert neo.sign_data(tx_bytes, magic) == sign_data
    assert neo.transaction_hash(tx_bytes) == tx.hash().to_array()
    assert len(witness.signature) == 64
    assert witness.invocation_script == b"\x0c\x40" + witness.signature  # PUSHDATA1 64 bytes
    assert account.contract is not None
    assert witness.verification_script == account.contract.script

    public = keys.public_key(P256, material)
    # neo-mamba's (neo3crypto) ECDSA-SHA256 verifier, as System.Crypto.CheckSig does it.
    assert neo_crypto.verify_signature(sign_data, witness.signature, public)
    assert not neo_crypto.verify_signature(
        (magic ^ 1).to_bytes(4, "little") + sign_data[4:], witness.signature, public
    )

    # Attach it: neo-mamba parses the signed transaction (witness count must match signers).
    tx.witnesses.append(Witness(witness.invocation_script, witness.verification_script))
    signed = Transaction.deserialize_from_bytes(tx.to_array())
    assert signed.witnesses[0].invocation_script == witness.invocation_script
    assert signed.witnesses[0].script_hash() == account.script_hash
    # Signing the signed form signs the same data.
    assert neo.sign_data(tx.to_array(), magic) == sign_data


def test_interoperates_with_neo_mamba_sign_tx() -> None:
    """neo-mamba's Account.sign_tx and ours produce witnesses each side verifies (ECDSA is not compared
    byte for byte: neo3crypto's nonces are its own)."""
    material = keys.generate(P256)
    account = Account.from_private_key(material)
    tx = _transaction(account, nonce=99)
    ours = neo.sign_n3_transaction(material, tx.to_array(), MAINNET_MAGIC)
    account.sign_tx(tx, MAINNET_MAGIC)
    theirs = tx.witnesses[0]
    assert theirs.verification_script == ours.verification_script
    assert theirs.invocation_script[:2] == ours.invocation_script[:2] == b"\x0c\x40"
    sign_data = neo.sign_data(tx.to_array(), MAINNET_MAGIC)
    public = keys.public_key(P256, material)
    their_sig = theirs.invocation_script[2:]
    assert signing.verify(
        P256, public, sign_data, their_sig, hash_alg=HashAlgorithm.SHA256, fmt=SignatureFormat.RAW
    )
    assert neo_crypto.verify_signature(sign_data, ours.signature, public)


def test_signature_is_low_s_and_deterministic() -> None:
    material = keys.generate(P256)
    account = Account.from_private_key(material)
    tx_bytes = _transaction(account).to_array()
    first = neo.sign_n3_transaction(material, tx_bytes, TESTNET_MAGIC)
    assert first == neo.sign_n3_transaction(material, tx_bytes, TESTNET_MAGIC)
    assert int.from_bytes(first.signature[32:], "big") <= keys.P256_ORDER // 2


def test_unsigned_part_alone_is_accepted() -> None:
    account = Account.from_private_key(keys.generate(P256))
    tx = _transaction(account)
    full = tx.to_array()
    assert full[-1] == 0  # empty witness list
    assert neo.transaction_hash(full[:-1]) == neo.transaction_hash(full)


@pytest.mark.parametrize(
    ("case", "mangle"),
    [
        pytest.param("empty", lambda b: b"", id="empty"),
        pytest.param("truncated", lambda b: b[:20], id="truncated-header"),
        pytest.param("no-script", lambda b: b[:-4], id="truncated-script"),
        pytest.param("version-1", lambda b: b"\x01" + b[1:], id="version-1"),
        pytest.param("trailing", lambda b: b + b"\x00\x00", id="trailing-bytes"),
        pytest.param("negative-fee", lambda b: b[:5] + b"\xff" * 8 + b[13:], id="negative-system-fee"),
    ],
)
def test_malformed_transactions(case: str, mangle: object) -> None:
    account = Account.from_private_key(keys.generate(P256))
    tx_bytes = _transaction(account).to_array()
    assert callable(mangle)
    with pytest.raises(InvalidInput, match="Neo N3 transaction"):
        neo.sign_n3_transaction(keys.generate(P256), mangle(tx_bytes), MAINNET_MAGIC)


@pytest.mark.parametrize("magic", [-1, 2**32])
def test_network_magic_is_uint32(magic: int) -> None:
    account = Account.from_private_key(keys.generate(P256))
    with pytest.raises(InvalidInput, match="uint32"):
        neo.sign_data(_transaction(account).to_array(), magic)


_TEMPLATE = Transaction(
    version=0,
    nonce=5,
    system_fee=1,
    network_fee=1,
    valid_until_block=9,
    signers=[Signer(types.UInt160(b"\x01" * 20), WitnessScope.CALLED_BY_ENTRY)],
    script=b"\x11\x40",
    witnesses=[Witness(b"\x0c\x40" + b"\x00" * 64, b"\x01\x02")],
).to_array()


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(_TEMPLATE)).map(lambda n: _TEMPLATE[:n]),
        st.tuples(st.integers(0, len(_TEMPLATE) - 1), st.integers(0, 255)).map(
            lambda p: _TEMPLATE[: p[0]] + bytes([p[1]]) + _TEMPLATE[p[0] + 1 :]
        ),
    )
)
def test_parser_only_raises_invalid_input(data: bytes) -> None:
    """Any byte string either parses or raises InvalidInput (neo-mamba's struct.error is converted)."""
    try:
        digest = neo.transaction_hash(data)
    except InvalidInput:
        return
    assert len(digest) == 32
