"""The software backend: a real process boundary and real crypto, but no hardware protection.

It is reported as ``tee: "none"`` everywhere (log line, attestation) and never as hardware: anyone
with root on the machine, or the sealing passphrase and the state file, has the enclave's keys.
"""

from __future__ import annotations

from typing import Literal

from neo_service_layer.config import Settings
from neo_service_layer.enclave.sealing import SealingKeyProvider, software_key_provider


class SoftwareBackend:
    name: Literal["software"] = "software"
    tee: Literal["none"] = "none"
    hardware = False

    def describe(self) -> str:
        return "tee=none: software enclave, not hardware-protected"

    def quote(self, report_data: bytes) -> bytes | None:
        return None  # no hardware, no quote: verifiers see tee "none" and nothing that looks like proof

    def sealing_key_provider(self, settings: Settings) -> SealingKeyProvider:
        return software_key_provider(
            settings.enclave.passphrase, settings.enclave.key_file, settings.effective_enclave_state_dir
        )
