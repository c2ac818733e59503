"""The bytes NSL contracts on EVM chains hash, sign and verify — built the same way in Python.

Pure functions, no I/O: the enclave signs :func:`fulfilment_digest` / :func:`price_report_digest`, the
fulfiller builds results with :func:`randomness_result`, auditors rebuild :func:`randomness_alpha` and
read a result back with :func:`split_randomness_result` and :func:`compress_eip2537_g2`. Every
format is ``abi.encodePacked`` of fixed-size fields behind a versioned ASCII tag, with the chain id and the
contract address in it so a signature is valid on one chain, for one contract only (docs/chains-evm.md):

- fulfilment digest: ``keccak256("NSL-FULFIL-V2" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  payloadHash (32) ‖ vrfKeyVersion (4) ‖ vrfKeyHash (32) ‖ keccak256(result) (32))`` — the request's
  stored payload hash and pinned VRF key version, and ``keccak256`` of the EIP-2537 key registered under
  that version (zeros without one); built by the enclave's own ``evm_gateway.fulfilment_preimage``;
- VRF input: ``alpha = "NSL-DYVRF-ALPHA-V1" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  keccak256(payload) (32)``, then ``x = SHA-256(alpha) & (2^254 - 1)`` (``dyvrf.alpha_to_scalar``);
- randomness result: ``beta (32) ‖ pi (EIP-2537 G2, 256)`` with ``beta = SHA-256(compressed pi)``;
- price report digest: ``keccak256("NSL-PRICE-V2" ‖ chainid (32) ‖ feed (20) ‖ roundId (uint80, 10) ‖
  answer (int256, 32) ‖ observedAt (uint64, 8) ‖ configHash (32))``, configHash the feed's rules'
  hash (``enclave.pricefeed.config_hash``), which the contract takes from its storage.

Signatures are 65 bytes ``r ‖ s ‖ v`` (v 27/28, s ≤ n/2) over the digest itself, with no EIP-191 prefix.
"""

from __future__ import annotations

from enum import IntEnum

from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from neo_service_layer.chains.evm.errors import InvalidChainMessage
from neo_service_layer.enclave.crypto import evm_gateway, price_reports
from neo_service_layer.enclave.crypto.dyvrf import EIP2537_G2_SIZE
from neo_service_layer.enclave.crypto.errors import InvalidInput

ALPHA_TAG = b"NSL-DYVRF-ALPHA-V1"
WORD_SIZE = 32
#: A randomness result: beta ‖ pi (EIP-2537 G2).
RANDOMNESS_RESULT_SIZE = WORD_SIZE + EIP2537_G2_SIZE
#: BLS12-381 base field modulus p (draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1).
BLS12_381_P = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", 16
)
_FP_PAD = 16


class Mode(IntEnum):
    """``INSLGateway.Mode``: fixed numeric values, never renumbered."""

    SIGNATURE_ONLY = 0
    ONCHAIN_VERIFY = 1


def service_id(name: str) -> bytes:
    """The gateway's ``bytes32`` service id: the ASCII name, left-aligned and zero-padded."""
    raw = name.encode("ascii")
    if not 0 < len(raw) <= WORD_SIZE:
        raise InvalidChainMessage(f"service name must be 1-{WORD_SIZE} ASCII bytes")
    return raw.ljust(WORD_SIZE, b"\0")


def _word(value: int, *, signed: bool = False, size: int = WORD_SIZE) -> bytes:
    try:
        return value.to_bytes(size, "big", signed=signed)
    except OverflowError as e:
        raise InvalidChainMessage(f"{value} does not fit in {size} bytes") from e


def _address(value: str | bytes) -> bytes:
    try:
        return to_canonical_address(value)
    except (ValueError, TypeError) as e:
        raise InvalidChainMessage(f"not an EVM address: {value!r}") from e


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) != WORD_SIZE:
        raise InvalidChainMessage(f"{what} must be {WORD_SIZE} bytes, got {len(value)}")
    return value


def request_id(chain_id: int, gateway: str | bytes, nonce: int, requester: str | bytes) -> bytes:
    """``keccak256(abi.encode(chainid, gateway, nonce, requester))``: the id ``request()`` assigns."""
    return keccak(
        _word(chain_id)
        + _address(gateway).rjust(WORD_SIZE, b"\0")
        + _word(nonce)
        + _address(requester).rjust(WORD_SIZE, b"\0")
    )


