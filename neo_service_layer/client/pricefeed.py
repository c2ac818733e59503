"""Offline verification of price rounds: no network, no trust in the service (docs/pricefeed.md).

::

    round_json = response.json()                         # GET /v1/feeds/NEO-USD/rounds/{round_id}
    identity = verify_attestation(report, ...)           # the enclave's identity, checked on your own
    verified = verify_price_round(round_json, identity)
    verified.answer, verified.decimals, verified.observed_at

:func:`verify_price_round` checks the enclave's signatures over the observation (``envelope``) *and* over
the request it answers (``request``: the feed's sources and rules, the last published value), then that
every field the round shows outside the envelope (answer, its decimal form, observation time, reason,
each source's report, the transmissions' chains and round ids) is the signed one, and finally that each
per-chain report carries the identity's signature over exactly that chain's report message
(``enclave.crypto.price_reports``), as the feed contracts check it. A mismatch raises
:class:`SignatureInvalid` (the envelope) or :class:`PriceRoundVerificationFailed` (the round).

The round's ``round_id`` is the service's own numbering and is not signed; the rounds each contract
takes are (``reports[].round_id``). ``config_hash`` is recomputed here from the signed request's rules
(``enclave.pricefeed.config_hash``) and must be the one the enclave signed: compare it with the hash the
feed contract has registered (``configHash()`` / ``config_hash(pair)``) to know the price was observed
under the rules its owner vouched for, not under rules a host rewrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from neo_service_layer.client.attestation import VerifiedIdentity, verify_result
from neo_service_layer.enclave import signing
from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.price_reports import evm_price_report_preimage, n3_price_report_message
from neo_service_layer.enclave.opdefs.pricefeed import OBSERVE, ObserveResult
from neo_service_layer.enclave.pricefeed.config_hash import InvalidFeedConfig, config_hash_of_params
from neo_service_layer.errors import PriceRoundVerificationFailed

OBSERVE_OP: Final = OBSERVE.name
PUBLISH: Final = "publish"


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    """One contract's round as the enclave signed it: ``chain`` ``evm:<chain id>`` / ``n3:<magic>``."""

    chain: str
    feed: str
    round_id: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerifiedPriceRound:
    """What the enclave signed of a published round."""

    pair: str
    answer: int
    decimals: int
    observed_at: int
    reason: str
    sources: tuple[Mapping[str, Any], ...]
    reports: tuple[VerifiedReport, ...]
    round_id: int  # the service's numbering (not signed)
    #: SHA-256 of the rules the price was observed under (the hash a feed contract must have registered).
    config_hash: bytes = b""

    @property
    def price(self) -> Decimal:
        """The answer scaled by the decimals (exact)."""
        return Decimal(self.answer).scaleb(-self.decimals)


def verify_price_round(round_json: Mapping[str, Any], identity: VerifiedIdentity) -> VerifiedPriceRound:
    """The verified round ``round_json`` as ``GET /v1/feeds/{pair}/rounds/{round_id}`` returns it."""
    try:
        request, envelope = round_json["request"], round_json["envelope"]
        op = request["op"]
    except (KeyError, TypeError) as exc:
        raise PriceRoundVerificationFailed(f"not a signed price round: {exc}") from exc
    if not isinstance(envelope, Mapping):
        raise PriceRoundVerificationFailed("not a signed price round: the envelope is not an object")
    if op != OBSERVE_OP:
        raise PriceRoundVerificationFailed(f"the envelope answers {op!r}, not {OBSERVE_OP}")
    signed = verify_result(envelope, identity, request=request)
    try:
        verified = _verified(round_json, signed, config_hash_of_params(request["params"]))
    except InvalidFeedConfig as exc:
        raise PriceRoundVerificationFailed(f"the signed request is no feed definition: {exc}") from exc
    except (KeyError, TypeError, ValueError, InvalidInput) as exc:
        raise PriceRoundVerificationFailed(f"the signed observation is malformed: {exc}") from exc
    for report in verified.reports:
        _check_report(report, verified, identity)
    return verified


def _verified(round_json: Mapping[str, Any], signed: Mapping[str, Any], rules: bytes) -> VerifiedPriceRound:
    ObserveResult.model_validate(signed, strict=False)  # the op's result, whole (ValueError otherwise)
    if signed["action"] != PUBLISH:
        raise PriceRoundVerificationFailed(f"the enclave decided {signed['action']!r}, not to publish")
    if signed["config_hash"] != rules.hex():
        raise PriceRoundVerificationFailed(
            "the signed config hash is not the hash of the signed request's rules"
        )
    answer, decimals, observed_at = int(signed["answer"]), int(signed["decimals"]), int(signed["observed_at"])
    shown = (
        round_json.get("pair"),
        round_json.get("answer"),
        round_json.get("answer_decimal"),
        round_json.get("observed_at"),
        round_json.get("reason"),
        round_json.get("sources"),
    )
    expected = (
        signed["pair"],
        str(answer),
        f"{Decimal(answer).scaleb(-decimals):f}",
        observed_at,
        signed["reason"],
        signed["sources"],
    )
    if shown != expected:
        raise PriceRoundVerificationFailed(
            "the round's pair, answer, observation time, reason or sources are not what the enclave signed"
        )
    reports = []
    for report in signed["reports"]:
        if (int(report["answer"]), int(report["observed_at"])) != (answer, observed_at):
            raise PriceRoundVerificationFailed("a signed report is not of the signed answer")
        if report["config_hash"] != signed["config_hash"]:
            raise PriceRoundVerificationFailed("a signed report is not of the signed rules")
        number = report["chain_id"] if report["kind"] == "evm" else report["network_magic"]
        reports.append(
            VerifiedReport(
                f"{report['kind']}:{number}",
                str(report["feed"]),
                int(report["round_id"]),
                bytes.fromhex(str(report["signature"]).removeprefix("0x")),
            )
        )
    sent = {(t["chain"], t["chain_round_id"]) for t in round_json.get("transmissions") or []}
    if not sent <= {(r.chain, r.round_id) for r in reports}:
        raise PriceRoundVerificationFailed("a transmission is not of a report the enclave signed")
    return VerifiedPriceRound(
        pair=signed["pair"],
        answer=answer,
        decimals=decimals,
        observed_at=observed_at,
        reason=signed["reason"],
        sources=tuple(signed["sources"]),
        reports=tuple(reports),
        round_id=int(round_json.get("round_id", 0)),
        config_hash=rules,
    )


def _check_report(report: VerifiedReport, round_: VerifiedPriceRound, identity: VerifiedIdentity) -> None:
    """The report's signature is the identity's over its chain's report message."""
    family, _, number = report.chain.partition(":")
    address = bytes.fromhex(report.feed.removeprefix("0x"))
    if family == "evm":
        message = evm_price_report_preimage(
            int(number), address, report.round_id, round_.answer, round_.observed_at, round_.config_hash
        )
        try:
            valid = signing.k1_recover(message, report.signature) == identity.k1
        except ValueError:
            valid = False
    else:
        # The contract hash in display form, reversed to UInt160.to_array() (enclave.crypto.price_reports).
        message = n3_price_report_message(
            int(number),
            address[::-1],
            round_.pair,
            report.round_id,
            round_.answer,
            round_.observed_at,
            round_.config_hash,
        )
        valid = signing.p256_verify(identity.p256, message, report.signature)
    if not valid:
        raise PriceRoundVerificationFailed(f"the {report.chain} report is not signed by the enclave identity")
