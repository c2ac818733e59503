"""``pricefeed.observe`` in the real in-process enclave, fetching from a local HTTPS "exchange".

The enclave's fetcher keeps the production policy (private hosts refused): the exchange is reached as
``api.oracle.test``, resolved to a public-looking address that a "NAT" dialler routes to the local
server (tests/enclave/oracle/chain_web.py); the same server named ``127.0.0.1`` is a private address,
refused. Reports are checked as the contracts check them, with libraries independent of the enclave's:
EVM ``ecrecover`` (coincurve) of keccak256(preimage), N3 ECDSA P-256 over SHA-256 (``cryptography``);
the envelope with the client's own verification.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any, get_args

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import ValidationError

from neo_service_layer.client.attestation import (
    VerifiedIdentity,
    verify_attestation,
    verify_result,
)
from neo_service_layer.enclave.client import Signed, UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.price_reports import evm_price_report_preimage, n3_price_report_message
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.opdefs.pricefeed import (
    OBSERVE,
    EvmTarget,
    N3Target,
    ObserveArgs,
    ObserveResult,
    PublishedArg,
    SourceStatus,
    TargetReport,
)
from neo_service_layer.enclave.ops import execute
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.pricefeed.config_hash import config_hash
from neo_service_layer.enclave.pricefeed.quotes import QUOTE_REJECTION_CODES
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.errors import EnclaveRejected, SignatureInvalid
from tests.enclave.oracle.servers import (
    PUBLIC_V4,
    LocalServer,
    NatDialler,
    OraclePKI,
    Request,
    StaticResolver,
    respond,
)

HOST = "api.oracle.test"
FEED = "0x" + "ab" * 20
N3_CONTRACT = "0x" + "0123456789abcdef0123" * 2
CHAIN_ID = 47763
MAGIC = 894710606
TIMEOUT_S = 1.0


class Exchange:
    """A local HTTPS API: ``/p/<name>`` answers ``{"price": prices[name]}``; ``/fail`` 500, ``/hang``
    never answers, anything else 404."""

    def __init__(self, pki: OraclePKI) -> None:
        self.prices: dict[str, str] = {}
        self._directory = tempfile.mkdtemp(prefix="nsl-pricefeed-")
        self.server = LocalServer(pki.server_context(self._directory))

    async def __aenter__(self) -> Exchange:
        for name in ("a", "b", "c", "d", "e", "zero"):
            self.server.routes[f"/p/{name}"] = self._price(name)
        self.server.routes["/fail"] = self._fail
        self.server.routes["/hang"] = self._hang
        await self.server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.stop()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _price(self, name: str) -> Any:
        async def route(_request: Request, writer: asyncio.StreamWriter) -> None:
            await respond(writer, 200, b'{"price": "%s"}' % self.prices[name].encode())

        return route

    @staticmethod
    async def _fail(_request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 500, b'{"error": "down"}')

    @staticmethod
    async def _hang(_request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    def source(self, name: str, path: str | None = None, host: str = HOST) -> SourceSpec:
        url = self.server.url(path or f"/p/{name}", host=host)
        return SourceSpec(name=name, adapter="generic", url=url, filter="$.price")


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The production policy with a short timeout, the exchange reachable only as a public host."""
    resolver = StaticResolver({HOST: [[str(PUBLIC_V4)]]})
    policy = FetchPolicy(
        connect_timeout_seconds=TIMEOUT_S, read_timeout_seconds=TIMEOUT_S, total_timeout_seconds=TIMEOUT_S
    )
    async with SafeFetcher(
        policy, resolver=resolver, ssl_context=pki.client_context(), dialler=NatDialler()
    ) as fetcher:
        yield fetcher


@pytest.fixture
async def exchange(pki: OraclePKI) -> AsyncIterator[Exchange]:
    async with Exchange(pki) as local:
        local.prices.update(a="12.30", b="12.34", c="12.35", d="12.40", e="12.33", zero="0")
        yield local


@pytest.fixture
async def verified(enclave: UnixEnclaveClient) -> VerifiedIdentity:
    return verify_attestation(await enclave.attest(), allow_software=True)


def observe_args(sources: list[SourceSpec], **overrides: Any) -> ObserveArgs:
    fields: dict[str, Any] = {
        "feed_id": "neo-usd",
        "pair": "NEO/USD",
        "decimals": 8,
        "sources": sources,
        "min_sources": 3,
        "max_quote_age_s": 60,
        "outlier_mad_k": "5",
        "max_spread_bps": 200,
        "deviation_bps": 50,
        "heartbeat_s": 3600,
        "breaker_bps": 1000,
        "targets": [
            EvmTarget(kind="evm", chain_id=CHAIN_ID, feed=FEED, round_id=7),
            N3Target(kind="n3", network_magic=MAGIC, contract=N3_CONTRACT, round_id=3),
        ],
    }
    return ObserveArgs(**(fields | overrides))


