"""NSLPriceFeed for Neo N3 (neo3-boa 1.5): price pairs as Chainlink-style rounds, written by enclave-signed reports.

One contract holds every pair ("NEO/USD", ...). Each pair has Chainlink's round model (AggregatorV3Interface):
rounds 1, 2, 3, ... each with an answer (an integer scaled by the pair's ``decimals``) and the time the
enclave observed it; ``started_at = updated_at = observed_at`` and ``answered_in_round = round_id``.

- the owner (the deploying account) adds pairs (``add_feed``) and registers each pair's ``config_hash``
  (``set_config_hash``): the SHA-256 of the rules its price is observed under (sources, quorum, spread,
  outlier rule, quote age, decimals: docs/pricefeed.md "Trust"). A pair with no hash takes no report;
- anyone may relay a report (``transmit``); it is accepted only if the pair exists, the NSL gateway is not
  paused, the round is the next one (latest + 1: a report can be neither replayed nor skipped ahead),
  its observation time is after the previous round's and not after the block's, the answer is positive,
  and the enclave key the gateway trusts right now signed it (``CryptoLib.verifyWithECDsa``, secp256r1
  over SHA-256) over the report message, which is rebuilt here from the call's fields::

      "NSL-N3-PRICE-V2" ‖ magic (u32) ‖ this contract (20) ‖ SHA-256(pair) ‖ round id (u64) ‖
      answer (u256) ‖ observed at (u64, Unix seconds) ‖ config hash (32)      -- little-endian, 151 bytes

  with the pair's STORED config hash (the relayer does not pass it: a price observed under rules a
  compromised host rewrote does not verify), exactly as ``neo_service_layer.enclave.crypto.price_reports.n3_price_report_message`` builds it;
- the reads follow AggregatorV3Interface: ``latest_round_data(pair)`` / ``get_round_data(pair, round_id)``
  return ``[round_id, answer, started_at, updated_at, answered_in_round]`` and abort "no data present"
  for a round never written.

The gateway (its hash is the deployment's ``data``) is the one source of trust: its
``get_enclave_public_key`` and ``is_paused``, so rotating the enclave key or pausing the gateway covers the feeds too.
Compiled by neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import CryptoLib
from boa3.sc.types import ECPoint, Event, NamedCurveHash, UInt160
from boa3.sc.utils import CreateNewEvent, abort, call_contract, to_bytes, to_int


def manifest_metadata() -> NeoMetadata:
    """Manifest: reads the NSL gateway's enclave key and pause switch (its hash is set at deploy)."""
    meta = NeoMetadata()
    meta.name = "NSLPriceFeed"
    meta.author = "Neo Service Layer"
    meta.description = "NSL price feeds: Chainlink-style rounds written by enclave-signed reports"
    meta.add_permission(contract="*", methods=["get_enclave_public_key", "is_paused"])
    return meta


VERSION = 2
REPORT_TAG = b"NSL-N3-PRICE-V2"
CONFIG_HASH_SIZE = 32
MAX_PAIR_SIZE = 64
MAX_DESCRIPTION_SIZE = 256
MAX_DECIMALS = 18
MAX_FEEDS = 32767  # a 2-byte index without a sign byte
#: Round ids and observation times are u64 in the message; below 2^63 they need no sign byte.
MAX_U63 = 0x7FFFFFFFFFFFFFFF
ZEROS = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

# --- storage keys ----------------------------------------------------------------------------------------
# A pair is known by a 2-byte index given at add_feed: a round's key is b"r" + index + round id (a few
# bytes) instead of the pair's 32-byte hash, which N3 would charge as storage on every round.

KEY_OWNER = b"o"
KEY_GATEWAY = b"g"
KEY_PAIRS = b"a"
PREFIX_INDEX = b"i"  # + SHA-256(pair) -> index (2 bytes)
PREFIX_FEED = b"f"  # + index -> [pair, decimals, description]
PREFIX_LATEST = b"l"  # + index -> its observed at (8 bytes LE) + latest round id (NeoVM integer)
PREFIX_ROUND = b"r"  # + index + round id -> observed at (8 bytes LE) + answer (NeoVM integer)
PREFIX_CONFIG = b"c"  # + index -> the pair's config hash (32 bytes; absent: no report is taken)

# --- events ----------------------------------------------------------------------------------------------

on_answer_updated: Event = CreateNewEvent(
    [("pair", str), ("answer", int), ("round_id", int), ("updated_at", int)], "AnswerUpdated"
)
on_feed_added: Event = CreateNewEvent([("pair", str), ("decimals", int), ("description", str)], "FeedAdded")
on_config_hash_set: Event = CreateNewEvent([("pair", str), ("config_hash", bytes)], "ConfigHashSet")


