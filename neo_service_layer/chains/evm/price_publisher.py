"""Publish price rounds on an EVM chain (Neo X) through one ``NSLPriceFeed``: a ``PricePublisher``.

:meth:`EvmPricePublisher.publish` sends one enclave-signed report as ``transmit(roundId, answer,
observedAt, signature)`` from the relayer, with the transaction machinery of the fulfillers
(:mod:`.relay`). It is safe to run any number of times, concurrently or after a crash at any point,
because it trusts only the chain and its ``chain_fulfilments`` row (service ``"pricefeed"``, key
:func:`publication_key` = SHA-256 of ``"<chain>:<feed address, lowercase>:<round id>"``; the relayer's
nonces are allocated from the pool the fulfillers use):

1. **reconcile first**: ``getRoundData(roundId)``. The chain has the round (ours, sent earlier even if we
   died before recording the receipt, or anyone's) → ``confirmed`` if its answer and ``updatedAt`` are
   the report's, else ``superseded`` (another report took the round: nothing is sent, no second round);
2. a transaction already recorded for the row → its receipt (and its replacements');
3. otherwise the report is recorded on the row (the first one recorded for a round is the one every
   later transaction carries: two pollers racing with different reports send one), the gas estimated
   (a revert here is decoded, below), and the relay signs, **records, then broadcasts** it, polls for
   its receipt, rebroadcasts it if the node forgot it, replaces it with fees +12.5 % (same nonce) after
   ``replace_after_seconds``.

A revert (estimated or mined) is reconciled from the chain first (1.); otherwise ``GatewayPaused`` is
retried later (:class:`FeedPaused`, a :class:`FulfilmentPending`), an observation time after the
previous round's but ahead of the chain's clock too (:class:`ObservationAhead`), and everything else
fails for good with the decoded reason: ``UnexpectedRound`` (a round beyond the next one),
``InvalidObservationTime`` (not after the previous round's), ``NotEnclaveSigned`` (a forged report).

**Fees**: a round has no payer yet (the gas bank is a later issue), so the relayer's spend per round is
capped by ``NSL_EVM_PRICEFEED_MAX_FEE_WEI`` (``settings.evm.pricefeed_max_fee_wei``): every signed
version has ``gas * maxFeePerGas <= max_fee_wei``, as the fulfiller's are capped by what a request paid;
when even the base fee does not fit, nothing is sent (``FeeBudgetExceeded``, retried later).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from web3 import Web3
from web3.types import TxReceipt

from neo_service_layer.chains.evm.contract_rpc import WouldRevert, revert_name
from neo_service_layer.chains.evm.price_feed_rpc import PriceFeedRpc, transmit_calldata
from neo_service_layer.chains.evm.relay import (
    TX_REVERTED,
    WOULD_REVERT,
    EvmRelay,
    FulfilPolicy,
    TransactionSigner,
    mined,
)
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.fulfilments import (
    ChainFulfilment,
    FulfilmentStatus,
    FulfilmentStore,
)
from neo_service_layer.chains.pricefeeds import (
    ChainRound,
    FeedPaused,
    ObservationAhead,
    PublishOutcome,
    PublishStatus,
    SignedReport,
)
from neo_service_layer.config import Settings
from neo_service_layer.config.groups import (
    DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI,
    DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS,
)
from neo_service_layer.db.session import Database
from neo_service_layer.errors import ConfigurationError

#: ``chain_fulfilments.service`` of a price round.
PRICEFEED_SERVICE = "pricefeed"
_ROUND_FIELDS = ["uint80", "int256", "uint64"]


class FeedNotConfigured(ConfigurationError):
    """No EVM node configured, or the node is another chain than the feed's."""

    code = "chain_not_configured"
    title = "EVM chain not configured"


def publication_key(chain: str, feed: str, round_id: int) -> str:
    """The ``chain_fulfilments.request_id`` of round ``round_id`` of ``feed`` on ``chain`` (64 hex)."""
    return hashlib.sha256(f"{chain}:{feed.lower()}:{round_id}".encode()).hexdigest()


def _encode(round_id: int, answer: int, observed_at: int) -> bytes:
    return abi_encode(_ROUND_FIELDS, [round_id, answer, observed_at])


def _decode(result: bytes) -> tuple[int, int, int]:
    round_id, answer, observed_at = abi_decode(_ROUND_FIELDS, result)
    return int(round_id), int(answer), int(observed_at)