def _request(args: ObserveArgs) -> dict[str, Any]:
    return {"op": OBSERVE.name, "account_id": args.account_id, "params": args.params()}


def _evm_signer(report: TargetReport) -> str:
    """``ecrecover(keccak256(preimage), v, r, s)`` as NSLPriceFeed does it, by coincurve."""
    preimage = evm_price_report_preimage(
        CHAIN_ID,
        bytes.fromhex(FEED[2:]),
        report.round_id,
        report.answer,
        report.observed_at,
        bytes.fromhex(report.config_hash),
    )
    signature = bytes.fromhex(report.signature)
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    recoverable = signature[:64] + bytes([signature[64] - 27])
    public = coincurve.PublicKey.from_signature_and_message(recoverable, keccak(preimage), hasher=None)
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


def _n3_verifies(report: TargetReport, public_key: bytes, pair: str = "NEO/USD") -> bool:
    """``CryptoLib.verifyWithECDsa(message, key, signature, secp256r1SHA256)``, by ``cryptography``."""
    contract = bytes.fromhex(N3_CONTRACT[2:])[::-1]
    message = n3_price_report_message(
        MAGIC,
        contract,
        pair,
        report.round_id,
        report.answer,
        report.observed_at,
        bytes.fromhex(report.config_hash),
    )
    signature = bytes.fromhex(report.signature)
    assert len(signature) == 64
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


async def _observe(enclave: UnixEnclaveClient, args: ObserveArgs) -> Signed[ObserveResult]:
    return await enclave.run(OBSERVE, args)


async def test_a_first_round_is_published_with_reports_both_chains_verify(
    enclave: UnixEnclaveClient, verified: VerifiedIdentity, exchange: Exchange
) -> None:
    args = observe_args([exchange.source(name) for name in ("a", "b", "c", "d")])
    before = int(time.time())
    signed = await _observe(enclave, args)
    result = signed.result
    assert (result.action, result.reason) == ("publish", "first")
    assert result.median == "12.345"  # (12.34 + 12.35) / 2
    assert result.answer == 1_234_500_000
    assert before <= result.observed_at <= int(time.time())
    assert [(s.name, s.status, s.price, s.used, s.excluded) for s in result.sources] == [
        ("a", "ok", "12.30", True, None),
        ("b", "ok", "12.34", True, None),
        ("c", "ok", "12.35", True, None),
        ("d", "ok", "12.40", True, None),
    ]
    evm, n3 = result.reports
    assert (evm.kind, evm.chain_id, evm.feed, evm.round_id) == ("evm", CHAIN_ID, FEED, 7)
    assert (n3.kind, n3.network_magic, n3.feed, n3.round_id) == ("n3", MAGIC, N3_CONTRACT, 3)
    # The rules' hash is the op's own, from its args: the same in the result and in every report.
    assert result.config_hash == config_hash(args).hex()
    for report in (evm, n3):
        assert (report.answer, report.observed_at) == (result.answer, result.observed_at)
        assert report.config_hash == result.config_hash
    assert _evm_signer(evm) == verified.k1_address == evm.signer
    assert n3.signer == verified.p256.hex()
    assert _n3_verifies(n3, verified.p256)
    # A report is bound to its round, answer and pair: moved anywhere else it no longer verifies.
    assert _evm_signer(evm.model_copy(update={"answer": evm.answer + 1})) != verified.k1_address
    assert not _n3_verifies(n3.model_copy(update={"round_id": 4}), verified.p256)
    assert not _n3_verifies(n3, verified.p256, pair="GAS/USD")
    # ... and to the rules it was observed under: under another registered hash it does not verify.
    other = "00" * 32
    assert _evm_signer(evm.model_copy(update={"config_hash": other})) != verified.k1_address
    assert not _n3_verifies(n3.model_copy(update={"config_hash": other}), verified.p256)


async def test_the_envelope_covers_the_whole_observation(
    enclave: UnixEnclaveClient, verified: VerifiedIdentity, exchange: Exchange
) -> None:
    args = observe_args([exchange.source(name) for name in ("a", "b", "c")])
    signed = await _observe(enclave, args)
    envelope = signed.envelope.model_dump(mode="json")
    assert verify_result(envelope, verified, request=_request(args)) == signed.result.model_dump(mode="json")
    assert signed.result.answer is not None
    tampered = dict(envelope, result=dict(envelope["result"], answer=signed.result.answer + 1))
    with pytest.raises(SignatureInvalid):
        verify_result(tampered, verified, request=_request(args))
    lowered = [dict(source, price="1.00") for source in envelope["result"]["sources"]]
    with pytest.raises(SignatureInvalid):
        verify_result(dict(envelope, result=dict(envelope["result"], sources=lowered)), verified)
    # The same result presented as the answer to other rules (a laxer quorum) is refused too.
    laxer = observe_args(args.sources, min_sources=1)
    with pytest.raises(SignatureInvalid, match="different request"):
        verify_result(envelope, verified, request=_request(laxer))


