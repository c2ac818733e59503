"""``devnet.demo.formats``: the oracle payloads the demo sends and the results it decodes, in the fixed
on-chain formats (docs/oracle.md: EVM ``abi.encode(string,string)`` / ``abi.encode(uint8,bytes)``, N3
``StdLib.jsonSerialize([url, filter])`` / ``code ‖ data``), the EIP-2537 key compression and the printed
verification command."""

from __future__ import annotations

import shlex

import pytest
from eth_abi.abi import encode as abi_encode

from neo_service_layer.chains.evm.messages import BLS12_381_P
from neo_service_layer.devnet.demo import formats
from neo_service_layer.devnet.demo.formats import InvalidOracleResult, OracleAnswer
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.oracle import onchain
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import ExtractSpec, ValueType

URL = "https://api.example/v1/price?symbol=NEO"


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def padded(data: bytes) -> bytes:
    return data.ljust((len(data) + 31) // 32 * 32, b"\0")


@pytest.mark.parametrize(
    ("url", "filter_", "expected"),
    [
        # Solidity ABI spec, "Formal Specification of the Encoding": two dynamic heads, then each tail.
        pytest.param(
            "a", "$.p", word(64) + word(128) + word(1) + padded(b"a") + word(3) + padded(b"$.p"), id="both"
        ),
        pytest.param(
            "a", None, word(64) + word(128) + word(1) + padded(b"a") + word(0), id="no-filter-empty"
        ),
        pytest.param("a", "", word(64) + word(128) + word(1) + padded(b"a") + word(0), id="empty-filter"),
        pytest.param(
            "x" * 33,
            "$",
            word(64) + word(160) + word(33) + padded(b"x" * 33) + word(1) + padded(b"$"),
            id="url-over-one-word",
        ),
    ],
)
def test_evm_oracle_payload(url: str, filter_: str | None, expected: bytes) -> None:
    assert formats.evm_oracle_payload(url, filter_) == expected


@pytest.mark.parametrize(
    ("url", "filter_", "expected"),
    [
        pytest.param(URL, "$.price", f'["{URL}","$.price"]'.encode(), id="both"),
        pytest.param(URL, None, f'["{URL}",null]'.encode(), id="none-is-null"),
        pytest.param(URL, "", f'["{URL}",null]'.encode(), id="empty-is-null"),
        pytest.param("https://h/é", '$["a"]', '["https://h/é","$[\\"a\\"]"]'.encode(), id="utf8-and-escapes"),
    ],
)
def test_n3_oracle_payload(url: str, filter_: str | None, expected: bytes) -> None:
    assert formats.n3_oracle_payload(url, filter_) == expected


@pytest.mark.parametrize(
    ("url", "filter_"),
    [pytest.param(URL, "$.price", id="filter"), pytest.param(URL, None, id="no-filter")],
)
def test_payloads_decode_as_the_enclave_decodes_them(url: str, filter_: str | None) -> None:
    """What the enclave decodes from a gateway payload is what the demo meant."""
    for decode, payload in (
        (onchain.decode_evm_payload, formats.evm_oracle_payload(url, filter_)),
        (onchain.decode_n3_payload, formats.n3_oracle_payload(url, filter_)),
    ):
        query = decode(payload)
        assert (query.url, query.filter) == (url, filter_)


@pytest.mark.parametrize(
    ("extract", "spec"),
    [
        pytest.param("uint256:8", ExtractSpec(ValueType.UINT256, 8), id="uint256-8"),
        pytest.param("int256", ExtractSpec(ValueType.INT256, 0), id="int256"),
        pytest.param("bool", ExtractSpec(ValueType.BOOL, 0), id="bool"),
        pytest.param("string", ExtractSpec(ValueType.STRING, 0), id="string"),
    ],
)
def test_typed_evm_payload_is_what_the_enclave_reads(extract: str, spec: ExtractSpec) -> None:
    payload = formats.evm_oracle_payload(URL, "$.price", extract)
    assert payload == abi_encode(("string", "string", "string"), (URL, "$.price", extract))
    query = onchain.decode_evm_payload(payload)
    assert (query.url, query.filter, query.extract) == (URL, "$.price", spec)


@pytest.mark.parametrize(
    "extract",
    [
        pytest.param("float", id="unknown-type"),
        pytest.param("uint256:x", id="decimals-not-a-number"),
        pytest.param("bool:2", id="decimals-on-bool"),
    ],
)
def test_typed_evm_payload_refuses_what_the_enclave_would(extract: str) -> None:
    with pytest.raises(ValueError, match="type\\[:decimals\\]"):
        formats.evm_oracle_payload(URL, "$.price", extract)


@pytest.mark.parametrize(
    ("extract", "data", "shown"),
    [
        pytest.param(
            "uint256:8",
            abi_encode(("uint256",), (1_234_000_000,)),
            "1234000000  (= 12.34000000 with 8 decimals)",
            id="uint256-8",
        ),
        pytest.param(
            "int256:2", abi_encode(("int256",), (-1_250,)), "-1250  (= -12.50 with 2 decimals)", id="negative"
        ),
        pytest.param("bool", abi_encode(("bool",), (True,)), "True", id="bool"),
        pytest.param("string", abi_encode(("string",), ("NEO",)), "'NEO'", id="string"),
    ],
)
def test_typed_value_for_people(extract: str, data: bytes, shown: str) -> None:
    assert formats.typed_value(data, extract) == shown


def test_typed_value_refuses_other_bytes() -> None:
    with pytest.raises(ValueError, match=r"not abi\.encode"):
        formats.typed_value(b"\x01\x02", "uint256:8")


@pytest.mark.parametrize(
    ("code", "data"),
    [
        pytest.param(OracleCode.Success, b'["7.25"]', id="success"),
        pytest.param(OracleCode.Forbidden, b"", id="forbidden"),
    ],
)
def test_results_decode_what_the_enclave_encodes(code: OracleCode, data: bytes) -> None:
    assert formats.decode_evm_oracle_result(onchain.evm_result(code, data)) == OracleAnswer(code, data)
    assert formats.decode_n3_oracle_result(onchain.n3_result(code, data)) == OracleAnswer(code, data)


EVM_RESULT = ("uint8", "bytes")


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(
            abi_encode(EVM_RESULT, (0, b"7.25")), OracleAnswer(OracleCode.Success, b"7.25"), id="success"
        ),
        pytest.param(
            abi_encode(EVM_RESULT, (0x14, b"")), OracleAnswer(OracleCode.NotFound, b""), id="not-found"
        ),
        pytest.param(abi_encode(EVM_RESULT, (0xFF, b"")), OracleAnswer(OracleCode.Error, b""), id="error"),
        pytest.param(abi_encode(EVM_RESULT, (0x42, b"")), OracleAnswer(0x42, b""), id="unknown-code-kept"),
    ],
)
def test_decode_evm_oracle_result(result: bytes, expected: OracleAnswer) -> None:
    assert formats.decode_evm_oracle_result(result) == expected


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(b"", id="empty"),
        pytest.param(word(0), id="no-bytes-part"),
        pytest.param(word(256) + word(64) + word(0), id="code-over-uint8"),
        pytest.param(word(0) + word(64) + word(5) + b"ab", id="bytes-cut-short"),
    ],
)
def test_decode_evm_oracle_result_refuses(result: bytes) -> None:
    with pytest.raises(InvalidOracleResult):
        formats.decode_evm_oracle_result(result)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(b"\x00" + b'"7.25"', OracleAnswer(OracleCode.Success, b'"7.25"'), id="success"),
        pytest.param(b"\x18", OracleAnswer(OracleCode.Forbidden, b""), id="forbidden"),
        pytest.param(b"\x1a", OracleAnswer(OracleCode.ResponseTooLarge, b""), id="too-large"),
        pytest.param(b"\x42\x01", OracleAnswer(0x42, b"\x01"), id="unknown-code-kept"),
    ],
)
def test_decode_n3_oracle_result(result: bytes, expected: OracleAnswer) -> None:
    assert formats.decode_n3_oracle_result(result) == expected


