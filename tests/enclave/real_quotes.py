"""Real Intel DCAP quotes and the collateral Intel served for them (tests/testdata/dcap, see its README).

Each sample knows a verification time inside its collateral's validity (derived from the collateral,
never the wall clock) and where its parts are, per the quote format (Intel SGX ECDSA Quote Library
API, "Quote Format" v3/v4; v5 adds a 6-byte body descriptor before the body; Intel QVL
``QuoteVerification/Quote.cpp``): tampering tests flip bits at these offsets, and
``test_verify_real_quotes`` checks every offset against what dcap-qvl parses and what the collateral
says, so a flipped bit is known to land in the part it is named after.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

DCAP_TESTDATA: Final = Path(__file__).resolve().parents[1] / "testdata" / "dcap"
HEADER_BYTES: Final = 48
BODY_DESCRIPTOR_BYTES: Final = 6  # quote v5: u16 body type, u32 body size
SGX_REPORT_BYTES: Final = 384
TD_REPORT10_BYTES: Final = 584
TD_REPORT15_BYTES: Final = 648  # TD Report 1.0 + TEE_TCB_SVN_2 (16) + MRSERVICETD (48)
SIGNATURE_BYTES: Final = 64  # ECDSA P-256 r || s
ATTESTATION_KEY_BYTES: Final = 64
CERT_DATA_HEADER_BYTES: Final = 6  # u16 type, u32 size (v4/v5 wrap the QE report in type 6)
# Offsets inside the report bodies (SGX REPORTBODY; TDX TD Report, Intel TDX module ABI TDREPORT).
SGX_REPORT_DATA_AT: Final = 320
TD_MR_TD_AT: Final = 136
TD_RTMR0_AT: Final = 328
TD_REPORT_DATA_AT: Final = 520
TD_TEE_TCB_SVN_2_AT: Final = 584
TD_MR_SERVICETD_AT: Final = 600
QE_MRSIGNER_AT: Final = 128  # in the QE's SGX REPORTBODY

Name = Literal["sgx_quote", "tdx_quote", "tdx_quote_outdated"]
NAMES: Final[tuple[Name, ...]] = ("sgx_quote", "tdx_quote", "tdx_quote_outdated")
HOUR: Final = 3600


def _unix(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


@dataclass(frozen=True)
class RealQuote:
    """One sample: the raw quote, its collateral JSON, the times to verify at and its layout."""

    name: Name
    raw: bytes
    collateral: str  # dcap-qvl's QuoteCollateralV3 JSON, as served

    @property
    def collateral_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = json.loads(self.collateral)
        return fields

    @property
    def tcb_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(self.collateral_fields["tcb_info"])
        return info

    @property
    def qe_identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = json.loads(self.collateral_fields["qe_identity"])
        return identity

    @property
    def now(self) -> int:
        """A time inside the collateral's validity: an hour after the TCB info was issued."""
        return _unix(self.tcb_info["issueDate"]) + HOUR

    @property
    def expired(self) -> int:
        """One second after the TCB info's nextUpdate."""
        return _unix(self.tcb_info["nextUpdate"]) + 1

    @property
    def version(self) -> int:
        return int.from_bytes(self.raw[0:2], "little")

    @property
    def body_at(self) -> int:
        return HEADER_BYTES + (BODY_DESCRIPTOR_BYTES if self.version == 5 else 0)

    @property
    def body_bytes(self) -> int:
        if self.name == "sgx_quote":
            return SGX_REPORT_BYTES
        return TD_REPORT15_BYTES if self.version == 5 else TD_REPORT10_BYTES

    @property
    def report_data_at(self) -> int:
        return self.body_at + (SGX_REPORT_DATA_AT if self.name == "sgx_quote" else TD_REPORT_DATA_AT)

    @property
    def signature_at(self) -> int:
        return self.body_at + self.body_bytes + 4  # after the u32 length of the signature data

    @property
    def attestation_key_at(self) -> int:
        return self.signature_at + SIGNATURE_BYTES

    @property
    def qe_report_at(self) -> int:
        wrapped = 0 if self.version == 3 else CERT_DATA_HEADER_BYTES
        return self.attestation_key_at + ATTESTATION_KEY_BYTES + wrapped

    @property
    def qe_report_signature_at(self) -> int:
        return self.qe_report_at + SGX_REPORT_BYTES


@cache
def real_quote(name: Name) -> RealQuote:
    """The sample ``name`` from tests/testdata/dcap."""
    return RealQuote(
        name=name,
        raw=(DCAP_TESTDATA / name).read_bytes(),
        collateral=(DCAP_TESTDATA / f"{name}_collateral.json").read_text(),
    )


def flip_bit(raw: bytes, offset: int) -> bytes:
    """``raw`` with the lowest bit of byte ``offset`` flipped."""
    data = bytearray(raw)
    data[offset] ^= 0x01
    return bytes(data)
