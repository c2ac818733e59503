"""Offline parsing and verification of Intel DCAP quotes (SGX v3, TDX v4/v5) with ``dcap-qvl``.

``dcap-qvl`` (Phala Network's Rust port of Intel's Quote Verification Library) checks the whole chain
of the Intel SGX/TDX DCAP attestation model: the PCK certificate chain up to the Intel SGX Root CA (or
a root the caller passes), the CRLs, the QE report signature and its binding of the attestation key,
the quote signature, the QE identity and the TCB info (signatures, validity dates, FMSPC), and it
refuses debug enclaves / debug TDs and TDs with a service TD bound (MRSERVICETD not zero). It needs
the *collateral* (TCB info, QE identity, CRLs and their issuer chains, from Intel PCS or a PCCS) —
fetched ahead of time, so verification itself is offline.

What it returns is a platform TCB status; only the statuses in ``accepted_tcb_statuses`` (default
``UpToDate``) are trusted. Everything that fails is a typed error: :class:`QuoteInvalid` for bytes that
are not a quote, :class:`QuoteUntrusted` for a quote that does not verify or whose TCB is not accepted,
:class:`QuoteTcbNotSupported` (a subclass) when no TCB level of the TCB info matches the platform.

TDX quotes carry a TD Report 1.0 (quote v4, or v5 body type 2) or a TD Report 1.5 (quote v5 body type
3, what TDX 1.5 modules produce): the 1.0 body (584 bytes) followed by TEE_TCB_SVN_2 (16) and
MRSERVICETD (48). Sources: Intel's DCAP quote format v5 as parsed by Intel's QVL
(SGX-TDX-DCAP-QuoteVerificationLibrary ``QuoteVerification/Quote.cpp``: body descriptor, type 3, size
``TD_REPORT15_BYTE_LEN`` = 648, checked) and by dcap-qvl (``src/quote.rs``, ``TDReport15``), whose
parsed fields this module exposes; TEE_TCB_SVN_2 is what Intel's ``TDRelaunchCheck.cpp`` compares.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import dcap_qvl

from neo_service_layer.errors import QuoteInvalid, QuoteTcbNotSupported, QuoteUntrusted

# TCB statuses of Intel's TCB info (Intel PCS API, "TCB Info V3": tcbLevels[].tcbStatus).
DEFAULT_ACCEPTED_TCB_STATUSES: Final = frozenset({"UpToDate"})
# dcap-qvl's verdict when no TCB level matches (src/verify.rs, match_platform_tcb); pinned in
# requirements.lock, and the real TDX v5 quote in tests/testdata/dcap fails the tests if it changes.
_NO_TCB_LEVEL: Final = "No matching TCB level found"

type Collateral = dcap_qvl.QuoteCollateralV3 | str | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QuoteInfo:
    """What a quote claims (parsed, not yet verified)."""

    tee: Literal["sgx", "tdx"]
    version: int
    measurement: bytes  # SGX MRENCLAVE (32 bytes) or TDX MRTD (48 bytes)
    signer: bytes | None  # SGX MRSIGNER; None for TDX
    report_data: bytes  # 64 bytes
    rtmrs: tuple[bytes, ...]  # TDX RTMR0..3; empty for SGX
    # TD Report 1.5 only (None for TD Report 1.0 and SGX): TEE_TCB_SVN_2, the TDX module's current TCB
    # SVN after TD-preserving module updates (16 bytes), and MRSERVICETD, the hash over the service TDs
    # bound to this TD (48 bytes, zero when none is) — a bound migration TD can export the TD's state.
    tee_tcb_svn_2: bytes | None = None
    mr_servicetd: bytes | None = None


@dataclass(frozen=True, slots=True)
class VerifiedQuote:
    """A quote that verified, with the platform's TCB status and the Intel advisories that apply."""

    info: QuoteInfo
    tcb_status: str
    advisory_ids: tuple[str, ...]


