"""Publish enclave-signed price rounds to the N3 price feed contract (``contracts/nsl_price_feed.py``).

:class:`N3PricePublisher` is the ``chains.pricefeeds.PricePublisher`` of one (contract, pair) on one N3
network. It trusts only the chain and the ``chain_fulfilments`` row it records per round (service
``pricefeed``, key :func:`publication_key`), so it is safe to call again, concurrently or after a crash at
any point, with the same report:

1. a row whose round the chain already decided (``confirmed``) answers at once: ``CONFIRMED`` if the
   round the chain holds is this report (answer and observation time), else ``SUPERSEDED``;
2. a transaction recorded for the row (``sent``) is tracked (``relay.N3Relay.wait``: re-broadcast if the
   node does not have it — a crash between recording and broadcasting); in a block → step 3;
3. **reconcile**: the chain has the round (``get_round_data``) → ``CONFIRMED`` / ``SUPERSEDED`` as in 1,
   recorded, nothing sent;
4. otherwise ``transmit(pair, round, answer, observed_at, signature)`` is test-invoked as the relayer; a
   transaction costing more than ``NSL_N3_PRICEFEED_MAX_FEE`` is never signed (``FAILED``,
   ``fee_cap_exceeded``: N3 fees do not move with a market); the relayer key signs it in the enclave and
   it is **recorded, then broadcast**; once its valid-until height passes unseen it is rebuilt
   (``max_resends`` times).

A FAULT (of the test invocation, or in the block) is reconciled from the chain first (3.: a race, the
round was just taken); otherwise, as on EVM, a paused gateway raises ``FeedPaused`` and an observation
after the previous round's but ahead of the chain's clock ``ObservationAhead`` (both
``FulfilmentPending``: publish again later), and anything else is ``FAILED`` with a stable reason decoded
from the contract's message (:data:`REASONS`). The contract takes each round once (``round_id == latest
+ 1``), so no interleaving of publishers makes a double round or a gap; and a ``FAILED`` row is not final
either (nothing of its round is on the chain): the next call with a report for that round tries again.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neo_service_layer.chains.fulfilments import (
    ChainFulfilment,
    FulfilmentPending,
    FulfilmentStatus,
    FulfilmentStore,
)
from neo_service_layer.chains.neo_n3.errors import N3PriceFeedError
from neo_service_layer.chains.neo_n3.fulfiller import DEFAULT_MAX_RESENDS, DEFAULT_TIMEOUT_SECONDS
from neo_service_layer.chains.neo_n3.relay import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_VALID_BLOCKS,
    N3Relay,
    N3TransactionSigner,
    call_script,
    vm_state,
)
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.pricefeeds import (
    ChainRound,
    FeedPaused,
    ObservationAhead,
    PublishOutcome,
    PublishStatus,
    SignedReport,
)
from neo_service_layer.config.groups import DEFAULT_N3_PRICEFEED_MAX_FEE, N3Settings
from neo_service_layer.db.session import Database

#: ``chain_fulfilments.service`` of a price round.
PRICEFEED_SERVICE = "pricefeed"
# Stable failure reasons (chain_fulfilments.failure_reason, PublishOutcome.detail's first word).
NOT_ENCLAVE_SIGNED = "not_enclave_signed"
STALE_OBSERVATION = "observation_not_after_previous"
FUTURE_OBSERVATION = "observation_in_future"
UNEXPECTED_ROUND = "unexpected_round"
GATEWAY_PAUSED = "gateway_paused"
UNKNOWN_PAIR = "unknown_pair"
INVALID_ANSWER = "invalid_answer"
CONFIG_NOT_SET = "config_not_set"
FEE_CAP_EXCEEDED = "fee_cap_exceeded"
WOULD_FAULT = "would_fault"
TX_FAULTED = "tx_faulted"
SUPERSEDED = "superseded"
#: The contract's abort messages (nsl_price_feed.transmit) -> stable reasons.
REASONS: tuple[tuple[str, str], ...] = (
    ("signature is not from the enclave key", NOT_ENCLAVE_SIGNED),
    ("not after the previous round", STALE_OBSERVATION),
    ("in the future", FUTURE_OBSERVATION),
    ("unexpected round", UNEXPECTED_ROUND),
    ("gateway is paused", GATEWAY_PAUSED),
    ("unknown pair", UNKNOWN_PAIR),
    ("answer must be positive", INVALID_ANSWER),
    ("config hash not set", CONFIG_NOT_SET),
)
_NO_DATA = "no data present"


@dataclass(frozen=True, slots=True)
class N3PublishPolicy:
    """Timing (the fulfillers') and the fee cap of one publisher: :meth:`from_settings`."""

    valid_blocks: int = DEFAULT_VALID_BLOCKS
    max_resends: int = DEFAULT_MAX_RESENDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_fee: int = DEFAULT_N3_PRICEFEED_MAX_FEE  # datoshi, system + network fee of one transmit

    @classmethod
    def from_settings(cls, n3: N3Settings) -> N3PublishPolicy:
        """The policy of the ``NSL_N3_FULFIL_*`` settings and ``NSL_N3_PRICEFEED_MAX_FEE``."""
        return cls(
            valid_blocks=n3.fulfil_valid_blocks,
            max_resends=n3.fulfil_max_resends,
            poll_seconds=n3.fulfil_poll_seconds,
            timeout_seconds=n3.fulfil_timeout_seconds,
            max_fee=n3.pricefeed_max_fee,
        )


def publication_key(chain: str, contract: str, pair: str, round_id: int) -> str:
    """The row key of one round: SHA-256 hex of ``"<chain>:<contract 0x…>:<pair>:<round>"``."""
    return hashlib.sha256(f"{chain}:{contract}:{pair}:{round_id}".encode()).hexdigest()


def round_bytes(answer: int, observed_at: int) -> bytes:
    """A round as the row keeps it (``result``): answer (u256) ‖ observed at (u64), little-endian."""
    return answer.to_bytes(32, "little", signed=True) + observed_at.to_bytes(8, "little")


def reason_of(exception: str, otherwise: str) -> str:
    """The stable reason of a FAULT's message (:data:`REASONS`), else ``otherwise``."""
    return next((reason for words, reason in REASONS if words in exception), otherwise)


class N3PricePublisher:
    """Publishes the rounds of ``pair`` to the feed contract ``contract`` (module docstring)."""

    def __init__(
        self,
        rpc: N3Rpc,
        contract: str,
        pair: str,
        store: FulfilmentStore,
        signer: N3TransactionSigner,
        *,
        policy: N3PublishPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``contract``: the feed's hash, ``0x`` display form; ``store``: the rows of chain ``n3:<magic>``."""
        self.rpc = rpc
        self.contract = contract.lower()
        self.pair = pair
        self.store = store
        self.chain = store.chain
        self.policy = policy or N3PublishPolicy()
        self._clock = clock
        self.relay = N3Relay(rpc, store, signer, self.policy, clock=clock)

    @classmethod
    async def connect(
        cls,
        rpc: N3Rpc,
        contract: str,
        pair: str,
        db: Database,
        signer: N3TransactionSigner,
        *,
        policy: N3PublishPolicy | None = None,
    ) -> N3PricePublisher:
        """A publisher on the network ``rpc`` serves (its magic asked once)."""
        store = FulfilmentStore(db, f"n3:{await rpc.magic()}")
        return cls(rpc, contract, pair, store, signer, policy=policy)

    def key(self, round_id: int) -> str:
        """The ``chain_fulfilments`` key of round ``round_id``."""
        return publication_key(self.chain, self.contract, self.pair, round_id)

    # --- reads -----------------------------------------------------------------------------------------

    async def _read(self, method: str, *args: Any) -> list[int] | None:
        """A round read (``latest_round_data`` / ``get_round_data``) as ints; None for "no data present"."""
        reply = await self.rpc.invoke_script(call_script(self.contract, method, [self.pair, *args]), [])
        if reply.get("state") != "HALT":
            exception = str(reply.get("exception"))
            if _NO_DATA in exception:
                return None
            raise N3PriceFeedError(f"{method}({self.pair!r}) on {self.contract} FAULTed: {exception}")
        return [int(item["value"]) for item in reply["stack"][0]["value"]]

    async def latest(self) -> ChainRound | None:
        """The contract's latest round of the pair, or None before the first."""
        data = await self._read("latest_round_data")
        return None if data is None else ChainRound(data[0], data[1], data[3])

    async def config_hash(self) -> bytes | None:
        """The pair's registered config hash (``config_hash(pair)``), None before the owner sets one."""
        script = call_script(self.contract, "config_hash", [self.pair])
        reply = await self.rpc.invoke_script(script, [])
        if reply.get("state") != "HALT":
            raise N3PriceFeedError(
                f"config_hash({self.pair!r}) on {self.contract} FAULTed: {reply.get('exception')}"
            )
        item = reply["stack"][0]
        raw = base64.b64decode(item.get("value") or "") if item.get("type") == "ByteString" else b""
        return raw or None

    async def _round(self, round_id: int) -> tuple[int, int] | None:
        """(answer, observed at) of round ``round_id`` if the chain has it (an unknown pair has none)."""
        try:
            data = await self._read("get_round_data", round_id)
        except N3PriceFeedError as e:
            if "unknown pair" in e.detail:
                return None  # the transmit's test invocation reports it as the reason
            raise
        return None if data is None else (data[1], data[3])

    # --- publishing ------------------------------------------------------------------------------------

    async def publish(self, report: SignedReport) -> PublishOutcome:
        """Publish ``report`` (idempotent and resumable: module docstring)."""
        key = self.key(report.round_id)
        row = await self.store.ensure(key, PRICEFEED_SERVICE, 0)
        if row.status is FulfilmentStatus.CONFIRMED:
            return await self._outcome_of(row, report)
        if row.status is FulfilmentStatus.FAILED:
            # Nothing of this round is on the chain, and none of the row's transactions can land any more
            # (FAULTed in a block, or expired): start afresh, tracking only what is sent from now on.
            await self.store.update(
                key,
                status=FulfilmentStatus.PENDING,
                tx=None,
                tx_hash=None,
                tx_hashes=[],
                failure_reason=None,
                failure_detail=None,
                finished_at=None,
            )
        deadline = self._clock() + self.policy.timeout_seconds
        if row.status is FulfilmentStatus.SENT:
            outcome = await self._track(row, report, deadline)
            if outcome is not None:
                return outcome
        for _ in range(self.policy.max_resends + 1):
            decided = await self._reconcile(report)
            if decided is not None:
                return decided
            sent = await self._sign_and_send(report)
            if isinstance(sent, PublishOutcome):
                return sent
            outcome = await self._track(sent, report, deadline)
            if outcome is not None:
                return outcome
        raise FulfilmentPending(f"round {key}: {self.policy.max_resends + 1} transactions expired")

    async def _reconcile(self, report: SignedReport, evidence: str | None = None) -> PublishOutcome | None:
        """The outcome if the chain has the report's round (recorded on the row), else None.

        ``evidence``: our transaction that HALTed in a block (it wrote the round)."""
        landed = await self._round(report.round_id)
        if landed is None:
            return None
        key = self.key(report.round_id)
        ours = landed == (report.answer, report.observed_at)
        if evidence is None and ours:
            evidence = await self._landed(key)
        values: dict[str, Any] = {}
        if evidence is not None:
            log = await self.rpc.application_log(evidence)
            execution = (log or {}).get("executions", [{}])[0]
            values = {
                "tx_hash": evidence,
                "block_number": await self._height(evidence),
                "gas_used": int(execution["gasconsumed"]) if "gasconsumed" in execution else None,
            }
        elif ours:  # our report, relayed by a transaction we cannot name
            values = {"tx_hash": None, "block_number": None, "gas_used": None}
        # (superseded: the row keeps the transaction we sent, if any, which FAULTed or never landed)
        row = await self.store.confirm(
            key, round_bytes(*landed), reason=None if ours else SUPERSEDED, **values
        )
        return await self._outcome_of(row, report)

    async def _landed(self, key: str) -> str | None:
        """The row's transaction that HALTed in a block (another publisher of this row may have sent it)."""
        row = await self.store.get(key)
        for tx_hash in reversed(row.tx_hashes):
            log = await self.rpc.application_log(tx_hash)
            if log is not None and vm_state(log) == "HALT":
                return tx_hash
        return None

    async def _outcome_of(self, row: ChainFulfilment, report: SignedReport) -> PublishOutcome:
        """The outcome of a confirmed row for ``report``: CONFIRMED if its round is the report's."""
        assert row.result is not None
        answer = int.from_bytes(row.result[:32], "little", signed=True)
        observed_at = int.from_bytes(row.result[32:], "little")
        if row.result == round_bytes(report.answer, report.observed_at):
            fee = await self._fee(row.tx_hash) if row.tx_hash is not None else None
            detail = f"round {report.round_id} of {self.pair} is this report"
            return PublishOutcome(
                PublishStatus.CONFIRMED, row.tx_hash, row.block_number, row.gas_used, fee, detail
            )
        detail = (
            f"round {report.round_id} of {self.pair} was taken by another report "
            f"(answer {answer}, observed at {observed_at})"
        )
        # Our transaction may have reached a block after the other report and FAULTed there: it paid.
        paid = None
        if row.tx_hash is not None and await self.rpc.application_log(row.tx_hash) is not None:
            paid = await self._fee(row.tx_hash)
            detail += f"; ours, {row.tx_hash}, FAULTed in its block"
        return PublishOutcome(PublishStatus.SUPERSEDED, None, None, None, paid, detail)

    async def _sign_and_send(self, report: SignedReport) -> ChainFulfilment | PublishOutcome:
        """Test-invoke, build, cap the fee, sign, record, broadcast; an outcome if the chain decides first
        or the contract refuses the report."""
        key = self.key(report.round_id)
        # The report this row sends (kept with the transaction, for what the chain later holds).
        await self.store.update(
            key, result=round_bytes(report.answer, report.observed_at), signature=report.signature
        )
        args = [self.pair, report.round_id, report.answer, report.observed_at, report.signature]
        script = call_script(self.contract, "transmit", args)
        test = await self.relay.test(script)
        if test.get("state") != "HALT":
            exception = str(test.get("exception"))
            decided = await self._reconcile(report)  # the round may have just been taken
            if decided is not None:
                return decided
            return await self._fail(key, self._refusal(report, exception, WOULD_FAULT), exception)
        tx = await self.relay.build(script, int(test["gasconsumed"]))
        if tx.system_fee + tx.network_fee > self.policy.max_fee:
            detail = (
                f"transmit needs {tx.system_fee} + {tx.network_fee} datoshi (system + network fee), "
                f"the cap is {self.policy.max_fee}"
            )
            return await self._fail(key, FEE_CAP_EXCEEDED, detail)
        return await self.relay.send(key, tx)

    async def _track(
        self, row: ChainFulfilment, report: SignedReport, deadline: float
    ) -> PublishOutcome | None:
        """Wait for the row's transaction; None once it expired unseen (then it is rebuilt)."""
        found = await self.relay.wait(row, deadline, f"round {row.request_id}")
        if found is None:
            return None
        tx_hash, log = found
        if vm_state(log) == "HALT":
            decided = await self._reconcile(report, evidence=tx_hash)
            if decided is not None:
                return decided
        decided = await self._reconcile(report)  # FAULTed: another report may have taken the round
        if decided is not None:
            return decided
        execution = log["executions"][0]
        exception = str(execution.get("exception"))
        try:
            reason = self._refusal(report, exception, TX_FAULTED)
        except FulfilmentPending:
            # That transaction can never write the round: the next call builds a new one (and tracks only
            # it: a FAULTed transaction left in tx_hashes would be taken for the new one's outcome).
            await self.store.update(
                row.request_id, status=FulfilmentStatus.PENDING, tx=None, tx_hash=None, tx_hashes=[]
            )
            raise
        return await self._fail(
            row.request_id,
            reason,
            exception,
            tx_hash=tx_hash,
            block_number=await self._height(tx_hash),
            gas_used=int(execution["gasconsumed"]),
        )

    def _refusal(self, report: SignedReport, exception: str, otherwise: str) -> str:
        """The stable reason of a refusal; :class:`FulfilmentPending` for one that passes later."""
        reason = reason_of(exception, otherwise)
        where = f"round {report.round_id} of {self.pair} on {self.chain}"
        if reason == GATEWAY_PAUSED:
            raise FeedPaused(f"{where}: {exception}; sending later")
        if reason == FUTURE_OBSERVATION:
            raise ObservationAhead(f"{where}: {exception}; sending once the chain's clock passes it")
        return reason

    async def _fail(self, key: str, reason: str, detail: str, **values: Any) -> PublishOutcome:
        await self.store.fail(key, reason, detail, **values)
        tx_hash: str | None = values.get("tx_hash")
        fee = await self._fee(tx_hash) if tx_hash is not None else None
        return PublishOutcome(
            PublishStatus.FAILED,
            tx_hash,
            values.get("block_number"),
            values.get("gas_used"),
            fee,
            f"{reason}: {detail}",
        )

    async def _height(self, tx_hash: str) -> int:
        return int(await self.rpc.call("gettransactionheight", [tx_hash]))

    async def _fee(self, tx_hash: str) -> int:
        """The system and network fee the transaction paid (datoshi), as the chain has it."""
        tx = await self.rpc.call("getrawtransaction", [tx_hash, True])
        return int(tx["sysfee"]) + int(tx["netfee"])
