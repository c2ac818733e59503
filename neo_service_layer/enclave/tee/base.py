"""The interface every TEE backend implements, and the report-data convention of quotes."""

from __future__ import annotations

from typing import Final, Literal, Protocol

from neo_service_layer.config import Settings
from neo_service_layer.enclave.sealing import SealingKeyProvider

TeeType = Literal["none", "sgx", "tdx"]
BackendName = Literal["software", "sgx", "tdx"]
TEE_OF_BACKEND: Final[dict[BackendName, TeeType]] = {"software": "none", "sgx": "sgx", "tdx": "tdx"}
# SGX REPORTDATA and TDX REPORTDATA are both 64 bytes (Intel SGX SDM vol. 3D §38.15; TDX module
# ABI, TDREPORT_STRUCT). Our report data is a 32-byte SHA-256, followed by 32 zero bytes.
QUOTE_REPORT_DATA_BYTES: Final = 64


def quote_report_data(report_data: bytes) -> bytes:
    """The 64-byte REPORTDATA a quote carries for our 32-byte ``report_data``."""
    if len(report_data) != 32:
        raise ValueError("report data is a 32-byte hash")
    return report_data + bytes(QUOTE_REPORT_DATA_BYTES - 32)


class TeeBackend(Protocol):
    """A TEE: what it is called, how it quotes, and where its sealing key comes from."""

    @property
    def name(self) -> BackendName: ...

    @property
    def tee(self) -> TeeType: ...

    @property
    def hardware(self) -> bool:
        """Whether a hardware TEE protects this process (False only for ``software``)."""
        ...

    def describe(self) -> str:
        """One line for the start-up log: which backend runs and what it protects."""
        ...

    def quote(self, report_data: bytes) -> bytes | None:
        """A quote over the 32-byte ``report_data`` (hardware), or None (software). Blocking I/O."""
        ...

    def sealing_key_provider(self, settings: Settings) -> SealingKeyProvider: ...
