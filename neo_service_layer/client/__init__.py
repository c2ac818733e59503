"""The Python client of the Neo Service Layer: offline verification of what the enclave attests and signs,
reading the price feeds (``FeedsClient``) and using the functions service (``FunctionsClient``)."""

from __future__ import annotations

from neo_service_layer.client.attestation import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.client.feeds import FeedsClient
from neo_service_layer.client.functions import verify_function_result
from neo_service_layer.client.functions_api import FunctionsClient
from neo_service_layer.client.http import ApiClient
from neo_service_layer.client.oracle import VerifiedOracleAnswer, VerifiedSource, verify_oracle_result
from neo_service_layer.client.pricefeed import VerifiedPriceRound, VerifiedReport, verify_price_round
from neo_service_layer.client.randomness import (
    RandomnessResult,
    VerificationReason,
    VerifiedRandomness,
    verify_randomness,
)

__all__ = [
    "ApiClient",
    "FeedsClient",
    "FunctionsClient",
    "RandomnessResult",
    "VerificationReason",
    "VerifiedIdentity",
    "VerifiedOracleAnswer",
    "VerifiedPriceRound",
    "VerifiedRandomness",
    "VerifiedReport",
    "VerifiedSource",
    "verify_attestation",
    "verify_function_result",
    "verify_oracle_result",
    "verify_price_round",
    "verify_randomness",
    "verify_result",
]
