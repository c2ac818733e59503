"""Audit fixtures: an enclave client on the real in-process enclave server, and its verified identity."""

from __future__ import annotations

import pytest

from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.enclave.server import EnclaveServer


@pytest.fixture
def identity(enclave_server: EnclaveServer) -> VerifiedIdentity:
    return verify_attestation(enclave_server.ctx.report, allow_software=True)
