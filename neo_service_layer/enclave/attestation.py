"""The attestation report (docs/enclave.md §4): identity keys bound to the measurement and, on hardware,
to the platform by a quote whose REPORTDATA is the report's ``report_data``.

``report_data = SHA-256("NSL-ATTEST-V1" ‖ 0x00 ‖ p256 ‖ k1 ‖ x25519 ‖ measurement)`` with the compressed
keys (33 bytes each), the 32-byte X25519 transport key and the raw 32-byte measurement: fixed lengths,
so the encoding is unambiguous. Both
identity keys sign ``report_data`` (proof of possession); the 32-byte message cannot be confused with
a 78-byte result preimage.
"""

from __future__ import annotations

import hashlib
from typing import Final

from neo_service_layer.enclave.identity import Identity, IdentityPublic
from neo_service_layer.enclave.protocol import PROTOCOL_VERSION
from neo_service_layer.enclave.schemas import AttestationReport, IdentityInfo, ReportSignature
from neo_service_layer.enclave.tee.base import TeeBackend

ATTEST_DOMAIN: Final = b"NSL-ATTEST-V1\x00"


def attestation_report_data(p256: bytes, k1: bytes, x25519: bytes, measurement: bytes) -> bytes:
    """The 32-byte report data binding the identity keys and the transport key to the measurement."""
    if len(p256) != 33 or len(k1) != 33 or len(x25519) != 32 or len(measurement) != 32:
        raise ValueError(
            "report data binds two 33-byte compressed keys, a 32-byte X25519 key and a 32-byte measurement"
        )
    return hashlib.sha256(ATTEST_DOMAIN + p256 + k1 + x25519 + measurement).digest()


def identity_info(public: IdentityPublic) -> IdentityInfo:
    return IdentityInfo(
        p256=public.p256.hex(), k1=public.k1.hex(), k1_address=public.k1_address, x25519=public.x25519.hex()
    )


def build_report(identity: Identity, backend: TeeBackend, measurement: str) -> AttestationReport:
    """The report of this enclave. Asks the backend for a quote: blocking, run it off the event loop."""
    public = identity.public
    report_data = attestation_report_data(public.p256, public.k1, public.x25519, bytes.fromhex(measurement))
    signatures = identity.sign(report_data)
    return AttestationReport(
        tee=backend.tee,
        backend=backend.name,
        protocol_version=PROTOCOL_VERSION,
        measurement=measurement,
        identity=identity_info(public),
        report_data=report_data.hex(),
        quote=backend.quote(report_data),
        signature=ReportSignature(p256=signatures.p256.hex(), k1=signatures.k1.hex()),
    )
