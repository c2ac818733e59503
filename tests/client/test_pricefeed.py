"""``client.verify_price_round`` offline: a round verifies only as the enclave signed it — its envelope,
the request it answers, every field shown beside it, and each chain report's own signature.

(The same with a round observed by the real enclave, through the API: tests/api/test_feeds_enclave.py.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from neo_service_layer.client import verify_price_round
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.pricefeed.config_hash import config_hash_of_params
from neo_service_layer.errors import PriceRoundVerificationFailed, SignatureInvalid
from tests.services.pricefeed.observations import EVM_FEED, N3_CONTRACT, SigningObserver, verified_identity

ARGS: dict[str, Any] = {
    "feed_id": "pfd_01TEST",
    "pair": "NEO/USD",
    "decimals": 8,
    "sources": [{"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"}],
    "min_sources": 1,
    "max_quote_age_s": 120,
    "outlier_mad_k": "5",
    "max_spread_bps": 200,
    "deviation_bps": 50,
    "heartbeat_s": 3600,
    "breaker_bps": 2000,
    "last": None,
    "pending": None,
    "targets": [
        {"kind": "evm", "chain_id": 47763, "feed": EVM_FEED, "round_id": 7},
        {"kind": "n3", "network_magic": 894710606, "contract": N3_CONTRACT, "round_id": 3},
    ],
}


async def round_json(observer: SigningObserver) -> dict[str, Any]:
    """A round as ``GET /v1/feeds/{pair}/rounds/{id}`` shows it, from a signed observation."""
    observation = await observer.observe(dict(ARGS))
    result = observation.result
    return {
        "pair": result["pair"],
        "round_id": 1,
        "answer": str(result["answer"]),
        "answer_decimal": f"{Decimal(result['answer']).scaleb(-8):f}",
        "observed_at": result["observed_at"],
        "reason": result["reason"],
        "sources": result["sources"],
        "transmissions": [
            {"chain": "evm:47763", "chain_round_id": 7, "status": "confirmed"},
            {"chain": "n3:894710606", "chain_round_id": 3, "status": "pending"},
        ],
        "request": observation.request,
        "envelope": observation.envelope,
    }


async def test_a_signed_round_verifies_with_its_reports() -> None:
    identity = Identity.generate()
    verified = verify_price_round(await round_json(SigningObserver(identity)), verified_identity(identity))
    assert (verified.pair, verified.answer, verified.decimals, verified.price) == (
        "NEO/USD",
        1_234_000_000,
        8,
        Decimal("12.34"),
    )
    assert [(r.chain, r.feed, r.round_id) for r in verified.reports] == [
        ("evm:47763", EVM_FEED, 7),
        ("n3:894710606", N3_CONTRACT, 3),
    ]
    # The rules' hash, recomputed from the signed request: what the contracts must have registered.
    assert verified.config_hash == config_hash_of_params(ARGS)


async def test_a_config_hash_that_is_not_the_request_s_rules_is_refused() -> None:
    identity = Identity.generate()
    lying = SigningObserver(identity, config_hash=bytes(32))  # signs reports under other rules
    with pytest.raises(PriceRoundVerificationFailed, match="not the hash of the signed request's rules"):
        verify_price_round(await round_json(lying), verified_identity(identity))


async def test_reports_signed_by_another_key_are_refused() -> None:
    identity = Identity.generate()
    forged = SigningObserver(identity, report_signer=Identity.generate())
    with pytest.raises(PriceRoundVerificationFailed, match="not signed by the enclave identity"):
        verify_price_round(await round_json(forged), verified_identity(identity))


async def test_an_envelope_of_another_enclave_is_refused() -> None:
    body = await round_json(SigningObserver(Identity.generate()))
    with pytest.raises(SignatureInvalid):
        verify_price_round(body, verified_identity(Identity.generate()))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param("unchanged", "not to publish", id="unchanged"),
        pytest.param("breaker_pending", "not to publish", id="breaker-pending"),
    ],
)
async def test_an_observation_that_did_not_publish_is_no_round(action: str, message: str) -> None:
    identity = Identity.generate()
    observer = SigningObserver(identity)
    observer.script(action, "within_threshold", 1_234_000_000)
    with pytest.raises(PriceRoundVerificationFailed, match=message):
        verify_price_round(await round_json(observer), verified_identity(identity))


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"request": None}, id="no-request"),
        pytest.param({"envelope": None}, id="no-envelope"),
        pytest.param(
            {"transmissions": [{"chain": "evm:1", "chain_round_id": 7}]}, id="transmission-elsewhere"
        ),
        pytest.param({"pair": "GAS/USD"}, id="another-pair"),
    ],
)
async def test_a_malformed_or_altered_round_is_refused(broken: dict[str, Any]) -> None:
    identity = Identity.generate()
    body = {**await round_json(SigningObserver(identity)), **broken}
    with pytest.raises((PriceRoundVerificationFailed, SignatureInvalid)):
        verify_price_round(body, verified_identity(identity))