@pytest.mark.parametrize(
    ("last", "pending", "prices", "action", "reason"),
    [
        pytest.param((1_234_000_000, 0), None, {}, "unchanged", "within_threshold", id="within-threshold"),
        pytest.param((1_200_000_000, 0), None, {}, "publish", "deviation", id="deviation"),
        pytest.param((1_234_000_000, -7200), None, {}, "publish", "heartbeat", id="heartbeat"),
        pytest.param(
            (1_000_000_000, 0), None, {}, "breaker_pending", "breaker_tripped", id="breaker-first-poll"
        ),
        pytest.param(
            (1_000_000_000, 0), (1_234_000_000, 0), {}, "publish", "breaker_confirmed", id="breaker-confirmed"
        ),
    ],
)
async def test_reports_are_signed_only_when_publishing(
    enclave: UnixEnclaveClient,
    exchange: Exchange,
    last: tuple[int, int],
    pending: tuple[int, int] | None,
    prices: dict[str, str],
    action: str,
    reason: str,
) -> None:
    now = int(time.time())
    args = observe_args(
        [exchange.source(name) for name in ("a", "b", "c")],  # median 12.34
        last=PublishedArg(answer=last[0], observed_at=now + last[1] - 10),
        pending=None if pending is None else PublishedArg(answer=pending[0], observed_at=now - 5),
    )
    result = (await _observe(enclave, args)).result
    assert (result.action, result.reason, result.answer) == (action, reason, 1_234_000_000)
    assert len(result.reports) == (2 if action == "publish" else 0)


async def test_failing_sources_are_reported_and_the_rest_still_aggregate(
    enclave: UnixEnclaveClient, exchange: Exchange
) -> None:
    sources = [
        exchange.source("a"),
        exchange.source("down", "/fail"),
        exchange.source("slow", "/hang"),
        exchange.source("private", "/p/b", host="127.0.0.1"),
        exchange.source("missing", "/nowhere"),
        exchange.source("zero"),
        exchange.source("c"),
        exchange.source("e"),
    ]
    started = time.monotonic()
    result = (await _observe(enclave, observe_args(sources))).result
    assert time.monotonic() - started < TIMEOUT_S + 2  # fetched at once: one timeout, not several
    by_name = {source.name: source for source in result.sources}
    assert [source.name for source in result.sources] == [source.name for source in sources]
    expected: dict[str, tuple[str, str]] = {
        "down": ("fetch_failed", "Error"),
        "slow": ("fetch_failed", "Timeout"),
        "private": ("fetch_failed", "Forbidden"),
        "missing": ("fetch_failed", "NotFound"),
        "zero": ("zero", "zero"),
    }
    for name, (status, detail) in expected.items():
        report = by_name[name]
        assert (report.status, report.used, report.price) == (status, False, None), name
        assert detail in report.detail, (name, report.detail)
    assert [name for name, report in by_name.items() if report.used] == ["a", "c", "e"]
    assert (result.action, result.median) == ("publish", "12.33")


async def test_an_outlier_is_reported_and_ignored(enclave: UnixEnclaveClient, exchange: Exchange) -> None:
    exchange.prices["d"] = "99.99"  # one exchange manipulated
    sources = [exchange.source(name) for name in ("a", "b", "c", "d", "e")]
    result = (await _observe(enclave, observe_args(sources))).result
    outlier = next(source for source in result.sources if source.name == "d")
    assert (outlier.status, outlier.price, outlier.used, outlier.excluded) == (
        "ok",
        "99.99",
        False,
        "outlier",
    )
    assert (result.action, result.median) == ("publish", "12.335")  # of 12.30, 12.33, 12.34, 12.35


@pytest.mark.parametrize(
    ("prices", "names", "min_sources", "action"),
    [
        pytest.param({"b": "0"}, "abc", 3, "insufficient_sources", id="one-rejected-below-quorum"),
        # 13.50 is an outlier of three: what is left is below the quorum.
        pytest.param({"c": "13.50"}, "abc", 3, "insufficient_sources", id="outlier-below-quorum"),
        # Two sources 241 bps apart (neither an outlier of two): over the 200 bps bound.
        pytest.param({"b": "12.60"}, "ab", 2, "spread_too_wide", id="spread"),
    ],
)
async def test_no_answer_no_reports(
    enclave: UnixEnclaveClient,
    exchange: Exchange,
    prices: dict[str, str],
    names: str,
    min_sources: int,
    action: str,
) -> None:
    exchange.prices.update(prices)
    sources = [exchange.source(name) for name in names]
    result = (await _observe(enclave, observe_args(sources, min_sources=min_sources))).result
    assert (result.action, result.answer, result.median, result.reports) == (action, None, None, [])
    assert result.reason


