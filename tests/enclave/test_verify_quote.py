"""DCAP quote parsing and verification with dcap-qvl, against a synthetic PKI (tests/enclave/dcap_pki.py).

The positive cases go through ``verify_with_root_ca`` — dcap-qvl's full check (PCK chain + CRLs, QE
report, quote signature, TCB info, QE identity) — with our own root instead of Intel's.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import dcap_qvl
import pytest

from neo_service_layer.enclave.tee.verify import parse_quote, verify_quote
from neo_service_layer.errors import QuoteInvalid, QuoteUntrusted
from tests.enclave.dcap_pki import TEE_TCB_SVN_2, DcapWorld

REPORT_DATA = bytes(range(64))
DAY = 86_400


@pytest.fixture(scope="module")
def world() -> DcapWorld:
    return DcapWorld()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(os.urandom(48), id="header-only"),
        pytest.param(struct.pack("<HHI", 9, 2, 0) + bytes(1000), id="unknown-version"),
        pytest.param(struct.pack("<HHI", 3, 2, 0x81) + bytes(1000), id="v3-with-tdx-type"),
        pytest.param(struct.pack("<HHI", 4, 2, 0x42) + bytes(1000), id="unknown-tee-type"),
    ],
)
def test_malformed_quotes_are_quote_invalid(raw: bytes) -> None:
    with pytest.raises(QuoteInvalid) as caught:
        parse_quote(raw)
    assert caught.value.code == "quote_invalid"


def test_truncated_quote_is_invalid(world: DcapWorld) -> None:
    with pytest.raises(QuoteInvalid):
        parse_quote(world.sgx_quote(REPORT_DATA)[:500])


def test_parse_reports_the_claims(world: DcapWorld) -> None:
    sgx = parse_quote(world.sgx_quote(REPORT_DATA, mr_enclave=b"\xee" * 32))
    assert (sgx.tee, sgx.version, sgx.measurement, sgx.report_data) == ("sgx", 3, b"\xee" * 32, REPORT_DATA)
    tdx = parse_quote(world.tdx_quote(REPORT_DATA, mr_td=b"\xdd" * 48))
    assert (tdx.tee, tdx.version, tdx.measurement, tdx.signer) == ("tdx", 4, b"\xdd" * 48, None)
    assert (tdx.tee_tcb_svn_2, tdx.mr_servicetd) == (None, None)
    td15 = parse_quote(world.tdx_quote(REPORT_DATA, mr_td=b"\xdd" * 48, td_report="1.5"))
    assert (td15.tee, td15.version, td15.measurement, td15.report_data) == (
        "tdx",
        5,
        b"\xdd" * 48,
        REPORT_DATA,
    )
    assert (td15.tee_tcb_svn_2, td15.mr_servicetd) == (TEE_TCB_SVN_2, bytes(48))


@pytest.mark.parametrize(
    ("tee", "make"),
    [
        pytest.param("sgx", lambda w: w.sgx_quote(REPORT_DATA), id="sgx-v3"),
        pytest.param("tdx", lambda w: w.tdx_quote(REPORT_DATA), id="tdx-v4-td-report-1.0"),
        pytest.param("tdx", lambda w: w.tdx_quote(REPORT_DATA, td_report="1.5"), id="tdx-v5-td-report-1.5"),
    ],
)
def test_genuine_synthetic_quote_verifies(
    world: DcapWorld, tee: str, make: Callable[[DcapWorld], bytes]
) -> None:
    verified = verify_quote(
        make(world), world.collateral(tee=tee), now=world.unix_now, root_ca_der=world.root_der
    )
    assert verified.tcb_status == "UpToDate"
    assert verified.info.tee == tee
    assert verified.info.report_data == REPORT_DATA


def test_collateral_is_accepted_as_json_too(world: DcapWorld) -> None:
    raw = world.sgx_quote(REPORT_DATA)
    collateral_json = world.collateral().to_json()
    verified = verify_quote(raw, collateral_json, now=world.unix_now, root_ca_der=world.root_der)
    assert verified.info.tee == "sgx"


def _flip(raw: bytes, offset: int) -> bytes:
    data = bytearray(raw)
    data[offset] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param(
            lambda w: (_flip(w.sgx_quote(REPORT_DATA), 48 + 384 - 1), w.collateral()),
            "signature",
            id="report-data-modified",
        ),
        pytest.param(
            lambda w: (_flip(w.sgx_quote(REPORT_DATA), 48 + 64), w.collateral()),
            "signature",
            id="mrenclave-modified",
        ),
        pytest.param(
            lambda w: (w.sgx_quote(REPORT_DATA), w.collateral(revoke_pck=True)),
            "CertRevoked",
            id="pck-revoked",
        ),
        pytest.param(
            lambda w: (w.sgx_quote(REPORT_DATA), w.collateral(status="Revoked")), "Revoked", id="tcb-revoked"
        ),
        pytest.param(
            lambda w: (w.sgx_quote(REPORT_DATA), w.collateral(tee="tdx")),
            "QE Identity",
            id="tdx-collateral-for-sgx-quote",
        ),
        pytest.param(
            lambda w: (w.sgx_quote(REPORT_DATA), w.collateral(tcb_info=w.tcb_info(fmspc=bytes(6)))),
            "Fmspc mismatch",
            id="other-platform",
        ),
        pytest.param(
            lambda w: (w.sgx_quote(REPORT_DATA, attributes=bytes([0x07]) + bytes(15)), w.collateral()),
            "Debug",
            id="debug-enclave",
        ),
        pytest.param(
            # A service TD bound to the TD (e.g. a migration TD) could export its state (dcap-qvl
            # src/verify.rs, validate_td15).
            lambda w: (
                w.tdx_quote(REPORT_DATA, td_report="1.5", mr_servicetd=b"\x44" * 48),
                w.collateral(tee="tdx"),
            ),
            "MR service TD",
            id="td-report-1.5-with-a-service-td",
        ),
    ],
)
def test_untrusted_quotes_are_refused(
    world: DcapWorld, case: Callable[[DcapWorld], tuple[bytes, object]], message: str
) -> None:
    raw, collateral = case(world)
    with pytest.raises(QuoteUntrusted, match=message) as caught:
        verify_quote(raw, collateral, now=world.unix_now, root_ca_der=world.root_der)  # type: ignore[arg-type]
    assert caught.value.code == "quote_untrusted"


def test_tampered_tcb_info_signature_is_refused(world: DcapWorld) -> None:
    collateral = world.collateral()
    forged = collateral.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18')
    raw = world.sgx_quote(REPORT_DATA)
    bad = world.collateral(tcb_info=forged)
    # Swap only the body and keep the original signature.
    spliced = dcap_qvl.QuoteCollateralV3(
        pck_crl_issuer_chain=bad.pck_crl_issuer_chain,
        root_ca_crl=bad.root_ca_crl,
        pck_crl=bad.pck_crl,
        tcb_info_issuer_chain=bad.tcb_info_issuer_chain,
        tcb_info=forged,
        tcb_info_signature=collateral.tcb_info_signature,
        qe_identity_issuer_chain=bad.qe_identity_issuer_chain,
        qe_identity=bad.qe_identity,
        qe_identity_signature=bad.qe_identity_signature,
    )
    with pytest.raises(QuoteUntrusted, match="tcb_info"):
        verify_quote(raw, spliced, now=world.unix_now, root_ca_der=world.root_der)


def test_quote_from_our_root_is_untrusted_under_intels_root(world: DcapWorld) -> None:
    with pytest.raises(QuoteUntrusted):
        verify_quote(world.sgx_quote(REPORT_DATA), world.collateral(), now=world.unix_now)


def test_another_root_is_refused(world: DcapWorld) -> None:
    other = DcapWorld()
    with pytest.raises(QuoteUntrusted):
        verify_quote(
            world.sgx_quote(REPORT_DATA), world.collateral(), now=world.unix_now, root_ca_der=other.root_der
        )


def test_expired_collateral_is_refused(world: DcapWorld) -> None:
    with pytest.raises(QuoteUntrusted, match=r"(?i)expired|not valid"):
        verify_quote(
            world.sgx_quote(REPORT_DATA),
            world.collateral(),
            now=world.unix_now + 60 * DAY,
            root_ca_der=world.root_der,
        )


def test_out_of_date_tcb_is_refused_unless_accepted(world: DcapWorld) -> None:
    raw, collateral = world.sgx_quote(REPORT_DATA), world.collateral(status="OutOfDate")
    with pytest.raises(QuoteUntrusted, match="OutOfDate") as caught:
        verify_quote(raw, collateral, now=world.unix_now, root_ca_der=world.root_der)
    assert caught.value.extra["advisory_ids"] == ["INTEL-SA-00000"]
    verified = verify_quote(
        raw,
        collateral,
        now=world.unix_now,
        root_ca_der=world.root_der,
        accepted_tcb_statuses={"UpToDate", "OutOfDate"},
    )
    assert verified.tcb_status == "OutOfDate"
    assert verified.advisory_ids == ("INTEL-SA-00000",)


def test_malformed_collateral_json_is_untrusted(world: DcapWorld) -> None:
    with pytest.raises(QuoteUntrusted, match="collateral"):
        verify_quote(
            world.sgx_quote(REPORT_DATA), "{not json", now=world.unix_now, root_ca_der=world.root_der
        )
