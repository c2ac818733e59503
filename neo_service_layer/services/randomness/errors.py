"""Errors of the randomness service (docs/randomness.md). Codes are public API, never renamed.

The output spec's errors (``randomness_words_out_of_range`` ...) and ``randomness_verification_failed``
are raised below the services, by ``enclave/crypto/randomness.py`` and the Python client, which the
service shares: they are in ``neo_service_layer.errors``.
"""

from __future__ import annotations

from neo_service_layer.errors import NotFound, ValidationFailed


class RandomnessNotFound(NotFound):
    code = "randomness_not_found"
    title = "Randomness request not found"


class RandomnessUnknownScheme(ValidationFailed):
    code = "randomness_unknown_scheme"
    title = "Unknown VRF scheme"


class RandomnessOutputConflict(ValidationFailed):
    code = "randomness_output_conflict"
    title = "Ask for words or for bytes, not both"


class RandomnessSeedNotHex(ValidationFailed):
    code = "randomness_seed_not_hex"
    title = "The seed must be hex (an even number of digits, optional 0x)"


class RandomnessBatchSize(ValidationFailed):
    code = "randomness_batch_size"
    title = "A batch holds 1..100 requests"


class RandomnessKeySchemeMismatch(ValidationFailed):
    code = "randomness_key_scheme_mismatch"
    title = "The key's type does not prove this VRF scheme"
