"""The Intel TDX backend: the enclave runs in a TD guest and gets quotes through configfs-tsm.

Quote generation follows the kernel's configfs-tsm ABI (Documentation/ABI/testing/configfs-tsm-report,
Linux ≥ 6.7): ``mkdir /sys/kernel/config/tsm/report/<name>`` creates a one-shot request whose
``provider`` names the TSM (``tdx_guest``); writing up to 64 bytes to ``inblob`` sets REPORTDATA;
reading ``outblob`` makes the kernel ask the host's Quote Generation Service for a quote; every write
to an attribute increments ``generation``, so reading it back after ``outblob`` proves no other writer
changed the request in between (the check Intel's and CoCo's attestation agents make). ``rmdir``
releases the request.

Only configfs-tsm is used. ``/dev/tdx_guest`` is used for detection (the TDX guest driver creates it),
not for quotes: its one upstream ioctl, ``TDX_CMD_GET_REPORT0`` (include/uapi/linux/tdx-guest.h),
returns a TDREPORT — MAC'ed for the local platform only — which becomes a quote only by talking to the
QGS ourselves (vsock or TDVMCALL<GetQuote>); the older ``TDX_CMD_GET_QUOTE`` ioctl was never merged
upstream and the kernel routed quote generation through configfs-tsm instead.

TDX has no sealing key of its own: the sealing key comes from the passphrase or the key file, as for
the software backend (docs/enclave.md §2).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final, Literal

from neo_service_layer.config import Settings
from neo_service_layer.enclave.sealing import SealingKeyProvider, software_key_provider
from neo_service_layer.enclave.tee.base import QUOTE_REPORT_DATA_BYTES, quote_report_data
from neo_service_layer.enclave.tee.verify import parse_quote
from neo_service_layer.errors import QuoteInvalid, TeeUnavailable

TSM_REPORT_DIR: Final = Path("/sys/kernel/config/tsm/report")
TDX_GUEST_DEVICE: Final = Path("/dev/tdx_guest")
TDX_PROVIDER: Final = "tdx_guest"
MAX_OUTBLOB_BYTES: Final = 1 << 20


class TsmFs:
    """The file operations of the configfs-tsm protocol (one place, so a test can stand in for the kernel)."""

    def make_entry(self, report_dir: Path) -> Path:
        return Path(tempfile.mkdtemp(prefix="nsl-", dir=report_dir))

    def read(self, path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
                if sum(map(len, chunks)) > MAX_OUTBLOB_BYTES:
                    raise OSError(f"{path} is larger than {MAX_OUTBLOB_BYTES} bytes")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write(self, path: Path, data: bytes) -> None:
        # configfs binary attributes take the whole value in a single write(2).
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {path}")
        finally:
            os.close(fd)

    def remove_entry(self, entry: Path) -> None:
        os.rmdir(entry)


class ConfigfsTsmReport:
    """One-shot quote requests under a configfs-tsm report directory."""

    def __init__(self, report_dir: Path = TSM_REPORT_DIR, fs: TsmFs | None = None) -> None:
        self.report_dir = report_dir
        self._fs = fs or TsmFs()

    def generate(self, inblob: bytes, *, provider: str) -> bytes:
        """The ``outblob`` (quote) for ``inblob``; TeeUnavailable if the TSM is not ``provider`` or fails."""
        if not 1 <= len(inblob) <= QUOTE_REPORT_DATA_BYTES:
            raise ValueError(f"inblob must be 1..{QUOTE_REPORT_DATA_BYTES} bytes")
        try:
            entry = self._fs.make_entry(self.report_dir)
        except OSError as exc:
            raise TeeUnavailable(f"cannot create a configfs-tsm report in {self.report_dir}: {exc}") from exc
        try:
            found = self._fs.read(entry / "provider").decode("ascii", "replace").strip()
            if found != provider:
                raise TeeUnavailable(f"configfs-tsm provider is {found!r}, not {provider!r}")
            self._fs.write(entry / "inblob", inblob)
            outblob = self._fs.read(entry / "outblob")
            generation = self._fs.read(entry / "generation").decode("ascii", "replace").strip()
            # A fresh entry starts at generation 0 and we wrote one attribute: anything else means
            # another writer touched our request, and the outblob may not be over our inblob.
            if generation != "1":
                raise TeeUnavailable(
                    f"configfs-tsm report was modified concurrently (generation {generation})"
                )
            if not outblob:
                raise TeeUnavailable("configfs-tsm returned an empty quote")
            return outblob
        except OSError as exc:
            raise TeeUnavailable(
                f"configfs-tsm quote generation failed ({exc}); is the host's Quote Generation Service up?"
            ) from exc
        finally:
            # A leftover entry (rmdir failing) only costs a directory; the quote is still good.
            with contextlib.suppress(OSError):
                self._fs.remove_entry(entry)


class TdxBackend:
    name: Literal["tdx"] = "tdx"
    tee: Literal["tdx"] = "tdx"
    hardware = True

    def __init__(self, report_dir: Path = TSM_REPORT_DIR, fs: TsmFs | None = None) -> None:
        self._tsm = ConfigfsTsmReport(report_dir, fs)

    @staticmethod
    def missing(report_dir: Path = TSM_REPORT_DIR, device: Path = TDX_GUEST_DEVICE) -> str | None:
        """Why this machine cannot run the TDX backend, or None if it can."""
        if not device.exists():
            return f"{device} does not exist (not a TDX guest, or the tdx_guest driver is not loaded)"
        if not report_dir.is_dir():
            return f"{report_dir} does not exist (configfs-tsm needs Linux >= 6.7 and configfs mounted)"
        return None

    def describe(self) -> str:
        return f"tee=tdx: Intel TDX trust domain, quotes via configfs-tsm ({self._tsm.report_dir})"

    def quote(self, report_data: bytes) -> bytes:
        """A TDX quote whose REPORTDATA is ``report_data ‖ 0^32``, checked before it is returned."""
        expected = quote_report_data(report_data)
        raw = self._tsm.generate(expected, provider=TDX_PROVIDER)
        try:
            info = parse_quote(raw)
        except QuoteInvalid as exc:
            raise TeeUnavailable(
                f"configfs-tsm returned something that is not a quote: {exc.detail}"
            ) from exc
        if info.tee != "tdx" or info.report_data != expected:
            raise TeeUnavailable("the TDX quote does not carry our report data")
        return raw

    def sealing_key_provider(self, settings: Settings) -> SealingKeyProvider:
        return software_key_provider(
            settings.enclave.passphrase, settings.enclave.key_file, settings.effective_enclave_state_dir
        )