@public
def _deploy(data: Any, update: bool) -> None:
    """``data`` is the NSL gateway's script hash; the deployer becomes the owner."""
    if update:
        return
    storage.put_uint160(KEY_GATEWAY, cast(UInt160, data))
    storage.put_uint160(KEY_OWNER, runtime.script_container.sender)
    empty: list[str] = []
    storage.put_list(KEY_PAIRS, empty)


# --- encodings -------------------------------------------------------------------------------------------


def le(value: int, width: int) -> bytes:
    """``value`` (0 <= value < 2^(8 width - 1)) as ``width`` little-endian bytes.

    NeoVM's own integer encoding (minimal little-endian two's complement, no bytes for 0), which CAT and
    SIZE use for an Integer as it is, padded with zeros: boa's ``to_bytes`` is a loop of opcodes."""
    raw = cast(bytes, value)
    return raw + ZEROS[0 : width - len(raw)]


def index_of(pair: str) -> bytes:
    """The pair's 2-byte index; aborts "unknown pair"."""
    index = storage.get(PREFIX_INDEX + CryptoLib.sha256(to_bytes(pair)))
    if len(index) == 0:
        abort("unknown pair")
    return index


def round_key(index: bytes, round_id: int) -> bytes:
    return PREFIX_ROUND + index + cast(bytes, round_id)


def message_of(pair_hash: bytes, round_id: int, answer: int, observed_at: int, rules: bytes) -> bytes:
    return (
        REPORT_TAG
        + le(runtime.get_network(), 4)
        + runtime.executing_script_hash
        + pair_hash
        + le(round_id, 8)
        + le(answer, 32)
        + le(observed_at, 8)
        + rules
    )


# --- reports ---------------------------------------------------------------------------------------------


@public(safe=True)
def report_message(pair: str, round_id: int, answer: int, observed_at: int, config_hash: bytes) -> bytes:
    """The message the enclave signs (ECDSA P-256 over its SHA-256) for this report observed under
    ``config_hash`` (module docstring); ``transmit`` uses the pair's stored hash."""
    if round_id < 0 or round_id > MAX_U63 or observed_at < 0 or observed_at > MAX_U63:
        abort("round id or observation time out of range")
    # A NeoVM integer is below 2^255 (price_reports.MAX_N3_ANSWER): only the sign needs a check.
    if answer <= 0:
        abort("answer must be positive")
    if len(config_hash) != CONFIG_HASH_SIZE:
        abort("a config hash is 32 bytes")
    return message_of(CryptoLib.sha256(to_bytes(pair)), round_id, answer, observed_at, config_hash)


@public
def transmit(pair: str, round_id: int, answer: int, observed_at: int, signature: bytes) -> None:
    """Record round ``round_id`` of ``pair`` from an enclave-signed report; emits ``AnswerUpdated``."""
    gateway = storage.get_uint160(KEY_GATEWAY)
    paused: bool = call_contract(gateway, "is_paused")
    if paused:
        abort("gateway is paused")
    pair_hash = CryptoLib.sha256(to_bytes(pair))
    index = storage.get(PREFIX_INDEX + pair_hash)
    if len(index) == 0:
        abort("unknown pair")
    rules = storage.get(PREFIX_CONFIG + index)
    if len(rules) == 0:
        abort("config hash not set")
    # One read for both: the latest round id and its observation time (nothing before the first round).
    latest_entry = storage.get(PREFIX_LATEST + index)
    if round_id != to_int(latest_entry[8:]) + 1:
        abort("unexpected round")
    previous = to_int(latest_entry[0:8])
    # Two messages: a report older than the round before can never be taken; one from the future can
    # be, a block later (runtime.time is the block's timestamp in milliseconds).
    if observed_at <= previous:
        abort("invalid observation time: not after the previous round's")
    if observed_at * 1000 > runtime.time:
        abort("invalid observation time: in the future")
    # A NeoVM integer is below 2^255 (price_reports.MAX_N3_ANSWER): only the sign needs a check.
    if answer <= 0:
        abort("answer must be positive")
    enclave_key: ECPoint = call_contract(gateway, "get_enclave_public_key")
    message = message_of(pair_hash, round_id, answer, observed_at, rules)
    if not CryptoLib.verify_with_ecdsa(message, enclave_key, signature, NamedCurveHash.SECP256R1SHA256):
        abort("signature is not from the enclave key")
    observed = le(observed_at, 8)
    storage.put(round_key(index, round_id), observed + cast(bytes, answer))
    storage.put(PREFIX_LATEST + index, observed + cast(bytes, round_id))
    on_answer_updated(pair, answer, round_id, observed_at)