def test_decode_n3_oracle_result_refuses_empty() -> None:
    with pytest.raises(InvalidOracleResult, match="code byte"):
        formats.decode_n3_oracle_result(b"")


@pytest.mark.parametrize(
    ("answer", "code_name", "text"),
    [
        pytest.param(OracleAnswer(OracleCode.Success, b"7.25"), "Success (0x00)", "7.25", id="text"),
        pytest.param(OracleAnswer(OracleCode.NotFound, b""), "NotFound (0x14)", "", id="empty"),
        pytest.param(OracleAnswer(0x42, b"\xff\xfe"), "unknown (0x42)", None, id="binary"),
    ],
)
def test_oracle_answer_for_people(answer: OracleAnswer, code_name: str, text: str | None) -> None:
    assert answer.code_name == code_name
    assert answer.text == text


@pytest.mark.parametrize("secret_byte", [pytest.param(i, id=f"key-{i}") for i in (1, 2, 3, 7, 11, 99)])
def test_compress_eip2537_g1_is_dyvrfs_public_key(secret_byte: int) -> None:
    """Both y signs occur among these keys; the compressed form is the one dyvrf.public_key writes."""
    public = dyvrf.public_key(bytes(31) + bytes([secret_byte]))
    assert formats.compress_eip2537_g1(dyvrf.eip2537_g1(public)) == public


def test_compress_eip2537_g1_sets_the_sort_flag_on_some_key() -> None:
    flags = {dyvrf.public_key(bytes(31) + bytes([i]))[0] & 0x20 for i in range(1, 12)}
    assert flags == {0, 0x20}  # so the table above exercises both branches


@pytest.mark.parametrize(
    ("point", "expected"),
    [pytest.param(bytes(128), bytes([0xC0]) + bytes(47), id="infinity")],
)
def test_compress_eip2537_g1_infinity(point: bytes, expected: bytes) -> None:
    assert formats.compress_eip2537_g1(point) == expected


@pytest.mark.parametrize(
    "point",
    [
        pytest.param(bytes(127), id="short"),
        pytest.param(b"\x01" + bytes(127), id="padding-not-zero"),
        pytest.param(bytes(16) + BLS12_381_P.to_bytes(48, "big") + bytes(64), id="x-not-below-p"),
    ],
)
def test_compress_eip2537_g1_refuses(point: bytes) -> None:
    with pytest.raises(ValueError, match="EIP-2537"):
        formats.compress_eip2537_g1(point)


def test_verify_snippet_prints_beta(capsys: pytest.CaptureFixture[str]) -> None:
    secret = bytes(31) + b"\x05"
    alpha = b"NSL demo alpha"
    pi = dyvrf.prove(secret, alpha)
    argv = shlex.split(formats.verify_snippet(dyvrf.public_key(secret), alpha, pi))
    assert argv[:2] == ["python", "-c"]
    exec(argv[2], {})  # noqa: S102 - the command the demo prints, run as printed
    assert capsys.readouterr().out.strip() == dyvrf.proof_to_hash(pi).hex()
