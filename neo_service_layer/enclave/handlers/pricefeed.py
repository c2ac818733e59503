"""``pricefeed.observe``: one poll of one price feed, inside the enclave (issue 15; opdefs/pricefeed.py).

1. every source is fetched at once through ``ctx.fetcher`` — the oracle's fetcher, with its rules:
   destination checks on the address dialled, per-host concurrency and rate, the policy's timeout and
   size cap (``oracle/fetch.py``) — as the platform account :data:`PRICEFEED_ACCOUNT_ID`, and read by
   its adapter (``pricefeed/adapters.py``); a source that fails is a report with its reason, never
   the op's failure;
2. the quotes are aggregated (``pricefeed/aggregate.py``: stale and outliers dropped, quorum, spread,
   median) and the answer judged against the last published one (``pricefeed/decide.py``);
3. when publishing, one report per target is signed for its feed contract (``crypto/price_reports``):
   EVM with the identity's secp256k1 key over keccak256 of the preimage (65 bytes ``r‖s‖v``), N3 with
   its secp256r1 key over SHA-256 of the message (64 bytes ``r‖s``, ``CryptoLib.verifyWithECDsa``).
   Each report carries the ``configHash`` of the args' rules (``pricefeed/config_hash.py``), computed
   here: a contract takes it only if its owner registered that hash, so rules a compromised host
   rewrote in the database yield no round on chain.

``observed_at`` is the enclave's clock, never the host's: the contracts refuse a report observed
before the round they hold, so a host cannot replay an old price as new. The op is not deterministic
(the web answers differently a second time); the service records a signed result before publishing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, cast

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.capabilities import HttpRequest
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.price_reports import evm_price_report_preimage, n3_price_report_message
from neo_service_layer.enclave.handlers.oracle import DEFAULT_MAX_RESPONSE_BYTES
from neo_service_layer.enclave.opdefs.oracle import MAX_TIMEOUT_MS
from neo_service_layer.enclave.opdefs.pricefeed import (
    OBSERVE,
    PRICEFEED_ACCOUNT_ID,
    EvmTarget,
    N3Target,
    ObserveAction,
    ObserveArgs,
    ObserveResult,
    PublishedArg,
    SourceReport,
    SourceStatus,
    TargetReport,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle.codes import OracleFailure
from neo_service_layer.enclave.pricefeed.adapters import Adapter, adapter, read_quote
from neo_service_layer.enclave.pricefeed.aggregate import Aggregate, AggregationPolicy, Exclusion, aggregate
from neo_service_layer.enclave.pricefeed.config_hash import config_hash
from neo_service_layer.enclave.pricefeed.decide import Published, TriggerPolicy, decide
from neo_service_layer.enclave.pricefeed.quotes import Quote, QuoteRejected
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.enclave.protocol import InvalidArgs

registry = OpRegistry()

#: Ask for the longest the oracle allows: the fetcher's policy bounds it lower (its total timeout).
FETCH_TIMEOUT_S: Final = MAX_TIMEOUT_MS / 1000


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One source's outcome: a quote, or the status and detail of its failure."""

    source: SourceSpec
    quote: Quote | None
    status: SourceStatus
    detail: str


def _request(source: SourceSpec, reader: Adapter) -> HttpRequest:
    try:
        url = reader.request_url(source)
    except (ValueError, QuoteRejected) as exc:  # a source the feed's definition got wrong
        raise InvalidArgs(f"source {source.name!r}: {exc}") from exc
    return HttpRequest(
        "GET",
        url,
        timeout_seconds=FETCH_TIMEOUT_S,
        max_bytes=DEFAULT_MAX_RESPONSE_BYTES,
        tenant=PRICEFEED_ACCOUNT_ID,
    )


async def _fetch(ctx: EnclaveContext, source: SourceSpec, request: HttpRequest) -> _Fetched:
    try:
        response = await ctx.fetcher.fetch(request)
        # The oracle's fetcher fails on a non-200 itself (FetchPolicy.fail_on_status); read_quote
        # still parses no error page as a price for any other fetcher.
        quote = read_quote(source, response.status, response.body)
    except OracleFailure as failure:  # refused, timed out, too large: the detail names the host at most
        return _Fetched(source, None, "fetch_failed", f"{failure.code.name}: {failure.detail}")
    except QuoteRejected as rejected:
        return _Fetched(source, None, cast(SourceStatus, rejected.code), rejected.detail)
    return _Fetched(source, quote, "ok", "")


def _text(value: Decimal | None) -> str | None:
    """Plain decimal text (never exponent notation: "1200", not "1.2E+3")."""
    return None if value is None else format(value, "f")


