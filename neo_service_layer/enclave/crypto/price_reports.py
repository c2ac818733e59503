"""The price-feed reports the enclave signs for the feed contracts of both chains (docs/pricefeed.md).

Like ``evm_gateway`` and ``n3_gateway``, the builders live in the enclave (it signs only what it built
from structured fields) and the host's ``chains.evm.messages`` / ``chains.neo_n3.messages`` wrap them.
Each starts with a versioned tag, so no report is a fulfilment, an envelope or another chain's report:

- EVM (``NSLPriceFeed.reportDigest``, one contract per pair): the digest is ``keccak256`` of
  ``"NSL-PRICE-V2" ‖ chainid (32) ‖ feed (20) ‖ roundId (uint80, 10) ‖ answer (int256, 32) ‖
  observedAt (uint64, 8) ‖ configHash (32)``, big-endian (``abi.encodePacked``); signed with the
  identity's secp256k1 key (which hashes with keccak256), 65 bytes ``r ‖ s ‖ v``;
- Neo N3 (``nsl_price_feed``, one contract holding every pair): ``"NSL-N3-PRICE-V2" ‖ magic (u32) ‖
  contract (20, ``UInt160.to_array()``) ‖ SHA-256(pair, UTF-8) (32) ‖ round id (u64) ‖ answer (u256, 32)
  ‖ observed at (u64, Unix seconds) ‖ configHash (32)``, little-endian (NeoVM's order); signed with the
  identity's secp256r1 key over its SHA-256, raw ``r ‖ s`` — what ``CryptoLib.verifyWithECDsa`` checks. An N3
  answer is positive (a price); the contract refuses anything else.

The round id is the one the contract must take next (its latest + 1): a report fits one round of one
feed on one chain, so it can be neither replayed nor moved to another round, feed or chain. The
``configHash`` (``enclave/pricefeed/config_hash.py``) is the hash of the rules the price was observed
under; the contracts rebuild the message with the hash the feed's owner registered, so a report observed
under rules the host rewrote does not verify.
"""

from __future__ import annotations

import hashlib

from neo_service_layer.enclave.crypto.errors import InvalidInput

EVM_PRICE_TAG = b"NSL-PRICE-V2"
N3_PRICE_TAG = b"NSL-N3-PRICE-V2"
HASH160_SIZE = 20
MAX_EVM_ROUND_ID = 2**80 - 1
MAX_U64 = 2**64 - 1
MAX_N3_ANSWER = 2**255 - 1
MAX_PAIR_BYTES = 64
CONFIG_HASH_SIZE = 32


def _int(value: int, size: int, order: str, *, signed: bool = False, what: str) -> bytes:
    try:
        return value.to_bytes(size, order, signed=signed)  # type: ignore[arg-type]
    except OverflowError as e:
        raise InvalidInput(f"{what} {value} does not fit in {size} bytes") from e


def _hash160(value: bytes, what: str) -> bytes:
    if len(value) != HASH160_SIZE:
        raise InvalidInput(f"{what} must be {HASH160_SIZE} bytes, got {len(value)}")
    return value


def _config_hash(value: bytes) -> bytes:
    if len(value) != CONFIG_HASH_SIZE:
        raise InvalidInput(f"a config hash must be {CONFIG_HASH_SIZE} bytes, got {len(value)}")
    return value


def _round(round_id: int, maximum: int) -> None:
    # Format only: round 0 fits the field (tests sign it to attack the contract, which refuses it).
    if not 0 <= round_id <= maximum:
        raise InvalidInput(f"round id {round_id} out of range 0..{maximum}")


def evm_price_report_preimage(
    chain_id: int, feed: bytes, round_id: int, answer: int, observed_at: int, config_hash: bytes
) -> bytes:
    """What the identity's secp256k1 key signs (keccak256 of it) for round ``round_id`` of ``feed``."""
    if chain_id <= 0:
        raise InvalidInput("chain id must be positive")
    _round(round_id, MAX_EVM_ROUND_ID)
    return (
        EVM_PRICE_TAG
        + _int(chain_id, 32, "big", what="chain id")
        + _hash160(feed, "a feed address")
        + _int(round_id, 10, "big", what="round id")
        + _int(answer, 32, "big", signed=True, what="answer")
        + _int(observed_at, 8, "big", what="observation time")
        + _config_hash(config_hash)
    )


def n3_price_report_message(
    magic: int,
    contract: bytes,
    pair: str,
    round_id: int,
    answer: int,
    observed_at: int,
    config_hash: bytes,
) -> bytes:
    """What the identity's secp256r1 key signs (SHA-256 of it) for round ``round_id`` of ``pair``.

    ``contract`` is the feed contract's hash as ``UInt160.to_array()`` (little-endian).
    """
    raw_pair = pair.encode()
    if not 0 < len(raw_pair) <= MAX_PAIR_BYTES:
        raise InvalidInput(f"a pair is 1-{MAX_PAIR_BYTES} UTF-8 bytes")
    _round(round_id, MAX_U64)
    if not 0 < answer <= MAX_N3_ANSWER:
        raise InvalidInput("an N3 price answer must be positive and below 2^255")
    return (
        N3_PRICE_TAG
        + _int(magic, 4, "little", what="network magic")
        + _hash160(contract, "a contract hash")
        + hashlib.sha256(raw_pair).digest()
        + _int(round_id, 8, "little", what="round id")
        + _int(answer, 32, "little", what="answer")
        + _int(observed_at, 8, "little", what="observation time")
        + _config_hash(config_hash)
    )