async def test_an_answer_the_envelope_cannot_carry_is_refused(
    enclave: UnixEnclaveClient, exchange: Exchange
) -> None:
    # 12.34 at 18 decimals is 1.234e19: over 2^53 - 1, the largest integer canonical JSON carries.
    args = observe_args([exchange.source(name) for name in ("a", "b", "c")], decimals=18)
    with pytest.raises(EnclaveRejected, match=r"outside 1\.\.2\^53-1") as refused:
        await _observe(enclave, args)
    assert refused.value.enclave_code == "invalid_args"


# --- the args' own rules, refused before anything is fetched ----------------------------------------


def _source(name: str) -> SourceSpec:
    return SourceSpec(name=name, adapter="generic", url=f"https://{HOST}/{name}", filter="$.price")


THREE = [_source("a"), _source("b"), _source("c")]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"decimals": 19}, "less than or equal to 18", id="decimals-19"),
        pytest.param({"decimals": -1}, "greater than or equal to 0", id="decimals-negative"),
        pytest.param({"sources": []}, "at least 1", id="no-sources"),
        pytest.param({"sources": [_source(f"s{i}") for i in range(21)]}, "at most 20", id="21-sources"),
        pytest.param({"sources": [_source("a"), _source("a"), _source("b")]}, "unique", id="duplicate-names"),
        pytest.param({"min_sources": 4}, "more than the 3 sources", id="quorum-unreachable"),
        pytest.param({"min_sources": 0}, "greater than or equal to 1", id="quorum-0"),
        pytest.param({"max_spread_bps": 0}, "greater than or equal to 1", id="spread-0"),
        pytest.param({"deviation_bps": 0}, "greater than or equal to 1", id="deviation-0"),
        pytest.param({"heartbeat_s": 0}, "greater than or equal to 1", id="heartbeat-0"),
        pytest.param({"max_quote_age_s": 0}, "greater than or equal to 1", id="age-0"),
        pytest.param({"outlier_mad_k": "0.5"}, "at least 1", id="k-below-1"),
        pytest.param({"outlier_mad_k": "1e3"}, "pattern", id="k-exponent"),
        pytest.param({"outlier_mad_k": "NaN"}, "pattern", id="k-nan"),
        pytest.param({"breaker_bps": 50}, "above deviation_bps", id="breaker-at-deviation"),
        pytest.param({"pair": "neo/usd"}, "pattern", id="pair-lower-case"),
        pytest.param({"pair": "NEO-USD"}, "pattern", id="pair-url-form"),
        pytest.param({"account_id": "acc_01TENANT"}, "nsl-pricefeed", id="tenant-account"),
        pytest.param(
            {"pending": PublishedArg(answer=1, observed_at=1)}, "needs a last", id="pending-without-last"
        ),
        pytest.param({"last": {"answer": 0, "observed_at": 1}}, "greater than or equal to 1", id="last-zero"),
        pytest.param(
            {"targets": [{"kind": "evm", "chain_id": 1, "feed": "0x12", "round_id": 1}]},
            "pattern",
            id="evm-feed",
        ),
        pytest.param(
            {"targets": [{"kind": "n3", "network_magic": 1, "contract": FEED, "round_id": 0}]},
            "greater than or equal to 1",
            id="n3-round-0",
        ),
        pytest.param({"targets": [{"kind": "tron", "round_id": 1}]}, "tron", id="unknown-chain"),
    ],
)
def test_args_refuse_bad_feeds(overrides: dict[str, Any], message: str) -> None:
    fields = observe_args(THREE).model_dump() | overrides
    with pytest.raises(ValidationError, match=message):
        ObserveArgs.model_validate(fields, strict=False)


async def test_bad_args_are_invalid_args_over_the_protocol(ctx: EnclaveContext) -> None:
    spec = default_registry().get(OBSERVE.name)
    assert spec is not None
    bad = observe_args(THREE).model_dump(mode="json") | {"min_sources": 9}
    with pytest.raises(InvalidArgs, match="more than the 3 sources"):
        await execute(spec, ctx, bad)


async def test_an_unknown_adapter_is_invalid_args(ctx: EnclaveContext) -> None:
    spec = default_registry().get(OBSERVE.name)
    assert spec is not None
    args = observe_args(THREE).model_dump(mode="json")
    args["sources"][0]["adapter"] = "nasdaq"
    with pytest.raises(InvalidArgs, match="nasdaq"):
        await execute(spec, ctx, args)


def test_source_statuses_are_ok_fetch_failed_and_the_rejection_codes() -> None:
    assert set(get_args(SourceStatus)) == {"ok", "fetch_failed", *QUOTE_REJECTION_CODES}
