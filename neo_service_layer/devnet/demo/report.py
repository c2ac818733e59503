"""What ``nsl devnet demo`` found on chain, and how it says it to a person (lines of plain text)."""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from neo_service_layer.devnet.demo.formats import OracleAnswer, typed_value, verify_snippet

if TYPE_CHECKING:  # the chain libraries load only with the price feed demo
    from neo_service_layer.devnet.demo.feed_demo import PriceFeedDemo

#: Width of a report row's name column (two spaces at least before the value).
_NAME_WIDTH = 14
#: Chain names as the commands take them (``--chain``) and as the demo prints them.
CHAIN_NAMES = {"evm": "EVM (anvil)", "n3": "Neo N3 (neo-go)"}


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a request and its fulfilment landed."""

    chain: str  # "evm" | "n3"
    consumer: str  # the example consumer's address / script hash
    request_id: str  # EVM: 0x-hex bytes32; N3: the integer, in decimal
    request_tx: str
    request_block: int
    fulfil_tx: str
    fulfil_block: int
    callback_success: bool


@dataclass(frozen=True, slots=True)
class RandomnessDemo:
    """A randomness request answered: the output, what the consumer kept, and the offline check."""

    delivery: Delivery
    seed: bytes
    verify_on_chain: bool
    beta: bytes  # the DY-VRF output, from the gateway's Fulfilled event
    consumer_value: bytes  # what the consumer's callback stored
    public_key: bytes  # compressed G1 (48 bytes): the gateway's VRF key of the request's version
    key_version: int
    alpha: bytes
    pi: bytes  # compressed G2 (96 bytes)
    verified_offline: bool  # dyvrf.verify(public_key, alpha, pi) == beta


@dataclass(frozen=True, slots=True)
class OracleDemo:
    """An oracle request answered: the URL and filter asked, the code and data delivered."""

    delivery: Delivery
    url: str
    filter: str | None
    answer: OracleAnswer
    consumer_result: bytes  # what the consumer's callback stored
    extract: str | None = None  # EVM: the typed value asked for ("uint256:8", ...)


@dataclass(frozen=True, slots=True)
class FunctionsDemo:
    """A function called from a contract: what was asked, what the callback got and what the consumer
    kept (``code``, ``source_hash``, ``data`` as the result carries them)."""

    delivery: Delivery
    function_id: str
    version: int
    args: str
    pinned: str  # hex SHA-256 of the source the request pinned
    code: str  # the FunctionCode's name
    source_hash: bytes  # of the code that ran (zero when nothing ran)
    data: bytes
    consumer_code: int
    consumer_data: bytes


def _row(name: str, value: str) -> str:
    return f"{name:<{_NAME_WIDTH}}{value}"


def _delivery_lines(d: Delivery) -> list[str]:
    blocks = d.fulfil_block - d.request_block
    callback = "succeeded" if d.callback_success else "FAILED"
    return [
        _row("request id", d.request_id),
        _row(
            "requested", f"tx {d.request_tx} (block {d.request_block}) by the example consumer {d.consumer}"
        ),
        _row(
            "fulfilled",
            f"tx {d.fulfil_tx} (block {d.fulfil_block}, {blocks} block(s) later); callback {callback}",
        ),
    ]


def randomness_lines(demo: RandomnessDemo) -> list[str]:
    """The randomness demo's report."""
    d = demo.delivery
    beta_int = int.from_bytes(demo.beta, "big")
    same = "(= beta)" if demo.consumer_value == demo.beta else "(differs from beta!)"
    lines = [
        f"Randomness on {CHAIN_NAMES[d.chain]}",
        *_delivery_lines(d),
        _row("seed", f"0x{demo.seed.hex()}"),
        _row("random value", f"0x{demo.beta.hex()}  (beta, the DY-VRF output: 32 bytes)"),
        _row("  as uint256", str(beta_int)),
        _row("  a die roll", f"{beta_int % 6 + 1}  (uint256 % 6 + 1)"),
        _row("consumer", f"stored 0x{demo.consumer_value.hex()}  {same}"),
    ]
    if demo.verify_on_chain:
        lines.append(
            _row(
                "verified",
                "ON CHAIN: the gateway checked the DY-VRF proof against its VRF key "
                f"(version {demo.key_version}) before calling back",
            )
        )
    else:
        lines.append(
            _row("verified", "by the enclave's signature only (--signature-only); the proof is public")
        )
    offline = "yes" if demo.verified_offline else "NO"
    lines += [
        _row("verified", f"OFFLINE: dyvrf.verify(gateway VRF key, alpha, pi) == beta: {offline}"),
        "",
        "Check it yourself (any machine with this package; prints beta):",
        "  " + verify_snippet(demo.public_key, demo.alpha, demo.pi),
        "(the key is the gateway's VRF key, alpha the gateway's input for this request, pi the proof in",
        " the gateway's Fulfilled event; docs/dyvrf.md)",
    ]
    return lines


