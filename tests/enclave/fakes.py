"""FAKE hardware devices for tests — this machine has no TEE.

* :class:`FakeTsmFs` stands in for the kernel behind configfs-tsm: the backend's real file operations
  run against a temporary directory, and this class adds what the kernel would do (create the
  attribute files on mkdir, count writes in ``generation``, produce ``outblob`` from ``inblob``).
* :func:`fake_gramine_dir` lays out Gramine's ``/dev/attestation`` files in a temporary directory.

Quotes come from :class:`tests.enclave.dcap_pki.DcapWorld` (synthetic, verifiable with its own root).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from neo_service_layer.enclave.tee.tdx import TsmFs


class FakeTsmFs(TsmFs):
    """FAKE configfs-tsm kernel side (see module docstring)."""

    def __init__(
        self,
        make_quote: Callable[[bytes], bytes],
        *,
        provider: str = "tdx_guest",
        extra_writes: int = 0,
        fail_outblob: bool = False,
    ) -> None:
        self.make_quote = make_quote
        self.provider = provider
        self.extra_writes = extra_writes  # simulate another writer touching our entry
        self.fail_outblob = fail_outblob
        self.inblobs: list[bytes] = []

    def make_entry(self, report_dir: Path) -> Path:
        entry = super().make_entry(report_dir)
        (entry / "provider").write_text(self.provider + "\n")
        (entry / "generation").write_text("0\n")
        for name in ("inblob", "outblob"):
            (entry / name).write_bytes(b"")
        return entry

    def write(self, path: Path, data: bytes) -> None:
        super().write(path, data)
        if path.name == "inblob":
            self.inblobs.append(data)
            generation = int((path.parent / "generation").read_text()) + 1 + self.extra_writes
            (path.parent / "generation").write_text(f"{generation}\n")
            (path.parent / "outblob").write_bytes(self.make_quote(data))

    def read(self, path: Path) -> bytes:
        if self.fail_outblob and path.name == "outblob":
            raise OSError(5, "Input/output error")
        return super().read(path)

    def remove_entry(self, entry: Path) -> None:
        for child in entry.iterdir():
            child.unlink()
        super().remove_entry(entry)


def fake_gramine_dir(root: Path, *, attestation_type: str = "dcap", quote: bytes = b"") -> Path:
    """FAKE Gramine /dev/attestation tree under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "attestation_type").write_text(attestation_type + "\n")
    (root / "user_report_data").write_bytes(b"")
    (root / "quote").write_bytes(quote)
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "_sgx_mrenclave").write_bytes(os.urandom(16))
    return root


def fake_tdx_machine(root: Path) -> tuple[Path, Path]:
    """FAKE TDX guest: a /dev/tdx_guest stand-in and an empty configfs-tsm report directory."""
    device = root / "tdx_guest"
    device.write_bytes(b"")
    report_dir = root / "tsm" / "report"
    report_dir.mkdir(parents=True)
    return device, report_dir
