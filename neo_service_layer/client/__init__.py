"""The Python client of the Neo Service Layer: offline verification of what the enclave attests and signs."""

from __future__ import annotations

from neo_service_layer.client.attestation import VerifiedIdentity, verify_attestation, verify_result

__all__ = ["VerifiedIdentity", "verify_attestation", "verify_result"]