def oracle_lines(demo: OracleDemo) -> list[str]:
    """The oracle demo's report."""
    d = demo.delivery
    text = None if demo.extract else demo.answer.text  # a typed value is ABI bytes, not text
    shown = repr(text) if text is not None else f"0x{demo.answer.data.hex()}"
    stored = demo.consumer_result
    typed: list[str] = []
    if demo.extract:
        typed.append(_row("extract", demo.extract))
        if demo.answer.data:
            try:
                typed.append(_row("value", typed_value(demo.answer.data, demo.extract)))
            except ValueError as e:
                typed.append(_row("value", f"undecodable: {e}"))
    return [
        f"Oracle on {CHAIN_NAMES[d.chain]}",
        *_delivery_lines(d),
        _row("url", demo.url),
        _row("filter", demo.filter or "(none: the whole body)"),
        *typed[:1],
        _row("code", demo.answer.code_name),
        _row("data", f"{shown}  ({len(demo.answer.data)} bytes)"),
        *typed[1:],
        _row("consumer", f"stored 0x{stored.hex()}" if len(stored) <= 64 else f"stored {len(stored)} bytes"),
        "",
        "The answer is the enclave's: the gateway took it only with the enclave's signature over the",
        "request's payload hash and this result (docs/oracle.md). Compare with the source:",
        f"  curl -s {shlex.quote(demo.url)}",
    ]


def _scaled(answer: int, decimals: int) -> str:
    """``answer`` with its ``decimals`` as a decimal number, exactly (no float)."""
    return str(Decimal(answer).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals)))


def pricefeed_lines(demo: PriceFeedDemo) -> list[str]:
    """The price feed demo's report."""
    r = demo.round
    observed = dt.datetime.fromtimestamp(r.observed_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = "not in this platform's database" if demo.tx_hash is None else demo.tx_hash
    blocks = "-" if demo.block is None else str(demo.block - demo.start_block)
    polls = f"{demo.polls} poll{'s' if demo.polls != 1 else ''}: {', '.join(demo.actions)}"
    return [
        f"Price feed {demo.pair} on {CHAIN_NAMES[demo.chain]}",
        _row("moved", f"{demo.previous_price} -> {demo.price} on every exchange of the simulator"),
        _row("feed", demo.feed),
        _row("consumer", demo.consumer),
        _row("round", str(r.round_id)),
        _row("answer", f"{r.answer}  (= {_scaled(r.answer, demo.decimals)} with {demo.decimals} decimals)"),
        _row("observed at", f"{observed}  ({r.observed_at})"),
        _row("transaction", where + ("" if demo.block is None else f"  (block {demo.block})")),
        _row("took", f"{blocks} blocks, {demo.seconds:.1f} s  ({polls})"),
        "",
        "The answer is the median of the exchanges the enclave fetched, signed by the enclave for this",
        "feed and round; the contract took it only with that signature (docs/pricefeed.md).",
    ]


def functions_lines(demo: FunctionsDemo) -> list[str]:
    """The functions demo's report."""
    d = demo.delivery
    ran = demo.source_hash.hex() == demo.pinned
    same = "the same" if demo.consumer_data == demo.data else "DIFFERENT"
    return [
        f"Function call on {CHAIN_NAMES[d.chain]}",
        *_delivery_lines(d),
        _row("function", f"{demo.function_id} (version {demo.version}; nsl devnet's system account)"),
        _row("args", demo.args),
        _row("pinned", f"sha256 {demo.pinned}"),
        _row("code", demo.code),
        _row("ran", f"sha256 {demo.source_hash.hex()}" + ("  (= the pinned source)" if ran else "")),
        _row("data", repr(demo.data.decode("utf-8", "replace"))),
        _row("consumer", f"stored code {demo.consumer_code} and {same} data"),
        "",
        "The enclave ran exactly the pinned source and signed the result over the request's payload hash;",
        "the gateway took it only with that signature (docs/functions.md §10). The run is recorded with",
        f"trigger chain: GET /v1/functions/{demo.function_id}/runs (the system account's admin key).",
    ]
