"""What the price feed service asks of a chain: publish one enclave-signed round, read the latest one.

Shared by the chain families (issue 15; the EVM ``NSLPriceFeed`` contract, one per pair, and the N3
``nsl_price_feed`` contract, one for every pair). A :class:`PricePublisher` serves one feed on one chain:

- :meth:`PricePublisher.latest` reads the contract's latest round (``None`` before the first);
- :meth:`PricePublisher.config_hash` reads the hash of the feed rules the contract takes reports under
  (the poller publishes only a round observed under that hash);
- :meth:`PricePublisher.publish` sends one :class:`SignedReport` (the enclave's signature over the
  round's fields, made for this chain and this feed) and says how it ended as a :class:`PublishOutcome`.
  It is idempotent and resumable: called again with the same report after a crash at any point, it
  resumes the transaction it recorded (in ``chain_fulfilments``, service ``"pricefeed"``) and never
  sends a second round. A round the chain already has is ``CONFIRMED`` when the chain's round equals
  the report (answer and observation time), else ``SUPERSEDED`` (another report took it: a lost race);
  a report the contract refuses for good (not signed by the enclave, a bad observation time) is
  ``FAILED`` with the decoded reason.

Answers are integers scaled by the feed's decimals; times are Unix seconds. No floats anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from neo_service_layer.chains.fulfilments import FulfilmentPending


@dataclass(frozen=True, slots=True)
class ChainRound:
    """The contract's latest round: its id, answer (scaled by the feed's decimals) and the time (Unix
    seconds) the enclave observed it, which is the round's ``updatedAt``."""

    round_id: int
    answer: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class SignedReport:
    """One round as the enclave signed it for one feed contract: ``round_id`` is the contract's latest
    round + 1, ``observed_at`` the enclave's clock (Unix seconds), ``signature`` the chain's format
    (EVM: 65 bytes ``r ‖ s ‖ v``; N3: 64 bytes ``r ‖ s``)."""

    round_id: int
    answer: int
    observed_at: int
    signature: bytes


class PublishStatus(StrEnum):
    """How a publication ended: the chain has the report's round (``confirmed``), the chain has another
    report's round of that id (``superseded``: a lost race, nothing more is sent), or the report can never
    be published (``failed``, with the decoded reason)."""

    CONFIRMED = "confirmed"
    SUPERSEDED = "superseded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """The end of one publication: the transaction that wrote the round (when known), its block, gas and
    the fee actually paid (wei on EVM, datoshi on N3), and a human sentence (the reason when failed)."""

    status: PublishStatus
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    fee: int | None
    detail: str


class PricePublisher(Protocol):
    """Publishes the rounds of one feed on one chain (module docstring)."""

    #: ``"evm:<chain id>"`` or ``"n3:<network magic>"``.
    chain: str

    async def latest(self) -> ChainRound | None:
        """The contract's latest round, or None before the first."""
        ...

    async def config_hash(self) -> bytes | None:
        """The 32-byte hash of the feed rules the contract takes reports under (registered by its owner;
        ``enclave.pricefeed.config_hash``), or None while none is registered (it takes no report)."""
        ...

    async def publish(self, report: SignedReport) -> PublishOutcome:
        """Publish ``report`` (idempotent, resumable: module docstring)."""
        ...


class FeedPaused(FulfilmentPending):
    """The gateway (whose pause switch the feed follows) is paused: the round is sent once it resumes."""

    code = "pricefeed_paused"
    title = "Price feed paused"


class ObservationAhead(FulfilmentPending):
    """The report's observation time is ahead of the chain's latest block: sent once the chain catches up."""

    code = "pricefeed_observation_ahead"
    title = "Price observation ahead of the chain's clock"
