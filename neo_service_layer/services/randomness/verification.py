"""Server-side verification (``POST /v1/randomness/verify``): the client's offline checks, run for callers.

It needs no key access: it verifies a proof with the public key the caller gives, exactly as
``client.verify_randomness`` does offline (the same code). A proof that does not verify is an answer
(``valid: false`` with a :class:`~neo_service_layer.client.randomness.VerificationReason`), not an error;
only requests that cannot be checked at all (unknown scheme, nothing to check, not hex) are 422s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neo_service_layer.client.randomness import VerificationReason, verify_proof, verify_randomness
from neo_service_layer.enclave.crypto.vrf import DEFAULT_SCHEME
from neo_service_layer.errors import RandomnessVerificationFailed, ValidationFailed
from neo_service_layer.services.randomness.params import parse_scheme

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class Verification:
    """``valid`` with β, or not valid with the reason code."""

    valid: bool
    beta: bytes | None = None
    reason: str | None = None


def _hex(value: str, name: str) -> bytes:
    text = value.removeprefix("0x")
    if not _HEX.fullmatch(text):
        raise ValidationFailed(f"{name} must be hex (an even number of digits, optional 0x)", parameter=name)
    return bytes.fromhex(text)


def verify(
    *,
    scheme: str | None,
    public_key: str,
    alpha: str | None = None,
    proof: str | None = None,
    result: Mapping[str, Any] | None = None,
) -> Verification:
    """Check ``proof`` over ``alpha``, or a whole ``result``, under ``public_key`` (module docs)."""
    chosen = parse_scheme(scheme or DEFAULT_SCHEME.value)
    key = _hex(public_key, "public_key")
    try:
        if result is not None:
            if scheme is not None and result.get("scheme") != chosen.value:
                return Verification(False, reason=VerificationReason.SCHEME_MISMATCH.value)
            return Verification(True, beta=verify_randomness(result, key).beta)
        if alpha is None or proof is None:
            raise ValidationFailed("give alpha and proof, or a whole result")
        return Verification(True, beta=verify_proof(chosen, key, _hex(proof, "proof"), _hex(alpha, "alpha")))
    except RandomnessVerificationFailed as exc:
        return Verification(False, reason=exc.reason)