def fulfilment_digest(
    chain_id: int,
    gateway: str | bytes,
    request_id: bytes,
    result: bytes,
    *,
    payload_hash: bytes,
    vrf_key_version: int = 0,
    vrf_key_hash: bytes = evm_gateway.NO_VRF_KEY,
) -> bytes:
    """The 32-byte digest the enclave signs to fulfil ``request_id`` with ``result``."""
    try:
        preimage = evm_gateway.fulfilment_preimage(
            chain_id,
            _address(gateway),
            _bytes32(request_id, "request id"),
            payload_hash=payload_hash,
            vrf_key_version=vrf_key_version,
            vrf_key_hash=vrf_key_hash,
            result=result,
        )
    except InvalidInput as e:
        raise InvalidChainMessage(e.detail) from e
    return keccak(preimage)


def randomness_alpha(chain_id: int, gateway: str | bytes, request_id: bytes, payload: bytes) -> bytes:
    """The DY-VRF input of a randomness request, as the gateway derives it on chain."""
    return (
        ALPHA_TAG + _word(chain_id) + _address(gateway) + _bytes32(request_id, "request id") + keccak(payload)
    )


def randomness_result(beta: bytes, pi_eip2537: bytes) -> bytes:
    """A randomness result: ``beta ‖ pi`` (pi uncompressed, ``dyvrf.eip2537_g2``)."""
    if len(pi_eip2537) != EIP2537_G2_SIZE:
        raise InvalidChainMessage(f"pi must be {EIP2537_G2_SIZE} bytes (EIP-2537 G2)")
    return _bytes32(beta, "beta") + pi_eip2537


def split_randomness_result(result: bytes) -> tuple[bytes, bytes]:
    """``(beta, pi_eip2537)`` of a randomness result."""
    if len(result) != RANDOMNESS_RESULT_SIZE:
        raise InvalidChainMessage(f"a randomness result is {RANDOMNESS_RESULT_SIZE} bytes, got {len(result)}")
    return result[:WORD_SIZE], result[WORD_SIZE:]


def compress_eip2537_g2(pi: bytes) -> bytes:
    """The 96-byte ZCash compressed form of an EIP-2537 G2 point, as ``DYVRF.proofToHash`` builds it.

    ``x.c1 ‖ x.c0`` with ``0x80`` (compressed) and ``0x20`` (sort: ``y.c1 > (p-1)/2``, or ``y.c1 = 0`` and
    ``y.c0 > (p-1)/2``) set on the first byte (docs/dyvrf.md §2). Checks the padding and that every
    coordinate is below p; it does not check that the point is on the curve.
    """
    if len(pi) != EIP2537_G2_SIZE:
        raise InvalidChainMessage(f"pi must be {EIP2537_G2_SIZE} bytes (EIP-2537 G2)")
    xc0, xc1, yc0, yc1 = (pi[i : i + 64] for i in range(0, EIP2537_G2_SIZE, 64))
    coords = []
    for fp in (xc0, xc1, yc0, yc1):
        if any(fp[:_FP_PAD]) or int.from_bytes(fp, "big") >= BLS12_381_P:
            raise InvalidChainMessage("pi has a non-canonical EIP-2537 field element")
        coords.append(fp[_FP_PAD:])
    y = int.from_bytes(coords[3], "big") or int.from_bytes(coords[2], "big")
    flags = 0x80 | (0x20 if y > (BLS12_381_P - 1) // 2 else 0)
    return bytes([coords[1][0] | flags]) + coords[1][1:] + coords[0]


def price_report_digest(
    chain_id: int, feed: str | bytes, round_id: int, answer: int, observed_at: int, config_hash: bytes
) -> bytes:
    """The 32-byte digest the enclave signs for one price-feed round observed under the rules whose hash
    is ``config_hash`` (``price_reports``; ``enclave.pricefeed.config_hash``)."""
    try:
        preimage = price_reports.evm_price_report_preimage(
            chain_id, _address(feed), round_id, answer, observed_at, config_hash
        )
    except InvalidInput as e:
        raise InvalidChainMessage(e.detail) from e
    return keccak(preimage)
