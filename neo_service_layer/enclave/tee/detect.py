"""Backend selection: ``auto`` picks the hardware the process runs on, an explicit choice must exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neo_service_layer.config import EnclaveBackend
from neo_service_layer.enclave.tee.base import BackendName, TeeBackend
from neo_service_layer.enclave.tee.sgx import GRAMINE_ATTESTATION_DIR, SgxBackend
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.enclave.tee.tdx import TDX_GUEST_DEVICE, TSM_REPORT_DIR, TdxBackend
from neo_service_layer.errors import TeeUnavailable


@dataclass(frozen=True, slots=True)
class DevicePaths:
    """Where the TEE interfaces live (the documented defaults; tests point them at fakes)."""

    gramine_attestation_dir: Path = GRAMINE_ATTESTATION_DIR
    tsm_report_dir: Path = TSM_REPORT_DIR
    tdx_guest_device: Path = TDX_GUEST_DEVICE


def missing_requirement(backend: BackendName, paths: DevicePaths) -> str | None:
    """Why ``backend`` cannot run here, or None if it can."""
    if backend == "sgx":
        return SgxBackend.missing(paths.gramine_attestation_dir)
    if backend == "tdx":
        return TdxBackend.missing(paths.tsm_report_dir, paths.tdx_guest_device)
    return None


def available_backends(paths: DevicePaths | None = None) -> list[BackendName]:
    """The backends this process could run, hardware first."""
    found = paths or DevicePaths()
    order: tuple[BackendName, ...] = ("sgx", "tdx", "software")
    return [name for name in order if missing_requirement(name, found) is None]


def select_backend(requested: EnclaveBackend, paths: DevicePaths | None = None) -> TeeBackend:
    """The backend for the ``settings.enclave.backend`` setting (``NSL_ENCLAVE_BACKEND``).

    ``auto``: SGX inside Gramine, else a TDX guest, else software. An explicit hardware backend that
    is not available is a :class:`TeeUnavailable` error — never a silent fall-back to software.
    """
    found = paths or DevicePaths()
    name: BackendName = available_backends(found)[0] if requested == "auto" else requested
    reason = missing_requirement(name, found)
    if reason is not None:
        raise TeeUnavailable(f"enclave backend {name!r} is not available: {reason}")
    if name == "sgx":
        backend = SgxBackend(found.gramine_attestation_dir)
        backend.check()
        return backend
    if name == "tdx":
        return TdxBackend(found.tsm_report_dir)
    return SoftwareBackend()
