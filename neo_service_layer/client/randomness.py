"""Offline verification of randomness results: no network, no trust in the service (docs/randomness.md).

::

    result = response.json()                              # POST /v1/randomness or GET /v1/randomness/{id}
    verified = verify_randomness(result, public_key)      # the key's public key, obtained on your own
    verified.words                                        # [int, ...] (or verified.data for bytes)

:func:`verify_randomness` recomputes alpha from the result's recorded fields (scheme, account, request
id, key id and version, seed, enclave nonce, output spec), verifies the proof under the public key the
*caller* gives (never the one inside the result), checks that β is the proof's output and that the
words or bytes are derived from β. Any mismatch raises :class:`RandomnessVerificationFailed` whose
``reason`` is one of :class:`VerificationReason`. The enclave's signature over the result (``envelope``)
is a separate, additional check: ``neo_service_layer.client.verify_result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from neo_service_layer.enclave.crypto import vrf
from neo_service_layer.enclave.crypto.errors import CryptoError, InvalidKeyMaterial
from neo_service_layer.enclave.crypto.randomness import AlphaInput, OutputKind, OutputSpec, alpha, derive
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.errors import NSLError, RandomnessVerificationFailed


class VerificationReason(StrEnum):
    """Why a result does not verify (stable codes; also the ``reason`` of ``POST /v1/randomness/verify``)."""

    MALFORMED_RESULT = "malformed_result"
    UNKNOWN_SCHEME = "unknown_scheme"
    SCHEME_MISMATCH = "scheme_mismatch"
    INVALID_PUBLIC_KEY = "invalid_public_key"
    INVALID_PROOF = "invalid_proof"
    ALPHA_MISMATCH = "alpha_mismatch"
    BETA_MISMATCH = "beta_mismatch"
    OUTPUT_MISMATCH = "output_mismatch"


def _fail(reason: VerificationReason, detail: str) -> RandomnessVerificationFailed:
    return RandomnessVerificationFailed(detail, reason=reason.value)


@dataclass(frozen=True, slots=True)
class RandomnessResult:
    """A randomness result as the API returns it, parsed (hex to bytes, decimal strings to integers)."""

    id: str
    account_id: str
    scheme: Scheme
    key_id: str
    key_version: int
    seed: bytes
    nonce: bytes
    spec: OutputSpec
    proof: bytes
    beta: bytes
    words: list[int] | None
    data: bytes | None
    alpha: bytes | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RandomnessResult:
        """Parse an API result; :class:`RandomnessVerificationFailed` (``malformed_result``) if not one."""
        try:
            scheme = Scheme(body["scheme"])
        except (KeyError, ValueError, TypeError) as exc:
            raise _fail(
                VerificationReason.UNKNOWN_SCHEME, "the result's scheme is missing or unknown"
            ) from exc
        try:
            words, data = body.get("words"), body.get("bytes")
            kind = OutputKind.BYTES if data is not None else OutputKind.WORDS
            count = len(data) // 2 if isinstance(data, str) else len(words or [])
            low, high = body.get("min"), body.get("max")
            spec = OutputSpec(
                kind, count, None if low is None else int(low), None if high is None else int(high)
            )
            return cls(
                id=str(body["id"]),
                account_id=str(body["account_id"]),
                scheme=scheme,
                key_id=str(body["key_id"]),
                key_version=int(body["key_version"]),
                seed=bytes.fromhex(body["seed"]),
                nonce=bytes.fromhex(body["nonce"]),
                spec=spec,
                proof=bytes.fromhex(body["proof"]),
                beta=bytes.fromhex(body["output"]),
                words=None if words is None else [int(w) for w in words],
                data=None if data is None else bytes.fromhex(data),
                alpha=None if body.get("alpha") is None else bytes.fromhex(body["alpha"]),
            )
        except (KeyError, ValueError, TypeError, NSLError) as exc:
            raise _fail(VerificationReason.MALFORMED_RESULT, f"not a randomness result: {exc}") from exc

    def alpha_input(self) -> AlphaInput:
        """The recorded fields alpha is computed from."""
        return AlphaInput(
            scheme=self.scheme.value,
            account_id=self.account_id,
            request_id=self.id,
            key_id=self.key_id,
            key_version=self.key_version,
            seed=self.seed,
            nonce=self.nonce,
            spec=self.spec,
        )


@dataclass(frozen=True, slots=True)
class VerifiedRandomness:
    """A result whose proof, β and output all verified under the caller's public key."""

    id: str
    scheme: Scheme
    beta: bytes
    words: list[int] | None
    data: bytes | None


def _public_key_bytes(public_key: bytes | str) -> bytes:
    if isinstance(public_key, bytes):
        return public_key
    try:
        return bytes.fromhex(public_key.removeprefix("0x"))
    except ValueError as exc:
        raise _fail(VerificationReason.INVALID_PUBLIC_KEY, "the public key is not hex") from exc


def verify_proof(scheme: Scheme, public_key: bytes | str, proof: bytes, alpha_bytes: bytes) -> bytes:
    """β if ``proof`` proves ``alpha_bytes`` under ``public_key``; :class:`RandomnessVerificationFailed`
    (``invalid_public_key`` / ``invalid_proof``) otherwise."""
    try:
        return vrf.verify(scheme, _public_key_bytes(public_key), proof, alpha_bytes)
    except InvalidKeyMaterial as exc:
        raise _fail(VerificationReason.INVALID_PUBLIC_KEY, exc.detail) from exc
    except CryptoError as exc:
        raise _fail(VerificationReason.INVALID_PROOF, exc.detail) from exc


def verify_randomness(
    result: Mapping[str, Any] | RandomnessResult, public_key: bytes | str
) -> VerifiedRandomness:
    """Verify a randomness result offline with the key's public key (module docs); raises on any mismatch."""
    parsed = result if isinstance(result, RandomnessResult) else RandomnessResult.from_json(result)
    try:
        expected_alpha = alpha(parsed.alpha_input())
    except NSLError as exc:
        raise _fail(VerificationReason.MALFORMED_RESULT, exc.detail) from exc
    if parsed.alpha is not None and parsed.alpha != expected_alpha:
        raise _fail(VerificationReason.ALPHA_MISMATCH, "alpha is not the one the recorded fields give")
    beta = verify_proof(parsed.scheme, public_key, parsed.proof, expected_alpha)
    if beta != parsed.beta:
        raise _fail(VerificationReason.BETA_MISMATCH, "the output is not the proof's beta")
    output = derive(beta, parsed.spec)
    if output.words != parsed.words or output.data != parsed.data:
        raise _fail(VerificationReason.OUTPUT_MISMATCH, "the words or bytes are not derived from beta")
    return VerifiedRandomness(parsed.id, parsed.scheme, beta, output.words, output.data)
