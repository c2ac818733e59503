"""The price feed's enclave op ``pricefeed.observe`` (handler: ``handlers/pricefeed.py``; issue 15).

One poll of one feed: the args are the feed's definition (pair, decimals, sources, aggregation and
trigger rules), what the chains last published (``last``), the value a tripped circuit breaker holds
(``pending``) and the rounds to sign for (``targets``). The result is the whole observation — every
source's quote or failure, what was used and dropped, the decision — and, when publishing, one report
per target signed for its feed contract (``crypto/price_reports.py``). The op is signed, so the
observation itself is verifiable offline: the envelope covers the feed's rules (the request) and all
of the above (the result).

All of the feed's rules are checked here as well as by the service's configuration: the enclave signs
only what it can stand behind (at least one source, a quorum it can reach, thresholds > 0).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Final, Literal, Self

from pydantic import Field, model_validator

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.opdefs.base import SignedOp
from neo_service_layer.enclave.opdefs.chains import ChainId, N3ScriptHash
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.enclave.schemas import EnclaveModel, EvmAddress, SignedArgs

#: The platform account price-feed polls run under (signing scope and the fetcher's tenant): no tenant's.
PRICEFEED_ACCOUNT_ID: Final = "nsl-pricefeed"
MAX_SOURCES: Final = 20
MAX_DECIMALS: Final = 18
#: A bound on every bps setting (100x): larger is a typo, not a policy.
MAX_BPS: Final = 1_000_000
MAX_AGE_S: Final = 7 * 24 * 3600
# Decimal text for the MAD multiplier: bounded digits, no exponent; >= 1 is checked below.
MAD_K_PATTERN: Final = r"^[0-9]{1,4}(\.[0-9]{1,6})?$"
PAIR_PATTERN: Final = r"^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$"

Bps = Annotated[int, Field(ge=1, le=MAX_BPS)]
Seconds = Annotated[int, Field(ge=1, le=MAX_AGE_S)]
SafeInt = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
RoundId = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]

# "ok", "fetch_failed" or a QuoteRejected code (quote.QUOTE_REJECTION_CODES; a test keeps them equal).
SourceStatus = Literal[
    "ok", "fetch_failed", "malformed", "unknown_symbol", "zero", "negative", "absurd", "exchange_error"
]
Exclusion = Literal["stale", "outlier"]
ObserveAction = Literal["publish", "unchanged", "breaker_pending", "insufficient_sources", "spread_too_wide"]


class EvmTarget(EnclaveModel):
    """An NSLPriceFeed contract (one per pair) on an EVM chain; ``round_id`` = its latest round + 1."""

    kind: Literal["evm"]
    chain_id: ChainId
    feed: EvmAddress
    round_id: RoundId


class N3Target(EnclaveModel):
    """The nsl_price_feed contract (display-form hash) on a Neo N3 network; ``round_id`` = latest + 1."""

    kind: Literal["n3"]
    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    contract: N3ScriptHash
    round_id: RoundId


class PublishedArg(EnclaveModel):
    """A published (or pending) answer and when the enclave observed it."""

    answer: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    observed_at: SafeInt


class ObserveArgs(SignedArgs):
    """``pricefeed.observe``: one poll of one feed (module docstring)."""

    account_id: Literal["nsl-pricefeed"] = PRICEFEED_ACCOUNT_ID
    feed_id: Annotated[str, Field(min_length=1, max_length=64)]
    pair: Annotated[str, Field(pattern=PAIR_PATTERN)]
    decimals: Annotated[int, Field(ge=0, le=MAX_DECIMALS)] = 8
    sources: Annotated[list[SourceSpec], Field(min_length=1, max_length=MAX_SOURCES)]
    min_sources: Annotated[int, Field(ge=1, le=MAX_SOURCES)]
    max_quote_age_s: Seconds
    outlier_mad_k: Annotated[str, Field(pattern=MAD_K_PATTERN)]
    max_spread_bps: Bps
    deviation_bps: Bps
    heartbeat_s: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    breaker_bps: Annotated[int, Field(ge=0, le=MAX_BPS)] = 0
    last: PublishedArg | None = None
    pending: PublishedArg | None = None
    targets: Annotated[
        list[Annotated[EvmTarget | N3Target, Field(discriminator="kind")]], Field(max_length=16)
    ] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique within a feed")
        if self.min_sources > len(self.sources):
            raise ValueError(f"min_sources {self.min_sources} is more than the {len(self.sources)} sources")
        if self.mad_k() < 1:
            raise ValueError("outlier_mad_k must be at least 1 (below, one source could move the answer)")
        if self.breaker_bps and self.breaker_bps <= self.deviation_bps:
            raise ValueError("breaker_bps must be 0 (no breaker) or above deviation_bps")
        if self.pending is not None and self.last is None:
            raise ValueError("a pending breaker value needs a last published answer")
        return self

    def mad_k(self) -> Decimal:
        """``outlier_mad_k`` as a Decimal (its pattern admits only plain decimal text)."""
        try:
            return Decimal(self.outlier_mad_k)
        except InvalidOperation as exc:  # unreachable behind the pattern; kept typed
            raise ValueError("outlier_mad_k is not a decimal") from exc


class SourceReport(EnclaveModel):
    """What one source gave: its quote (Decimal text) or why none, and whether the answer used it."""

    name: str
    adapter: str
    status: SourceStatus
    detail: str
    price: str | None
    quote_time: int | None
    volume: str | None
    used: bool
    excluded: Exclusion | None


class TargetReport(EnclaveModel):
    """One round signed for one feed contract: EVM 65-byte ``r‖s‖v`` by the identity's secp256k1 key
    (``signer`` its address), N3 64-byte ``r‖s`` by its secp256r1 key (``signer`` the compressed key)."""

    kind: Literal["evm", "n3"]
    chain_id: int | None
    network_magic: int | None
    feed: str
    round_id: int
    answer: int
    observed_at: int
    #: The feed rules' hash (hex) the report is signed over (``pricefeed/config_hash.py``).
    config_hash: str
    signature: str
    signer: str


class ObserveResult(EnclaveModel):
    """The observation: every source, the decision and, when publishing, one report per target."""

    feed_id: str
    pair: str
    decimals: int
    action: ObserveAction
    reason: str
    answer: int | None
    median: str | None
    observed_at: int
    #: SHA-256 (hex) of the rules the price was observed under, computed by the op from its own args
    #: (``pricefeed/config_hash.py``): the hash the feed contracts must have registered to take a report.
    config_hash: str
    sources: list[SourceReport]
    reports: list[TargetReport]


OBSERVE: Final = SignedOp("pricefeed.observe", ObserveArgs, ObserveResult)
