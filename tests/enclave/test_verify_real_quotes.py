"""verify.py against real Intel quotes and the collateral Intel served for them (tests/testdata/dcap).

Everything is verified under Intel's SGX Root CA (built into dcap-qvl), at a time inside each
collateral's validity that the collateral itself gives (tests/enclave/real_quotes.py). The tampering
offsets are checked against the parsed quote and the collateral first, so each attack hits the part
it names.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Collection

import dcap_qvl
import pytest

from neo_service_layer.enclave.tee.verify import DEFAULT_ACCEPTED_TCB_STATUSES, parse_quote, verify_quote
from neo_service_layer.errors import QuoteInvalid, QuoteTcbNotSupported, QuoteUntrusted
from tests.enclave.dcap_pki import DcapWorld
from tests.enclave.real_quotes import (
    HEADER_BYTES,
    NAMES,
    QE_MRSIGNER_AT,
    SGX_REPORT_BYTES,
    SIGNATURE_BYTES,
    TD_MR_SERVICETD_AT,
    TD_MR_TD_AT,
    TD_REPORT15_BYTES,
    TD_RTMR0_AT,
    TD_TEE_TCB_SVN_2_AT,
    RealQuote,
    flip_bit,
    real_quote,
)

SGX, TDX10, TDX15 = (real_quote(name) for name in NAMES)
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
SGX_ADVISORIES = ["INTEL-SA-00289", "INTEL-SA-00615"]
# Every status of Intel's TCB info (PCS API, TCB Info V3), so that only the failure under test can refuse.
ALL_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)


# --- the layout the tampering tests rely on ---


@pytest.mark.parametrize("quote", [SGX, TDX10, TDX15], ids=NAMES)
def test_offsets_point_at_the_parts_they_name(quote: RealQuote) -> None:
    raw = quote.raw
    info = parse_quote(raw)
    assert raw[quote.report_data_at : quote.report_data_at + 64] == info.report_data
    qe_report = raw[quote.qe_report_at : quote.qe_report_at + SGX_REPORT_BYTES]
    # The QE report is the Quoting Enclave's: its MRSIGNER is the one Intel's QE identity names ...
    assert qe_report[QE_MRSIGNER_AT : QE_MRSIGNER_AT + 32].hex().upper() == quote.qe_identity["mrsigner"]
    # ... and its report data is SHA-256(attestation key || QE auth data), which follows the QE report's
    # signature: so the attestation key, the QE report and its signature are where we say.
    auth_at = quote.qe_report_signature_at + SIGNATURE_BYTES
    auth_len = int.from_bytes(raw[auth_at : auth_at + 2], "little")
    key = raw[quote.attestation_key_at : quote.attestation_key_at + 64]
    assert hashlib.sha256(key + raw[auth_at + 2 : auth_at + 2 + auth_len]).digest() == qe_report[320:352]
    if quote.version == 5:
        assert struct.unpack_from("<HI", raw, HEADER_BYTES) == (3, TD_REPORT15_BYTES)


# --- parsing ---


@pytest.mark.parametrize(
    ("quote", "tee", "version", "measurement_bytes", "rtmrs"),
    [
        pytest.param(SGX, "sgx", 3, 32, 0, id="sgx-v3"),
        pytest.param(TDX10, "tdx", 4, 48, 4, id="tdx-v4-td-report-1.0"),
        pytest.param(TDX15, "tdx", 5, 48, 4, id="tdx-v5-td-report-1.5"),
    ],
)
def test_real_quotes_parse(
    quote: RealQuote, tee: str, version: int, measurement_bytes: int, rtmrs: int
) -> None:
    info = parse_quote(quote.raw)
    assert (info.tee, info.version, len(info.measurement), len(info.rtmrs)) == (
        tee,
        version,
        measurement_bytes,
        rtmrs,
    )
    assert len(info.report_data) == 64
    if tee == "sgx":
        assert info.signer is not None
        assert len(info.signer) == 32
        assert info.report_data == b"Hello, world!".ljust(64, b"\0")
    else:
        body = quote.raw[quote.body_at : quote.body_at + quote.body_bytes]
        assert info.signer is None
        assert info.measurement == body[TD_MR_TD_AT : TD_MR_TD_AT + 48]
        assert info.rtmrs == tuple(body[TD_RTMR0_AT + 48 * i : TD_RTMR0_AT + 48 * (i + 1)] for i in range(4))


def test_td_report_15_fields_are_exposed() -> None:
    info = parse_quote(TDX15.raw)
    body = TDX15.raw[TDX15.body_at : TDX15.body_at + TD_REPORT15_BYTES]
    assert info.tee_tcb_svn_2 == body[TD_TEE_TCB_SVN_2_AT : TD_TEE_TCB_SVN_2_AT + 16]
    assert info.tee_tcb_svn_2 == bytes.fromhex("0d0103") + bytes(13)  # module SVN 13, major version 1
    assert info.mr_servicetd == body[TD_MR_SERVICETD_AT : TD_MR_SERVICETD_AT + 48] == bytes(48)
    # Its report data follows NSL's convention (a 32-byte hash, then zeros) — but it is not ours.
    assert info.report_data[32:] == bytes(32)


@pytest.mark.parametrize("quote", [SGX, TDX10], ids=["sgx", "tdx-v4"])
def test_td_report_15_fields_are_absent_elsewhere(quote: RealQuote) -> None:
    info = parse_quote(quote.raw)
    assert (info.tee_tcb_svn_2, info.mr_servicetd) == (None, None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(SGX.raw[: SGX.body_at + 100], id="sgx-cut-in-report"),
        pytest.param(SGX.raw[: SGX.qe_report_at], id="sgx-cut-in-signature-data"),
        pytest.param(TDX10.raw[: TDX10.body_at + 100], id="tdx-v4-cut-in-report"),
        pytest.param(TDX10.raw[: TDX10.qe_report_at], id="tdx-v4-cut-in-signature-data"),
        pytest.param(TDX15.raw[: TDX15.body_at + 600], id="tdx-v5-cut-in-td-report-1.5"),
        pytest.param(TDX15.raw[: TDX15.qe_report_at], id="tdx-v5-cut-in-signature-data"),
        pytest.param(TDX15.raw[:-1], id="tdx-v5-last-byte-missing"),
        # The v5 body descriptor must name the body that follows (type 3 is 648 bytes; Intel QVL Quote.cpp).
        pytest.param(flip_bit(TDX15.raw, HEADER_BYTES), id="tdx-v5-body-type-3-to-2"),
        pytest.param(TDX15.raw[:50] + struct.pack("<I", 584) + TDX15.raw[54:], id="tdx-v5-body-size-584"),
    ],
)
def test_truncated_or_mislabelled_real_quotes_are_invalid(raw: bytes) -> None:
    with pytest.raises(QuoteInvalid) as caught:
        verify_quote(raw, TDX15.collateral, now=TDX15.now)
    assert caught.value.code == "quote_invalid"


# --- verification ---


def test_tdx_v4_quote_verifies_inside_its_collaterals_validity() -> None:
    verified = verify_quote(TDX10.raw, TDX10.collateral, now=TDX10.now)
    assert (verified.tcb_status, verified.advisory_ids) == ("UpToDate", ())
    assert verified.info == parse_quote(TDX10.raw)


@pytest.mark.parametrize(
    "accepted",
    [
        pytest.param(DEFAULT_ACCEPTED_TCB_STATUSES, id="default"),
        pytest.param({"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded"}, id="weaker-statuses"),
    ],
)
def test_sgx_quote_is_refused_unless_its_tcb_status_is_accepted(accepted: Collection[str]) -> None:
    with pytest.raises(QuoteUntrusted) as caught:
        verify_quote(SGX.raw, SGX.collateral, now=SGX.now, accepted_tcb_statuses=accepted)
    assert type(caught.value) is QuoteUntrusted
    assert caught.value.code == "quote_untrusted"
    assert caught.value.extra == {"tcb_status": SGX_STATUS, "advisory_ids": SGX_ADVISORIES}
    for word in [SGX_STATUS, *SGX_ADVISORIES]:
        assert word in caught.value.detail


def test_sgx_quote_is_accepted_when_the_caller_accepts_its_status() -> None:
    verified = verify_quote(
        SGX.raw, SGX.collateral, now=SGX.now, accepted_tcb_statuses={"UpToDate", SGX_STATUS}
    )
    assert verified.tcb_status == SGX_STATUS
    assert verified.advisory_ids == tuple(SGX_ADVISORIES)
    assert verified.info.report_data == b"Hello, world!".ljust(64, b"\0")


@pytest.mark.parametrize(
    "accepted",
    [pytest.param(frozenset({"UpToDate"}), id="default"), pytest.param(ALL_STATUSES, id="every-status")],
)
def test_tdx_v5_quote_is_refused_because_no_tcb_level_matches(accepted: frozenset[str]) -> None:
    # There is no status to accept: the platform is below every level of Intel's TCB info.
    with pytest.raises(QuoteTcbNotSupported) as caught:
        verify_quote(TDX15.raw, TDX15.collateral, now=TDX15.now, accepted_tcb_statuses=accepted)
    assert isinstance(caught.value, QuoteUntrusted)
    assert caught.value.code == "quote_tcb_not_supported"
    assert caught.value.extra == {"fmspc": "90C06F000000"}
    assert "no TCB level of the TCB info for FMSPC 90C06F000000 matches" in caught.value.detail


def test_why_no_tcb_level_matches_the_v5_platform() -> None:
    # The explanation in tests/testdata/dcap/README.md, from the data: the PCK certificate's CPUSVN
    # component 8 (SEAMLDR ACM) is 3 and every level needs 5; nothing else falls short (Intel QVL
    # TcbLevelCheck.cpp: a level applies when every SVN is >=; TDX SVNs from index 2 for module v1+).
    quote = dcap_qvl.parse_quote(TDX15.raw)
    pck, report = quote.pck_extension(), quote.report
    assert pck is not None
    assert isinstance(report, dcap_qvl.TdReport15)
    tee_tcb_svn = bytes(report.tee_tcb_svn)
    tcb_info = TDX15.tcb_info
    assert bytes(pck.fmspc).hex().upper() == tcb_info["fmspc"]
    assert len(tcb_info["tcbLevels"]) == 3
    for level in tcb_info["tcbLevels"]:
        components = level["tcb"]["sgxtcbcomponents"]
        short = [i for i, c in enumerate(components) if bytes(pck.cpu_svn)[i] < c["svn"]]
        assert short == [7]
        assert (components[7]["type"], components[7]["svn"], bytes(pck.cpu_svn)[7]) == ("SEAMLDR ACM", 5, 3)
        assert pck.pce_svn >= level["tcb"]["pcesvn"]
    tdx_components = tcb_info["tcbLevels"][0]["tcb"]["tdxtcbcomponents"]
    assert tee_tcb_svn[1] > 0
    assert all(tee_tcb_svn[i] >= tdx_components[i]["svn"] for i in range(2, 16))


ISV_SIGNATURE = "ISV enclave report signature is invalid"
QE_SIGNATURE = "Signature is invalid for qe_report"
# (part, where in the quote, dcap-qvl's refusal): the quote signature covers header and report body.
PARTS: list[tuple[str, Callable[[RealQuote], int], str]] = [
    ("header-pce-svn", lambda q: 10, ISV_SIGNATURE),
    ("report-body", lambda q: q.body_at + 100, ISV_SIGNATURE),
    ("report-data", lambda q: q.report_data_at + 5, ISV_SIGNATURE),
    ("signature", lambda q: q.signature_at + 7, ISV_SIGNATURE),
    ("attestation-key", lambda q: q.attestation_key_at + 7, "QE report hash mismatch"),
    ("qe-report", lambda q: q.qe_report_at + 10, QE_SIGNATURE),
    ("qe-report-signature", lambda q: q.qe_report_signature_at + 3, QE_SIGNATURE),
]
TAMPERING = [
    pytest.param(quote, at(quote), message, id=f"{quote.name}-{part}")
    for quote in (SGX, TDX10, TDX15)
    for part, at, message in PARTS
] + [
    # A host hiding a bound service TD, or faking a module update, by rewriting the TD Report 1.5 fields.
    pytest.param(
        TDX15, TDX15.body_at + TD_MR_SERVICETD_AT, ISV_SIGNATURE, id="tdx_quote_outdated-mr-servicetd"
    ),
    pytest.param(
        TDX15, TDX15.body_at + TD_TEE_TCB_SVN_2_AT, ISV_SIGNATURE, id="tdx_quote_outdated-tee-tcb-svn-2"
    ),
]


@pytest.mark.parametrize(("quote", "offset", "message"), TAMPERING)
def test_a_flipped_bit_is_refused(quote: RealQuote, offset: int, message: str) -> None:
    # Every status accepted: the refusal is the signature's, and for the v5 quote it comes before the
    # TCB-level match, so a tampered v5 quote is never mistaken for a merely outdated one.
    with pytest.raises(QuoteUntrusted, match=message) as caught:
        verify_quote(
            flip_bit(quote.raw, offset), quote.collateral, now=quote.now, accepted_tcb_statuses=ALL_STATUSES
        )
    assert type(caught.value) is QuoteUntrusted


@pytest.mark.parametrize(
    ("quote", "collateral_of", "message"),
    [
        pytest.param(SGX, TDX10, "QE Identity", id="sgx-quote-tdx-collateral"),
        pytest.param(TDX10, SGX, "QE Identity", id="tdx-quote-sgx-collateral"),
        pytest.param(TDX15, SGX, "QE Identity", id="tdx-v5-quote-sgx-collateral"),
        pytest.param(TDX10, TDX15, "Fmspc mismatch", id="tdx-v4-quote-other-platforms-collateral"),
        pytest.param(TDX15, TDX10, "certificate chain", id="tdx-v5-quote-older-collateral"),
    ],
)
def test_collateral_of_another_quote_is_refused(
    quote: RealQuote, collateral_of: RealQuote, message: str
) -> None:
    # At a time inside the *other* collateral's validity, so that only the mismatch can refuse.
    with pytest.raises(QuoteUntrusted, match=message):
        verify_quote(
            quote.raw, collateral_of.collateral, now=collateral_of.now, accepted_tcb_statuses=ALL_STATUSES
        )


@pytest.mark.parametrize("quote", [SGX, TDX10, TDX15], ids=NAMES)
@pytest.mark.parametrize(
    ("at", "message"),
    [
        pytest.param(lambda q: q.expired, "TCBInfo expired", id="after-next-update"),
        pytest.param(lambda q: q.now - 2 * 3600, "issue date is in the future", id="before-issue-date"),
    ],
)
def test_collateral_outside_its_validity_is_refused(
    quote: RealQuote, at: Callable[[RealQuote], int], message: str
) -> None:
    with pytest.raises(QuoteUntrusted, match=message):
        verify_quote(quote.raw, quote.collateral, now=at(quote), accepted_tcb_statuses=ALL_STATUSES)


def _with_tcb_info(quote: RealQuote, tcb_info: dict[str, object]) -> str:
    fields = quote.collateral_fields
    fields["tcb_info"] = json.dumps(tcb_info)
    return json.dumps(fields)


def _permissive_level(quote: RealQuote) -> str:
    # dcap-qvl's own test of the v5 sample gets a status only this way (tests/verify_tcb_override.rs).
    tcb_info = quote.tcb_info
    level = json.loads(json.dumps(tcb_info["tcbLevels"][0]))
    for component in level["tcb"]["sgxtcbcomponents"] + level["tcb"]["tdxtcbcomponents"]:
        component["svn"] = 0
    level["tcb"]["pcesvn"] = 0
    tcb_info["tcbLevels"].insert(0, level)
    return _with_tcb_info(quote, tcb_info)


def _upgraded_status(quote: RealQuote) -> str:
    tcb_info = quote.tcb_info
    for level in tcb_info["tcbLevels"]:
        level["tcbStatus"], level["advisoryIDs"] = "UpToDate", []
    return _with_tcb_info(quote, tcb_info)


@pytest.mark.parametrize(
    ("quote", "forge"),
    [
        pytest.param(TDX15, _permissive_level, id="tdx-v5-level-the-platform-matches"),
        pytest.param(SGX, _upgraded_status, id="sgx-status-up-to-date"),
    ],
)
def test_a_host_that_forges_the_tcb_info_is_refused(
    quote: RealQuote, forge: Callable[[RealQuote], str]
) -> None:
    with pytest.raises(QuoteUntrusted, match="Signature is invalid for tcb_info") as caught:
        verify_quote(quote.raw, forge(quote), now=quote.now)
    assert type(caught.value) is QuoteUntrusted


@pytest.mark.parametrize("quote", [SGX, TDX10, TDX15], ids=NAMES)
def test_real_quotes_are_refused_under_another_root(quote: RealQuote) -> None:
    # Intel's collateral and PCK chain do not chain to a root the caller swaps in.
    with pytest.raises(QuoteUntrusted, match="does not verify"):
        verify_quote(
            quote.raw,
            quote.collateral,
            now=quote.now,
            root_ca_der=DcapWorld().root_der,
            accepted_tcb_statuses=ALL_STATUSES,
        )
