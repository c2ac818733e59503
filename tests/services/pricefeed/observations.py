"""Inputs for the price feed tests: observations signed by a real identity, and chains that check them.

:class:`SigningObserver` answers ``pricefeed.observe`` with the decision a test scripts (the enclave's own
aggregation and decision are tested with the op), but everything it returns is real: one report per
target signed over the exact report message of ``enclave.crypto.price_reports`` (EVM: secp256k1 over the
NSL-PRICE-V2 preimage; N3: P-256 over the NSL-N3-PRICE-V2 message) with the config hash of the args'
rules (computed as the op does), inside an envelope signed the way the enclave signs every result
(``enclave.ops.sign_result``). :class:`LedgerChain` is a feed contract's round model: it takes a report
only with the identity's signature over exactly that round under the config hash registered on it
(:meth:`Chains.register`; none: no report), and only as its next round, and answers
``latest``/``config_hash``/``publish`` as ``chains.pricefeeds.PricePublisher`` says.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from neo_service_layer.chains.pricefeeds import ChainRound, PublishOutcome, PublishStatus, SignedReport
from neo_service_layer.client.attestation import VerifiedIdentity
from neo_service_layer.db.session import Database
from neo_service_layer.enclave import signing
from neo_service_layer.enclave.canonical import request_hash, result_hash
from neo_service_layer.enclave.crypto.price_reports import evm_price_report_preimage, n3_price_report_message
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.pricefeed.config_hash import config_hash_of_params
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import OBSERVE_OP, Observation, feed_config_hash
from neo_service_layer.services.pricefeed.params import FeedTarget

ACCOUNT = "nsl-pricefeed"
EVM_CHAIN = "evm:31337"
N3_CHAIN = "n3:894710606"
EVM_FEED = "0x" + "ab" * 20
N3_CONTRACT = "0x" + "cd" * 20
TARGETS = [{"chain": "evm", "feed": EVM_FEED}, {"chain": "n3", "contract": N3_CONTRACT}]


class PublicKeys(Protocol):
    """The identity's public keys a contract checks reports against (``IdentityPublic``,
    ``VerifiedIdentity``)."""

    @property
    def p256(self) -> bytes: ...

    @property
    def k1(self) -> bytes: ...


def verified_identity(identity: Identity) -> VerifiedIdentity:
    """The identity as ``client.verify_attestation`` would return it for a software report."""
    public = identity.public
    return VerifiedIdentity(
        tee="none",
        hardware=False,
        measurement="00" * 32,
        p256=public.p256,
        k1=public.k1,
        k1_address=public.k1_address,
        x25519=public.x25519,
        report_data=b"",
        quote=None,
    )


def report_message(
    pair: str, target: dict[str, Any], answer: int, observed_at: int, config_hash: bytes
) -> bytes:
    """The message the identity signs for one target's round (``enclave.crypto.price_reports``)."""
    if target["kind"] == "evm":
        feed = bytes.fromhex(target["feed"][2:])
        return evm_price_report_preimage(
            target["chain_id"], feed, target["round_id"], answer, observed_at, config_hash
        )
    contract = bytes.fromhex(target["contract"][2:])[::-1]  # display form -> UInt160.to_array()
    return n3_price_report_message(
        target["network_magic"], contract, pair, target["round_id"], answer, observed_at, config_hash
    )


def sign_envelope(identity: Identity, request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """``result`` signed for ``request`` exactly as ``enclave.ops.sign_result`` signs it."""
    req = request_hash(request["op"], request["account_id"], request["params"])
    res = result_hash(result)
    pair = identity.sign(signing.result_preimage(req, res))
    return {
        "result": result,
        "request_hash": req.hex(),
        "result_hash": res.hex(),
        "signatures": {"p256": pair.p256.hex(), "k1": pair.k1.hex()},
    }


def source_reports(prices: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "adapter": "binance",
            "status": "ok",
            "detail": "",
            "price": price,
            "quote_time": 1_800_000_000,
            "volume": None,
            "used": True,
            "excluded": None,
        }
        for name, price in prices.items()
    ]


@dataclass
class SigningObserver:
    """An observer that decides as scripted (``action``, ``reason``, ``answer``) and signs for real."""

    identity: Identity
    action: str = "publish"
    reason: str = "first"
    answer: int = 1_234_000_000
    observed_at: int = 1_800_000_000
    calls: list[dict[str, Any]] = field(default_factory=list)
    report_signer: Identity | None = None  # signs the chain reports instead of ``identity`` (forgery)
    config_hash: bytes | None = None  # signs this instead of the args' rules' hash (a lying enclave)

    def script(self, action: str, reason: str, answer: int, observed_at: int | None = None) -> None:
        self.action, self.reason, self.answer = action, reason, answer
        self.observed_at = observed_at if observed_at is not None else self.observed_at + 30

    async def observe(self, args: dict[str, Any]) -> Observation:
        self.calls.append(args)
        # As the op: from the args' rules (round state aside: a scripted breaker needs no real ``last``).
        rules = self.config_hash or config_hash_of_params(
            {**args, "last": None, "pending": None, "targets": []}
        )
        reports = []
        if self.action == "publish":
            for target in args["targets"]:
                message = report_message(args["pair"], target, self.answer, self.observed_at, rules)
                signed = (self.report_signer or self.identity).sign(message)
                evm = target["kind"] == "evm"
                reports.append(
                    {
                        "kind": target["kind"],
                        "chain_id": target.get("chain_id"),
                        "network_magic": target.get("network_magic"),
                        "feed": target["feed"] if evm else target["contract"],
                        "round_id": target["round_id"],
                        "answer": self.answer,
                        "observed_at": self.observed_at,
                        "config_hash": rules.hex(),
                        "signature": (signed.k1 if evm else signed.p256).hex(),
                        "signer": self.identity.public.k1_address if evm else self.identity.public.p256.hex(),
                    }
                )
        result = {
            "feed_id": args["feed_id"],
            "pair": args["pair"],
            "decimals": args["decimals"],
            "action": self.action,
            "reason": self.reason,
            "answer": self.answer,
            "median": None,
            "observed_at": self.observed_at,
            "config_hash": rules.hex(),
            "sources": source_reports({"binance": "12.34", "okx": "12.35", "kraken": "12.33"}),
            "reports": reports,
        }
        request = {"op": OBSERVE_OP, "account_id": ACCOUNT, "params": args}
        return Observation(
            result=result, envelope=sign_envelope(self.identity, request, result), request=request
        )