def parse_quote(raw: bytes) -> QuoteInfo:
    """The claims of ``raw``; :class:`QuoteInvalid` if it is not an SGX or TDX DCAP quote."""
    try:
        quote = dcap_qvl.parse_quote(bytes(raw))
    except ValueError as exc:
        raise QuoteInvalid(f"not a DCAP quote: {exc}") from exc
    report = quote.report
    if isinstance(report, dcap_qvl.SgxEnclaveReport):
        return QuoteInfo(
            tee="sgx",
            version=quote.header.version,
            measurement=bytes(report.mr_enclave),
            signer=bytes(report.mr_signer),
            report_data=bytes(report.report_data),
            rtmrs=(),
        )
    # dcap-qvl's stub declares TdReport15 a subclass of TdReport10; the extension's classes are unrelated
    # at runtime (0.7.0), so both are named. TdReport15Ex (v5 body type 4) stays unsupported: untested.
    if isinstance(report, dcap_qvl.TdReport10 | dcap_qvl.TdReport15):
        td15 = report if isinstance(report, dcap_qvl.TdReport15) else None
        return QuoteInfo(
            tee="tdx",
            version=quote.header.version,
            measurement=bytes(report.mr_td),
            signer=None,
            report_data=bytes(report.report_data),
            rtmrs=tuple(bytes(mr) for mr in (report.rt_mr0, report.rt_mr1, report.rt_mr2, report.rt_mr3)),
            tee_tcb_svn_2=bytes(td15.tee_tcb_svn2) if td15 is not None else None,
            mr_servicetd=bytes(td15.mr_service_td) if td15 is not None else None,
        )
    raise QuoteInvalid(f"unsupported quote report type {type(report).__name__}")


def load_collateral(collateral: Collateral) -> dcap_qvl.QuoteCollateralV3:
    """Collateral as dcap-qvl's object, from itself, its JSON text, or that JSON as a dict."""
    if isinstance(collateral, dcap_qvl.QuoteCollateralV3):
        return collateral
    text = collateral if isinstance(collateral, str) else json.dumps(dict(collateral))
    try:
        return dcap_qvl.QuoteCollateralV3.from_json(text)
    except ValueError as exc:
        raise QuoteUntrusted(f"the quote collateral is malformed: {exc}") from exc


def verify_quote(
    raw: bytes,
    collateral: Collateral,
    *,
    now: int | None = None,
    root_ca_der: bytes | None = None,
    accepted_tcb_statuses: Collection[str] = DEFAULT_ACCEPTED_TCB_STATUSES,
) -> VerifiedQuote:
    """Verify ``raw`` against ``collateral`` at ``now`` (Unix seconds; default: the clock).

    The trust anchor is the Intel SGX Root CA built into dcap-qvl, or ``root_ca_der`` when given (a
    private PKI, e.g. in tests). :class:`QuoteInvalid` if it does not parse, :class:`QuoteUntrusted`
    if it does not verify or the platform's TCB status is not in ``accepted_tcb_statuses`` (``extra``:
    ``tcb_status``, ``advisory_ids``), :class:`QuoteTcbNotSupported` if no TCB level matches at all
    (``extra``: ``fmspc``) — whatever ``accepted_tcb_statuses`` says.
    """
    info = parse_quote(raw)
    loaded = load_collateral(collateral)
    at = int(time.time()) if now is None else now
    try:
        if root_ca_der is None:
            report = dcap_qvl.verify(bytes(raw), loaded, at)
        else:
            report = dcap_qvl.verify_with_root_ca(bytes(raw), loaded, root_ca_der, at)
    except ValueError as exc:
        reason = _first_line(exc)
        if reason.endswith(_NO_TCB_LEVEL):
            # dcap-qvl matches the TCB levels after every signature, chain and identity check passed.
            fmspc = dcap_qvl.parse_quote(bytes(raw)).fmspc()
            raise QuoteTcbNotSupported(
                f"the {info.tee} quote's signatures verify, but no TCB level of the TCB info for FMSPC "
                f"{fmspc} matches the platform: every level requires a higher SVN in some component of "
                f"the PCK certificate's CPUSVN/PCESVN{' or the TEE_TCB_SVN' if info.tee == 'tdx' else ''}",
                fmspc=fmspc,
            ) from exc
        raise QuoteUntrusted(f"the {info.tee} quote does not verify: {reason}") from exc
    advisories = list(report.advisory_ids)
    if report.status not in accepted_tcb_statuses:
        raise QuoteUntrusted(
            f"the platform's TCB status is {report.status} "
            f"(accepted: {', '.join(sorted(accepted_tcb_statuses))}; "
            f"advisories: {', '.join(advisories) or 'none'})",
            tcb_status=report.status,
            advisory_ids=advisories,
        )
    return VerifiedQuote(info=info, tcb_status=report.status, advisory_ids=tuple(advisories))


def _first_line(exc: Exception) -> str:
    # dcap-qvl's messages carry an anyhow cause chain over several lines; the first two are the story.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and line.strip() != "Caused by:"]
    return ": ".join(lines[:3])