# --- reads (AggregatorV3Interface) -----------------------------------------------------------------------


def latest_of(index: bytes) -> int:
    return to_int(storage.get(PREFIX_LATEST + index)[8:])


def round_data(index: bytes, round_id: int) -> list[int]:
    stored = b""
    if round_id > 0:
        stored = storage.get(round_key(index, round_id))
    if len(stored) == 0:
        abort("no data present")
    observed_at = to_int(stored[0:8])
    answer = to_int(stored[8:])
    return [round_id, answer, observed_at, observed_at, round_id]


@public(safe=True)
def latest_round_data(pair: str) -> list[int]:
    """``[round_id, answer, started_at, updated_at, answered_in_round]`` of the latest round (times in
    Unix seconds: the enclave's observation time); aborts "no data present" before the first."""
    index = index_of(pair)
    return round_data(index, latest_of(index))


@public(safe=True)
def get_round_data(pair: str, round_id: int) -> list[int]:
    """Round ``round_id`` of ``pair`` as ``latest_round_data``; aborts "no data present" if never written."""
    return round_data(index_of(pair), round_id)


@public(safe=True)
def latest_round(pair: str) -> int:
    """The latest round id of ``pair`` (0 before the first)."""
    return latest_of(index_of(pair))


@public(safe=True)
def decimals(pair: str) -> int:
    """The number of decimals of ``pair``'s answers."""
    feed = storage.get_list(PREFIX_FEED + index_of(pair))
    value: int = feed[1]
    return value


@public(safe=True)
def description(pair: str) -> str:
    """The description of ``pair`` (e.g. "NEO / USD")."""
    feed = storage.get_list(PREFIX_FEED + index_of(pair))
    value: str = feed[2]
    return value


@public(safe=True)
def config_hash(pair: str) -> bytes:
    """The hash of the rules ``pair``'s reports must be observed under; empty before the owner sets one."""
    return storage.get(PREFIX_CONFIG + index_of(pair))


@public(safe=True)
def version() -> int:
    """The report format version (AggregatorV3Interface ``version``)."""
    return VERSION


@public(safe=True)
def pairs() -> list[str]:
    """Every pair, in the order they were added."""
    return cast(list[str], storage.get_list(KEY_PAIRS))


@public(safe=True)
def gateway() -> UInt160:
    """The NSL gateway whose enclave key and pause switch this contract follows."""
    return storage.get_uint160(KEY_GATEWAY)


@public(safe=True)
def owner() -> UInt160:
    """The owner (the deployer): the account that adds pairs and registers their config hashes."""
    return storage.get_uint160(KEY_OWNER)


# --- administration --------------------------------------------------------------------------------------


@public
def add_feed(pair: str, decimals: int, description: str) -> None:
    """Add ``pair`` (1-64 bytes, e.g. "NEO/USD") with answers of ``decimals`` (0-18) decimals; owner only."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    if len(pair) == 0 or len(pair) > MAX_PAIR_SIZE:
        abort("a pair is 1-64 bytes")
    if decimals < 0 or decimals > MAX_DECIMALS:
        abort("decimals must be 0-18")
    if len(description) > MAX_DESCRIPTION_SIZE:
        abort("description too long")
    index_key = PREFIX_INDEX + CryptoLib.sha256(to_bytes(pair))
    if len(storage.get(index_key)) > 0:
        abort("feed exists")
    names: list[str] = storage.get_list(KEY_PAIRS)
    if len(names) >= MAX_FEEDS:
        abort("too many feeds")
    names.append(pair)
    index = le(len(names), 2)
    storage.put(index_key, index)
    feed: list[Any] = [pair, decimals, description]
    storage.put_list(PREFIX_FEED + index, feed)
    storage.put_list(KEY_PAIRS, names)
    on_feed_added(pair, decimals, description)


@public
def set_config_hash(pair: str, config_hash: bytes) -> None:
    """Register the hash of the rules ``pair``'s reports must be observed under (``nsl feeds config-hash
    PAIR``); owner only. It takes effect at once: reports under the old rules are refused from now on."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    if len(config_hash) != CONFIG_HASH_SIZE:
        abort("a config hash is 32 bytes")
    storage.put(PREFIX_CONFIG + index_of(pair), config_hash)
    on_config_hash_set(pair, config_hash)
