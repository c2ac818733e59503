"""The enclave's attestation (``/v1/attestation``): public, so anyone can check results offline."""

from __future__ import annotations

from fastapi import APIRouter, Request

from neo_service_layer.api.routes import problems
from neo_service_layer.api.state import app_state
from neo_service_layer.enclave.schemas import AttestationReport

router = APIRouter(prefix="/v1/attestation", tags=["attestation"])


@router.get("", name="attestation.get", responses=problems(503))
async def get_attestation(request: Request) -> AttestationReport:
    """Identity public keys, measurement, TEE type, quote (hardware only) and self-signature.

    Verify it with ``neo_service_layer.client.verify_attestation`` (offline); a software enclave
    reports ``tee: "none"`` and is never presented as hardware.
    """
    return await app_state(request).enclave.attest()
