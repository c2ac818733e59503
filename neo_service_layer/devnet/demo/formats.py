"""The bytes ``nsl devnet demo`` sends and reads: oracle payloads and results, DY-VRF proofs (pure).

The on-chain oracle's formats (docs/oracle.md, docs/chains-evm.md, docs/chains-neo-n3.md; fixed):

- request payload: EVM ``abi.encode(string url, string filter)`` (``""``: no filter), or
  ``abi.encode(string url, string filter, string extract)`` for a typed value (``"uint256:8"``,
  ``"int256"``, ``"bool"``, ``"string"``: the callback's data is then that value ABI-encoded); Neo N3
  ``StdLib.jsonSerialize([url, filter])``, a compact UTF-8 JSON array (``null``: no filter);
- the consumer's callback result: EVM ``abi.encode(uint8 code, bytes data)``; Neo N3
  ``bytes([code]) + data``, ``code`` being N3's ``OracleResponseCode`` (``enclave/oracle/codes.py``).

The demo reads the raw result from the gateway's ``Fulfilled`` event, so it does not depend on how an
example consumer stores it. A randomness proof is re-verified offline with ``dyvrf.verify`` on the
public key the gateway holds; :func:`verify_snippet` prints the same check as a command to paste.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from neo_service_layer.chains.evm.messages import BLS12_381_P
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import ExtractSpec
from neo_service_layer.enclave.oracle.onchain import PayloadError, parse_extract

#: A public JSON API a newcomer's enclave can reach, and the filter that picks one value out of it.
DEFAULT_ORACLE_URL: Final = "https://api.binance.com/api/v3/ticker/price?symbol=NEOUSDT"
DEFAULT_ORACLE_FILTER: Final = "$.price"
_EVM_PAYLOAD_TYPES: Final = ("string", "string")
_EVM_TYPED_PAYLOAD_TYPES: Final = ("string", "string", "string")
_EVM_RESULT_TYPES: Final = ("uint8", "bytes")
# EIP-2537 encodes a base field element in 64 bytes: 16 zero bytes, then 48 big-endian.
_FP_SIZE, _FP_PAD = 64, 16
EIP2537_G1_SIZE: Final = 2 * _FP_SIZE


class InvalidOracleResult(ValueError):
    """Result bytes that are not an oracle answer in the chain's format."""


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """A decoded oracle result: the response code (``OracleCode`` when known, else the raw byte) and data."""

    code: OracleCode | int
    data: bytes

    @property
    def code_name(self) -> str:
        """``Success (0x00)``; an unknown byte as ``unknown (0x42)``."""
        name = self.code.name if isinstance(self.code, OracleCode) else "unknown"
        return f"{name} (0x{int(self.code):02x})"

    @property
    def text(self) -> str | None:
        """The data as UTF-8 text, or None when it is not text."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


def _code(value: int) -> OracleCode | int:
    try:
        return OracleCode(value)
    except ValueError:
        return value


def extract_spec(extract: str) -> ExtractSpec:
    """``"uint256:8"`` → its spec, as the enclave reads it; ValueError for anything it would refuse."""
    try:
        spec = parse_extract(extract)
    except PayloadError as e:
        raise ValueError(str(e)) from e
    if spec is None:
        raise ValueError("an empty extract asks for no typed value")
    return spec


def evm_oracle_payload(url: str, filter_: str | None, extract: str | None = None) -> bytes:
    """``abi.encode(string url, string filter)``, no filter being ``""``; with ``extract``,
    ``abi.encode(string url, string filter, string extract)`` (checked first: :func:`extract_spec`)."""
    if extract:
        extract_spec(extract)
        return abi_encode(_EVM_TYPED_PAYLOAD_TYPES, (url, filter_ or "", extract))
    return abi_encode(_EVM_PAYLOAD_TYPES, (url, filter_ or ""))


def typed_value(data: bytes, extract: str) -> str:
    """The ABI-encoded value a typed EVM request delivers, for people: ``1234000000 (= 12.34000000 with
    8 decimals)``; ValueError when ``data`` is not that type's encoding."""
    spec = extract_spec(extract)
    try:
        (value,) = abi_decode((spec.type.value,), data, strict=True)
    except (DecodingError, OverflowError) as e:
        raise ValueError(f"not abi.encode({spec.type.value}): {e}") from e
    if spec.decimals:
        return f"{value}  (= {Decimal(value).scaleb(-spec.decimals)} with {spec.decimals} decimals)"
    return repr(value)


def n3_oracle_payload(url: str, filter_: str | None) -> bytes:
    """``StdLib.jsonSerialize([url, filter])``: compact JSON, UTF-8; no filter is ``null``."""
    return json.dumps([url, filter_ or None], separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_evm_oracle_result(result: bytes) -> OracleAnswer:
    """``abi.decode(result, (uint8, bytes))``; :class:`InvalidOracleResult` for anything else."""
    try:
        code, data = abi_decode(_EVM_RESULT_TYPES, result, strict=True)
    except (DecodingError, OverflowError) as e:
        raise InvalidOracleResult(f"not abi.encode(uint8, bytes): {e}") from e
    return OracleAnswer(_code(int(code)), bytes(data))


def decode_n3_oracle_result(result: bytes) -> OracleAnswer:
    """``code (1 byte) ‖ data``; :class:`InvalidOracleResult` for an empty result."""
    if not result:
        raise InvalidOracleResult("an N3 oracle result starts with its code byte")
    return OracleAnswer(_code(result[0]), result[1:])


def compress_eip2537_g1(point: bytes) -> bytes:
    """The 48-byte compressed form (ZCash flags, as ``dyvrf.public_key`` writes it) of an EIP-2537 G1 point.

    ``x`` with ``0x80`` (compressed) and ``0x20`` (``y > (p-1)/2``) on its first byte; the point at
    infinity is ``0xc0`` then zeros (draft-irtf-cfrg-pairing-friendly-curves-11 Appendix C). Checks the
    padding and that both coordinates are below p, not that the point is on the curve (``dyvrf.verify``
    does).
    """
    if len(point) != EIP2537_G1_SIZE:
        raise ValueError(f"an EIP-2537 G1 point is {EIP2537_G1_SIZE} bytes, got {len(point)}")
    coords = []
    for fp in (point[:_FP_SIZE], point[_FP_SIZE:]):
        if any(fp[:_FP_PAD]) or int.from_bytes(fp, "big") >= BLS12_381_P:
            raise ValueError("a non-canonical EIP-2537 field element")
        coords.append(fp[_FP_PAD:])
    x, y = (int.from_bytes(c, "big") for c in coords)
    if x == 0 and y == 0:
        return bytes([0xC0]) + bytes(47)
    flags = 0x80 | (0x20 if y > (BLS12_381_P - 1) // 2 else 0)
    return bytes([coords[0][0] | flags]) + coords[0][1:]


def verify_snippet(public_key: bytes, alpha: bytes, pi: bytes) -> str:
    """A command that re-runs the DY-VRF check offline and prints beta (``dyvrf.verify``: docs/dyvrf.md)."""
    return (
        "python -c 'from neo_service_layer.enclave.crypto import dyvrf; "
        f'print(dyvrf.verify(bytes.fromhex("{public_key.hex()}"), bytes.fromhex("{alpha.hex()}"), '
        f'bytes.fromhex("{pi.hex()}")).hex())\''
    )