@dataclass
class LedgerChain:
    """One feed contract's rounds (see the module docstring); ``fail_publishes`` raises that many times
    first (an RPC that is down), ``kill_publishes`` is cancelled that many times (the worker killed)."""

    chain: str
    pair: str
    target: FeedTarget
    keys: PublicKeys
    rounds: list[tuple[int, int, int]] = field(default_factory=list)  # (round id, answer, observed at)
    fail_publishes: int = 0
    kill_publishes: int = 0  # the worker is killed (cancelled) in the middle of the publish
    fail_latest: bool = False
    published: list[SignedReport] = field(default_factory=list)
    registered: bytes | None = None  # the contract's config hash (its owner's setConfigHash)

    async def latest(self) -> ChainRound | None:
        if self.fail_latest:
            raise ConnectionError(f"{self.chain} is down")
        return ChainRound(*self.rounds[-1]) if self.rounds else None

    async def config_hash(self) -> bytes | None:
        if self.fail_latest:
            raise ConnectionError(f"{self.chain} is down")
        return self.registered

    def _target_arg(self, round_id: int) -> dict[str, Any]:
        family, _, number = self.chain.partition(":")
        if family == "evm":
            return {"kind": "evm", "chain_id": int(number), "feed": self.target.address, "round_id": round_id}
        return {
            "kind": "n3",
            "network_magic": int(number),
            "contract": self.target.address,
            "round_id": round_id,
        }

    def _signed_by_identity(self, report: SignedReport) -> bool:
        if self.registered is None:
            return False  # ConfigNotSet: the contract takes no report
        message = report_message(
            self.pair, self._target_arg(report.round_id), report.answer, report.observed_at, self.registered
        )
        if self.target.kind == "evm":
            try:
                return signing.k1_recover(message, report.signature) == self.keys.k1
            except ValueError:
                return False
        return signing.p256_verify(self.keys.p256, message, report.signature)

    async def publish(self, report: SignedReport) -> PublishOutcome:
        self.published.append(report)
        if self.kill_publishes:
            self.kill_publishes -= 1
            raise asyncio.CancelledError
        if self.fail_publishes:
            self.fail_publishes -= 1
            raise ConnectionError(f"{self.chain} dropped the connection")
        for round_id, answer, observed_at in self.rounds:
            if round_id == report.round_id:
                same = (answer, observed_at) == (report.answer, report.observed_at)
                status = PublishStatus.CONFIRMED if same else PublishStatus.SUPERSEDED
                return PublishOutcome(status, None, None, None, None, "the chain has this round")
        if not self._signed_by_identity(report):
            return PublishOutcome(PublishStatus.FAILED, None, None, None, None, "InvalidSignature")
        expected = self.rounds[-1][0] + 1 if self.rounds else 1
        if report.round_id != expected:
            return PublishOutcome(PublishStatus.FAILED, None, None, None, None, "UnexpectedRound")
        self.rounds.append((report.round_id, report.answer, report.observed_at))
        tx_hash = "0x" + f"{len(self.rounds):064x}"
        return PublishOutcome(PublishStatus.CONFIRMED, tx_hash, len(self.rounds), 21_000, 10**18 + 7, "")


@dataclass
class Chains:
    """A ``PublisherFactory`` over one :class:`LedgerChain` per target kind, taking reports signed by
    ``keys``."""

    keys: PublicKeys
    pair: str = "NEO/USD"
    by_kind: dict[str, LedgerChain] = field(default_factory=dict)
    unconfigured: set[str] = field(default_factory=set)  # kinds whose publisher cannot be made

    def __post_init__(self) -> None:
        for kind, chain, address in (("evm", EVM_CHAIN, EVM_FEED), ("n3", N3_CHAIN, N3_CONTRACT)):
            target = FeedTarget("evm" if kind == "evm" else "n3", address)
            self.by_kind[kind] = LedgerChain(chain, self.pair, target, self.keys)

    def register(self, feed: PriceFeed) -> None:
        """Register ``feed``'s config hash on every chain, as its owner does (``nsl feeds config-hash``)."""
        for chain in self.by_kind.values():
            chain.registered = feed_config_hash(feed)

    async def register_stored(self, db: Database, feed_id: str) -> None:
        """:meth:`register` the feed ``feed_id`` as stored now."""
        async with db.session(for_read=True) as session:
            feed = await session.get(PriceFeed, feed_id)
        assert feed is not None
        self.register(feed)

    async def publisher(self, pair: str, target: FeedTarget) -> LedgerChain:
        if target.kind in self.unconfigured:
            raise LookupError(f"no {target.kind} node configured")
        chain = self.by_kind[target.kind]
        assert (pair, target) == (chain.pair, chain.target)
        return chain
