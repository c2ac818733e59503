"""The Intel SGX backend: the enclave runs inside Gramine and uses its ``/dev/attestation`` files.

Gramine's attestation pseudo-filesystem (Gramine docs, "Attestation and Secret Provisioning" →
"Low-level /dev/attestation interface"):

* ``attestation_type`` — ``none``, ``epid`` or ``dcap`` (manifest ``sgx.remote_attestation``); we need
  ``dcap``: our verifier (dcap-qvl) checks ECDSA DCAP quotes, and EPID/IAS is end-of-life.
* ``user_report_data`` — write 64 bytes: the REPORTDATA of the next quote.
* ``quote`` — read: a DCAP quote over the last ``user_report_data`` (Gramine asks the AESM / quoting
  enclave on the host).
* ``keys/_sgx_mrenclave`` — read: the 128-bit SGX sealing key bound to MRENCLAVE (EGETKEY with
  KEYPOLICY.MRENCLAVE, Intel SDM vol. 3D §38.17), exposed since Gramine 1.5. Only this exact enclave
  build on this CPU derives it — so an upgraded enclave cannot open the old state (a new identity).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final, Literal

from neo_service_layer.config import Settings
from neo_service_layer.enclave.sealing import GramineSgxKeyProvider, SealingKeyProvider
from neo_service_layer.enclave.tee.base import quote_report_data
from neo_service_layer.enclave.tee.verify import parse_quote
from neo_service_layer.errors import QuoteInvalid, TeeUnavailable

GRAMINE_ATTESTATION_DIR: Final = Path("/dev/attestation")


class SgxBackend:
    name: Literal["sgx"] = "sgx"
    tee: Literal["sgx"] = "sgx"
    hardware = True

    def __init__(self, attestation_dir: Path = GRAMINE_ATTESTATION_DIR) -> None:
        self.attestation_dir = attestation_dir
        # Guards the write-user_report_data-then-read-quote pair: Gramine keeps one report data per
        # process, so two interleaved quotes could each carry the other's data.
        self._lock = threading.Lock()

    @staticmethod
    def missing(attestation_dir: Path = GRAMINE_ATTESTATION_DIR) -> str | None:
        """Why this process cannot run the SGX backend, or None if it can."""
        for name in ("attestation_type", "user_report_data", "quote"):
            if not (attestation_dir / name).exists():
                return f"{attestation_dir / name} does not exist (not running inside a Gramine SGX enclave)"
        return None

    def attestation_type(self) -> str:
        return (self.attestation_dir / "attestation_type").read_text("ascii").strip()

    def check(self) -> None:
        """TeeUnavailable unless Gramine is configured for DCAP remote attestation."""
        kind = self.attestation_type()
        if kind != "dcap":
            raise TeeUnavailable(
                f"Gramine attestation type is {kind!r}; the enclave needs 'dcap' "
                '(manifest: sgx.remote_attestation = "dcap")'
            )

    def describe(self) -> str:
        return f"tee=sgx: Intel SGX enclave (Gramine, DCAP quotes via {self.attestation_dir})"

    def quote(self, report_data: bytes) -> bytes:
        """A DCAP quote whose REPORTDATA is ``report_data ‖ 0^32``, checked before it is returned."""
        self.check()
        expected = quote_report_data(report_data)
        with self._lock:
            try:
                (self.attestation_dir / "user_report_data").write_bytes(expected)
                raw = (self.attestation_dir / "quote").read_bytes()
            except OSError as exc:
                raise TeeUnavailable(f"Gramine could not produce a quote: {exc}") from exc
        try:
            info = parse_quote(raw)
        except QuoteInvalid as exc:
            raise TeeUnavailable(f"Gramine returned something that is not a quote: {exc.detail}") from exc
        if info.tee != "sgx" or info.report_data != expected:
            raise TeeUnavailable("the SGX quote does not carry our report data")
        return raw

    def sealing_key_provider(self, settings: Settings) -> SealingKeyProvider:
        return GramineSgxKeyProvider(self.attestation_dir)
