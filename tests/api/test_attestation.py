"""``GET /v1/attestation``: the enclave's report, verifiable offline with the Python client."""

from __future__ import annotations

import httpx
import pytest

from neo_service_layer.client import verify_attestation
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import AttestationInvalid
from tests.api.helpers import assert_problem


async def test_attestation_verifies_offline(client: httpx.AsyncClient, enclave_measurement: str) -> None:
    response = await client.get("/v1/attestation")
    assert response.status_code == 200
    report = response.json()
    assert report["tee"] == "none"
    assert report["quote"] is None
    identity = verify_attestation(report, expected_measurement=enclave_measurement, allow_software=True)
    assert identity.k1_address == report["identity"]["k1_address"]
    # A software enclave is never accepted as hardware.
    with pytest.raises(AttestationInvalid):
        verify_attestation(report, expected_measurement=enclave_measurement)


async def test_attestation_is_503_when_the_enclave_is_down(
    client: httpx.AsyncClient, enclave_server: EnclaveServer
) -> None:
    await enclave_server.stop()
    response = await client.get("/v1/attestation")
    assert_problem(response, 503, "enclave_unavailable")