class EvmPricePublisher:
    """Publishes the rounds of one ``NSLPriceFeed`` with the relayer of ``signer`` (module docstring)."""

    def __init__(
        self,
        rpc: PriceFeedRpc,
        store: FulfilmentStore,
        signer: TransactionSigner,
        *,
        chain_id: int,
        max_fee_wei: int = DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI,
        policy: FulfilPolicy | None = None,
        relay: EvmRelay | None = None,
        observation_wait_seconds: float = DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS,
    ) -> None:
        self.chain = f"evm:{chain_id}"
        if store.chain != self.chain:
            raise ValueError(f"the store is of {store.chain}, the publisher of {self.chain}")
        self.rpc = rpc
        self.store = store
        self.signer = signer
        self.max_fee_wei = max_fee_wei
        self.observation_wait_seconds = observation_wait_seconds
        self.relay = relay or EvmRelay(rpc, store, signer, chain_id=chain_id, policy=policy)

    @property
    def feed(self) -> str:
        """The feed contract's address (EIP-55)."""
        return self.rpc.address

    def key(self, round_id: int) -> str:
        """The ``chain_fulfilments`` key of round ``round_id`` of this feed."""
        return publication_key(self.chain, self.feed, round_id)

    async def latest(self) -> ChainRound | None:
        """The feed's latest round (``latestRoundData``), or None before the first (``NoDataPresent``)."""
        return await self.relay.call(self.rpc.latest)

    async def config_hash(self) -> bytes | None:
        """The feed's registered ``configHash`` (None before the owner sets one: it takes no report)."""
        return await self.relay.call(self.rpc.config_hash)

    async def publish(self, report: SignedReport) -> PublishOutcome:
        """Publish ``report`` to an outcome (module docstring); :class:`FulfilmentPending` (or a subclass)
        while its transaction is not mined yet or the feed cannot take it yet: call again later."""
        key = self.key(report.round_id)
        row = await self.store.ensure(key, PRICEFEED_SERVICE, 0)
        if row.status.final:
            return self._outcome(row, report)
        decided = await self._reconcile(report)
        if decided is not None:
            return decided
        row = await self.store.get(key)
        if row.status is FulfilmentStatus.PENDING:
            result, signature = await self.store.record_answer(key, lambda: self._record(report))
            round_id, answer, observed_at = _decode(result)
            data = transmit_calldata(SignedReport(round_id, answer, observed_at, signature))
            try:
                estimate = await self._estimate(report, data)
            except WouldRevert as e:
                return await self._refused(report, e.reason, None)
            row = await self.relay.send(
                key, data, gas=self.relay.gas_limit(estimate), budget=self.max_fee_wei
            )
        return await self.relay.track(
            row,
            budget=self.max_fee_wei,
            settle=lambda row, receipt: self._settle(report, row, receipt),
            reconcile=lambda: self._reconcile(report),
        )

    async def _estimate(self, report: SignedReport, data: bytes) -> int:
        """``eth_estimateGas`` of the transmit. A fresh observation is usually a second or two after the
        chain's latest block, which the contract refuses (it takes no observation from after its block):
        one observed at most ``observation_wait_seconds`` ahead waits here for a block that late, rather
        than a whole poll. :class:`WouldRevert` for anything else, or when no such block comes in time."""
        sender = await self.signer.relayer()
        deadline = time.monotonic() + self.observation_wait_seconds
        while True:
            try:
                return await self.relay.call(self.rpc.estimate_gas, sender, data)
            except WouldRevert as e:
                if not observation_ahead(e.reason) or time.monotonic() >= deadline:
                    raise
                ahead = report.observed_at - await self.relay.call(self.rpc.latest_block_time)
                if ahead > self.observation_wait_seconds:
                    raise
            await asyncio.sleep(self.relay.policy.poll_seconds)

    async def _record(self, report: SignedReport) -> tuple[bytes, bytes]:
        return _encode(report.round_id, report.answer, report.observed_at), report.signature

    async def _reconcile(self, report: SignedReport) -> PublishOutcome | None:
        """The outcome when the chain has the report's round already (module docstring, 1.), else None."""
        chain_round = await self.relay.call(self.rpc.round, report.round_id)
        if chain_round is None:
            return None
        key = self.key(report.round_id)
        row = await self.store.get(key)
        evidence: dict[str, Any] = {"tx_hash": None, "block_number": None, "gas_used": None}
        for tx_hash in reversed(row.tx_hashes):
            receipt = await self.relay.call(self.rpc.receipt, tx_hash)
            if receipt is not None and receipt["status"] == 1:
                evidence = mined(receipt)
                break
        else:
            log = await self.relay.call(self.rpc.find_answer, report.round_id)
            if log is not None:
                receipt = await self.relay.call(self.rpc.receipt, log.tx_hash)
                found = {"tx_hash": log.tx_hash, "block_number": log.block_number}
                evidence = mined(receipt) if receipt is not None else {**evidence, **found}
        landed = _encode(chain_round.round_id, chain_round.answer, chain_round.updated_at)
        return self._outcome(await self.store.confirm(key, landed, **evidence), report)

    async def _settle(self, report: SignedReport, row: ChainFulfilment, receipt: TxReceipt) -> PublishOutcome:
        key = self.key(report.round_id)
        if receipt["status"] == 1:
            log = self.rpc.answer_in(receipt, report.round_id)
            landed = _encode(report.round_id, log.answer, log.updated_at) if log is not None else None
            return self._outcome(await self.store.confirm(key, landed, **mined(receipt)), report)
        reason = await self.relay.revert_reason(row, receipt)
        return await self._refused(report, reason, receipt)

    async def _refused(self, report: SignedReport, reason: str, receipt: TxReceipt | None) -> PublishOutcome:
        """A revert (of the estimate, or of the mined ``receipt``): the chain decides first, then the
        reason (module docstring)."""
        decided = await self._reconcile(report)
        if decided is not None:
            return decided
        key = self.key(report.round_id)
        name = revert_name(reason)
        if name == "GatewayPaused" or observation_ahead(reason):
            if receipt is not None:
                # Mined and reverted: that transaction can never write the round, and its nonce is used.
                await self.store.update(
                    key, status=FulfilmentStatus.PENDING, nonce=None, tx=None, tx_hash=None, tx_hashes=[]
                )
            error = FeedPaused if name == "GatewayPaused" else ObservationAhead
            raise error(f"round {report.round_id} of {self.feed} on {self.chain}: {reason}; sending later")
        values = mined(receipt) if receipt is not None else {}
        failure = TX_REVERTED if receipt is not None else WOULD_REVERT
        row = await self.store.fail(key, failure, reason, **values)
        return self._outcome(row, report)

    def _outcome(self, row: ChainFulfilment, report: SignedReport) -> PublishOutcome:
        ours = row.tx_hash is not None and row.tx_hash in row.tx_hashes
        fee = (
            row.gas_used * row.effective_gas_price
            if ours and row.gas_used is not None and row.effective_gas_price is not None
            else None
        )
        common: dict[str, Any] = {
            "tx_hash": row.tx_hash,
            "block_number": row.block_number,
            "gas_used": row.gas_used,
            "fee": fee,
        }
        where = f"round {report.round_id} of {self.feed} on {self.chain}"
        if row.status is FulfilmentStatus.FAILED:
            detail = f"{where} refused: {row.failure_reason}: {row.failure_detail}"
            return PublishOutcome(PublishStatus.FAILED, detail=detail, **common)
        assert row.status is FulfilmentStatus.CONFIRMED
        if row.result is None:  # a success without its log: only a non-NSLPriceFeed contract does that
            return PublishOutcome(PublishStatus.CONFIRMED, detail=f"{where}: mined", **common)
        _, answer, updated_at = _decode(row.result)
        if (answer, updated_at) == (report.answer, report.observed_at):
            detail = f"{where}: answer {answer} observed at {updated_at}"
            return PublishOutcome(PublishStatus.CONFIRMED, detail=detail, **common)
        detail = (
            f"{where} holds answer {answer} observed at {updated_at} from another report; "
            f"this one ({report.answer} at {report.observed_at}) was not published"
        )
        return PublishOutcome(PublishStatus.SUPERSEDED, detail=detail, **common)


