"""The native oracle's response transaction (``crypto/n3_oracle_tx.py``) against neo-go's rules.

Fee arithmetic: neo-go v0.120.0 ``pkg/services/oracle/response.go`` ``CreateResponseTx`` and
``pkg/core/fee/calculate.go`` (picoGAS exec fee factor, ``vm.PicoGasToDatoshiInt64``). That a real
neo-go builds the very same bytes is tested in tests/chains/neo_n3/test_native_oracle.py.
"""

from __future__ import annotations

import hashlib

import pytest
from neo3.core import serialization
from neo3.network.payloads.transaction import Transaction

from neo_service_layer.enclave.crypto import keys, n3_oracle_tx
from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.oracle.codes import OracleCode

#: neo-go defaults: ExecFeeFactor 30 (300000 picoGAS), FeePerByte 1000 datoshi.
FEES = n3_oracle_tx.FeeParams(exec_fee_factor_pico=300_000, fee_per_byte=1000)


def _keys(n: int) -> list[bytes]:
    return [keys.public_key(KeyType.SECP256R1, keys.generate(KeyType.SECP256R1)) for _ in range(n)]


@pytest.mark.parametrize(
    ("n", "m"),
    [pytest.param(1, 1, id="one"), pytest.param(4, 3, id="four"), pytest.param(7, 5, id="seven")],
)
def test_honest_node_count_is_neo_gos(n: int, m: int) -> None:
    # smartcontract.GetDefaultHonestNodeCount: n - (n-1)/3
    assert n3_oracle_tx.honest_node_count(n) == m


def test_fees_of_a_one_node_response_follow_create_response_tx() -> None:
    # verify: (PUSH0 1 + method price 1<<15) * 30; 1-of-1 multisig: 2 * (PUSHDATA1 8 + PUSH1 1) * 30
    # + 1<<15 * 30 (fee.Calculate).
    assert n3_oracle_tx.verify_gas(FEES) == 32769 * 30
    assert n3_oracle_tx.multisig_verify_fee(1, 1, FEES) == (18 + 32768) * 30
    tx = n3_oracle_tx.build_response_tx(
        request_id=7,
        code=OracleCode.Success,
        result=b"[1]",
        gas_for_response=10_000_000,
        valid_until_block=100,
        oracle_nodes=_keys(1),
        fees=FEES,
    )
    # size = unsigned + witness count + empty witness + (varint 66 + 66 + varbytes(40-byte 1-of-1 script))
    size = len(tx.unsigned) + 1 + 2 + 1 + 66 + 1 + len(tx.verification_script)
    assert tx.network_fee == 32769 * 30 + (18 + 32768) * 30 + size * 1000
    assert tx.system_fee == 10_000_000 - tx.network_fee
    assert tx.unsigned[1:5] == (7).to_bytes(4, "little")  # nonce = uint32(id)


def test_a_response_the_gas_cannot_pay_for_becomes_insufficient_funds() -> None:
    tx = n3_oracle_tx.build_response_tx(
        request_id=1,
        code=OracleCode.Success,
        result=b"x" * 1000,
        gas_for_response=2_500_000,
        valid_until_block=100,
        oracle_nodes=_keys(1),
        fees=FEES,
    )
    assert (tx.code, tx.result) == (OracleCode.InsufficientFunds, b"")
    assert tx.system_fee + tx.network_fee == 2_500_000


def test_the_signed_transaction_parses_and_its_hash_is_the_unsigned_parts() -> None:
    nodes = _keys(1)
    tx = n3_oracle_tx.build_response_tx(
        request_id=3,
        code=OracleCode.Success,
        result=b'{"a":1}',
        gas_for_response=10_000_000,
        valid_until_block=42,
        oracle_nodes=nodes,
        fees=FEES,
    )
    raw = n3_oracle_tx.signed_transaction(tx, [b"\x01" * 64])
    parsed = Transaction(version=0, nonce=0, system_fee=0, network_fee=0, valid_until_block=0)
    with serialization.BinaryReader(raw) as reader:
        parsed.deserialize(reader)
    assert parsed.valid_until_block == 42
    assert parsed.script == n3_oracle_tx.response_script()
    assert bytes(parsed.hash().to_array()) == hashlib.sha256(tx.unsigned).digest()
    assert [bytes(w.verification_script) for w in parsed.witnesses] == [b"", tx.verification_script]
    assert bytes(parsed.witnesses[1].invocation_script) == b"\x0c\x40" + b"\x01" * 64


def test_the_multisig_lists_the_nodes_sorted_as_neo_go() -> None:
    nodes = _keys(4)
    script = n3_oracle_tx.oracle_nodes_script(nodes)
    # PUSH3, then four PUSHDATA1 33 <key>; neo-go keys.PublicKeys sorts by X, then Y.
    listed = [script[3 + i * 35 : 3 + i * 35 + 33] for i in range(4)]
    assert script[0] == 0x13
    assert listed == sorted(nodes, key=lambda key: (key[1:], key[0]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"code": OracleCode.Error, "result": b"x"}, "only a Success", id="failure-with-result"),
        pytest.param({"result": b"x" * 0x10000}, "at most", id="result-too-long"),
        pytest.param({"request_id": 2**64}, "uint64", id="id-too-large"),
        pytest.param({"oracle_nodes": []}, "no oracle nodes", id="no-nodes"),
        pytest.param({"oracle_nodes": [b"\x05" * 33]}, "secp256r1", id="not-a-point"),
    ],
)
def test_refuses_what_neo_go_would_not_build(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "request_id": 1,
        "code": OracleCode.Success,
        "result": b"",
        "gas_for_response": 10_000_000,
        "valid_until_block": 1,
        "oracle_nodes": _keys(1),
        "fees": FEES,
    }
    with pytest.raises(InvalidInput, match=message):
        n3_oracle_tx.build_response_tx(**{**args, **change})  # type: ignore[arg-type]


def test_signed_transaction_takes_exactly_m_signatures_of_64_bytes() -> None:
    tx = n3_oracle_tx.build_response_tx(
        request_id=1,
        code=OracleCode.Error,
        result=b"",
        gas_for_response=10_000_000,
        valid_until_block=1,
        oracle_nodes=_keys(4),
        fees=FEES,
    )
    assert tx.signatures_needed == 3
    with pytest.raises(InvalidInput, match="takes 3"):
        n3_oracle_tx.signed_transaction(tx, [b"\x00" * 64])
    with pytest.raises(InvalidInput, match="64 bytes"):
        n3_oracle_tx.signed_transaction(tx, [b"\x00" * 64, b"\x00" * 64, b"\x00" * 63])