def _source_report(fetched: _Fetched, used: set[str], excluded: Mapping[str, Exclusion]) -> SourceReport:
    quote, name = fetched.quote, fetched.source.name
    return SourceReport(
        name=name,
        adapter=fetched.source.adapter,
        status=fetched.status,
        detail=fetched.detail,
        price=None if quote is None else _text(quote.price),
        quote_time=None if quote is None else quote.quote_time,
        volume=None if quote is None else _text(quote.volume),
        used=name in used,
        excluded=excluded.get(name),
    )


def _sign(
    ctx: EnclaveContext, target: EvmTarget | N3Target, pair: str, answer: int, now: int, rules: bytes
) -> TargetReport:
    if isinstance(target, EvmTarget):
        feed = bytes.fromhex(target.feed[2:])
        preimage = evm_price_report_preimage(target.chain_id, feed, target.round_id, answer, now, rules)
        return TargetReport(
            kind="evm",
            chain_id=target.chain_id,
            network_magic=None,
            feed=target.feed,
            round_id=target.round_id,
            answer=answer,
            observed_at=now,
            config_hash=rules.hex(),
            signature=ctx.sign(preimage).k1.hex(),  # secp256k1 over keccak256(preimage), r‖s‖v
            signer=ctx.identity.public.k1_address,
        )
    contract = bytes.fromhex(target.contract[2:])[::-1]  # display form (big-endian) -> UInt160.to_array()
    message = n3_price_report_message(
        target.network_magic, contract, pair, target.round_id, answer, now, rules
    )
    return TargetReport(
        kind="n3",
        chain_id=None,
        network_magic=target.network_magic,
        feed=target.contract,
        round_id=target.round_id,
        answer=answer,
        observed_at=now,
        config_hash=rules.hex(),
        signature=ctx.sign(message).p256.hex(),  # secp256r1 over SHA-256(message), r‖s
        signer=ctx.identity.public.p256.hex(),  # compressed SEC 1
    )


def _published(value: PublishedArg | None) -> Published | None:
    return None if value is None else Published(value.answer, value.observed_at)


@registry.handler(OBSERVE)
async def observe(ctx: EnclaveContext, args: ObserveArgs) -> ObserveResult:
    """One poll of ``args``'s feed: fetch, aggregate, decide, sign (module docstring)."""
    try:
        readers = [adapter(source.adapter) for source in args.sources]
    except ValueError as exc:
        raise InvalidArgs(str(exc)) from exc
    # From the args themselves, never from the host: the reports are bound to the rules applied here.
    rules = config_hash(args)
    requests = [_request(source, reader) for source, reader in zip(args.sources, readers, strict=True)]
    fetched = await asyncio.gather(*(_fetch(ctx, s, q) for s, q in zip(args.sources, requests, strict=True)))
    now = int(time.time())
    policy = AggregationPolicy(
        args.decimals, args.min_sources, args.max_quote_age_s, args.mad_k(), args.max_spread_bps
    )
    quotes = {item.source.name: item.quote for item in fetched if item.quote is not None}
    outcome = aggregate(quotes, now, policy)
    used, excluded = set(outcome.used), outcome.excluded
    sources = [_source_report(item, used, excluded) for item in fetched]
    # Declared once for both branches: the one ObserveResult below checks every field's type.
    action: ObserveAction
    reason: str
    answer: int | None
    median: str | None
    reports: list[TargetReport]
    if isinstance(outcome, Aggregate):
        answer = outcome.answer
        if not 0 < answer <= MAX_SAFE_INTEGER:
            # A feed whose decimals do not fit its price: 0 is no price, and the envelope's integers stop
            # at 2^53 - 1 (canonical JSON). The definition is wrong, not this round.
            raise InvalidArgs(
                f"the median {outcome.median} at {args.decimals} decimals is {answer}: outside 1..2^53-1"
            )
        triggers = TriggerPolicy(args.deviation_bps, args.heartbeat_s, args.breaker_bps)
        decision = decide(answer, now, _published(args.last), _published(args.pending), triggers)
        action, reason, median = decision.action, decision.reason, _text(outcome.median)
        reports = (
            [_sign(ctx, target, args.pair, answer, now, rules) for target in args.targets]
            if action == "publish"
            else []
        )
    else:  # no answer this round: nothing to decide or sign
        action, reason, answer, median, reports = outcome.code, outcome.detail, None, None, []
    return ObserveResult(
        feed_id=args.feed_id,
        pair=args.pair,
        decimals=args.decimals,
        observed_at=now,
        config_hash=rules.hex(),
        action=action,
        reason=reason,
        answer=answer,
        median=median,
        sources=sources,
        reports=reports,
    )