def observation_ahead(reason: str) -> bool:
    """``InvalidObservationTime(previous, got)`` with ``got`` after ``previous``: the report is not older
    than the last round, so it was refused for being after the block's timestamp (not yet valid)."""
    name, _, args = reason.partition("(")
    if name != "InvalidObservationTime":
        return False
    previous, got = (int(a) for a in args.rstrip(")").split(", "))
    return got > previous


async def evm_price_publisher(
    settings: Settings,
    db: Database,
    signer: TransactionSigner,
    feed: str,
    *,
    chain_id: int,
    w3: Web3 | None = None,
) -> EvmPricePublisher:
    """The publisher of ``feed`` (an ``NSLPriceFeed`` address) on EVM chain ``chain_id`` through
    ``settings.evm.rpc_url`` (or ``w3``), with the fee cap and timing of ``settings.evm``.

    :class:`FeedNotConfigured` without a node, or when the node is another chain.
    """
    if w3 is None:
        if not settings.evm.rpc_url:
            raise FeedNotConfigured("NSL_EVM_RPC_URL must be set to publish price rounds on EVM")
        w3 = node_web3(settings.evm.rpc_url)
    rpc = PriceFeedRpc(w3, feed)
    node_chain = await asyncio.to_thread(rpc.chain_id)
    if node_chain != chain_id:
        raise FeedNotConfigured(f"feed {rpc.address} is on evm:{chain_id}, the node is evm:{node_chain}")
    return EvmPricePublisher(
        rpc,
        FulfilmentStore(db, f"evm:{chain_id}"),
        signer,
        chain_id=chain_id,
        max_fee_wei=settings.evm.pricefeed_max_fee_wei,
        policy=FulfilPolicy.from_settings(settings.evm),
        observation_wait_seconds=settings.evm.pricefeed_observation_wait_seconds,
    )
