"""Offline verification of attestation reports and signed results (client.attestation), against reports
built by the enclave's own code: a software one, and SGX / TDX ones whose quotes come from the FAKE
devices of tests/enclave/fakes.py with synthetic, verifiable DCAP quotes (tests/enclave/dcap_pki.py);
then the same reports carrying real Intel quotes (tests/testdata/dcap) under Intel's root."""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.client import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.enclave.attestation import attestation_report_data, build_report
from neo_service_layer.enclave.canonical import b64encode
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.ops import sign_result
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.base import quote_report_data
from neo_service_layer.enclave.tee.sgx import SgxBackend
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.enclave.tee.tdx import TdxBackend
from neo_service_layer.errors import (
    AttestationInvalid,
    QuoteTcbNotSupported,
    QuoteUntrusted,
    SignatureInvalid,
)
from tests.enclave.dcap_pki import TEE_TCB_SVN_2, DcapWorld
from tests.enclave.fakes import FakeTsmFs, fake_gramine_dir, fake_tdx_machine
from tests.enclave.real_quotes import Name, RealQuote, flip_bit, real_quote
from tests.enclave.testops import SumArgs

Report = dict[str, Any]


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.generate()


@pytest.fixture(scope="module")
def world() -> DcapWorld:
    return DcapWorld()


@pytest.fixture(scope="module")
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="nsl"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def software_report(identity: Identity) -> Report:
    return build_report(identity, SoftwareBackend(), compute_measurement("software")).model_dump(mode="json")


def _expected_report_data(identity: Identity, backend: str) -> bytes:
    measurement = bytes.fromhex(compute_measurement(backend))
    return quote_report_data(
        attestation_report_data(identity.public.p256, identity.public.k1, identity.public.x25519, measurement)
    )


@pytest.fixture(scope="module")
def sgx_report(identity: Identity, world: DcapWorld, short_dir: Path) -> Report:
    quote = world.sgx_quote(_expected_report_data(identity, "sgx"), mr_enclave=b"\x5e" * 32)
    backend = SgxBackend(fake_gramine_dir(short_dir / "attestation", quote=quote))
    return build_report(identity, backend, compute_measurement("sgx")).model_dump(mode="json")


@pytest.fixture(scope="module")
def tdx_report(identity: Identity, world: DcapWorld, short_dir: Path) -> Report:
    _, report_dir = fake_tdx_machine(short_dir)
    backend = TdxBackend(report_dir, FakeTsmFs(world.tdx_quote))
    return build_report(identity, backend, compute_measurement("tdx")).model_dump(mode="json")


def test_software_report_needs_explicit_consent(software_report: Report, identity: Identity) -> None:
    with pytest.raises(AttestationInvalid, match="not hardware-protected"):
        verify_attestation(software_report)
    verified = verify_attestation(software_report, allow_software=True)
    assert verified.hardware is False
    assert verified.tee == "none"
    assert verified.quote is None
    assert verified.tee_measurement is None
    assert (verified.p256, verified.k1, verified.k1_address) == (
        identity.public.p256,
        identity.public.k1,
        identity.public.k1_address,
    )


def test_expected_measurement_is_enforced(software_report: Report) -> None:
    measurement = software_report["measurement"]
    assert verify_attestation(software_report, allow_software=True, expected_measurement=measurement.upper())
    with pytest.raises(AttestationInvalid, match="not the expected"):
        verify_attestation(software_report, allow_software=True, expected_measurement="00" * 32)


def _other_key_hex(compressed_hex: str) -> str:
    return ("03" if compressed_hex.startswith("02") else "02") + compressed_hex[2:]


TAMPERING: list[Any] = [
    pytest.param(lambda r: r.update(measurement="ab" * 32), "report_data does not bind", id="measurement"),
    pytest.param(
        lambda r: r["identity"].update(p256=_other_key_hex(r["identity"]["p256"])),
        "report_data does not",
        id="p256-key",
    ),
    pytest.param(
        lambda r: r["identity"].update(k1=_other_key_hex(r["identity"]["k1"])), "k1_address", id="k1-key"
    ),
    pytest.param(lambda r: r["identity"].update(k1_address="0x" + "11" * 20), "k1_address", id="k1-address"),
    pytest.param(lambda r: r.update(report_data="00" * 32), "report_data", id="report-data"),
    pytest.param(
        lambda r: r["signature"].update(p256=r["signature"]["p256"][:-2] + "00"), "P-256", id="p256-signature"
    ),
    pytest.param(
        lambda r: r["signature"].update(
            k1=r["signature"]["k1"][:64] + "00" * 32 + r["signature"]["k1"][128:]
        ),
        "secp256k1",
        id="k1-signature",
    ),
    pytest.param(lambda r: r.update(backend="sgx"), "does not run tee", id="backend-vs-tee"),
    pytest.param(lambda r: r.update(quote="AAAA"), "carries no quote", id="software-with-quote"),
    pytest.param(lambda r: r.update(extra=1), "not an attestation report", id="unknown-field"),
    pytest.param(lambda r: r.pop("signature"), "not an attestation report", id="missing-signature"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERING)
def test_tampered_software_reports_are_refused(
    software_report: Report, tamper: Callable[[Report], object], message: str
) -> None:
    report = copy.deepcopy(software_report)
    tamper(report)
    with pytest.raises(AttestationInvalid, match=message):
        verify_attestation(report, allow_software=True)


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_hardware_report_verifies_with_its_quote(
    request: pytest.FixtureRequest, world: DcapWorld, tee: str
) -> None:
    report: Report = request.getfixturevalue(f"{tee}_report")
    verified = verify_attestation(
        report, collateral=world.collateral(tee=tee), root_ca_der=world.root_der, now=world.unix_now
    )
    assert verified.hardware is True
    assert verified.tee == tee
    assert verified.quote is not None
    assert verified.quote.tcb_status == "UpToDate"
    assert verified.quote.info.report_data == quote_report_data(bytes.fromhex(report["report_data"]))


def test_tee_measurement_can_be_pinned(sgx_report: Report, world: DcapWorld) -> None:
    options: dict[str, Any] = {
        "collateral": world.collateral(),
        "root_ca_der": world.root_der,
        "now": world.unix_now,
    }
    verified = verify_attestation(sgx_report, expected_tee_measurement="5e" * 32, **options)
    assert verified.tee_measurement == "5e" * 32
    with pytest.raises(AttestationInvalid, match="TEE measurement"):
        verify_attestation(sgx_report, expected_tee_measurement="00" * 32, **options)


def test_hardware_report_without_collateral_is_refused(sgx_report: Report) -> None:
    with pytest.raises(AttestationInvalid, match="collateral"):
        verify_attestation(sgx_report)


def test_hardware_report_under_intels_root_is_untrusted(sgx_report: Report, world: DcapWorld) -> None:
    with pytest.raises(QuoteUntrusted):
        verify_attestation(sgx_report, collateral=world.collateral(), now=world.unix_now)


def test_quote_of_another_enclave_is_refused(sgx_report: Report, world: DcapWorld) -> None:
    # A genuine quote, but over another key pair's report data: the identity is not bound.
    other = copy.deepcopy(sgx_report)
    other_identity = Identity.generate()
    other["quote"] = b64encode(world.sgx_quote(_expected_report_data(other_identity, "sgx")))
    with pytest.raises(AttestationInvalid, match="does not carry this report"):
        verify_attestation(
            other, collateral=world.collateral(), root_ca_der=world.root_der, now=world.unix_now
        )


def test_hardware_report_without_quote_or_with_a_tdx_quote_is_refused(
    sgx_report: Report, tdx_report: Report, world: DcapWorld
) -> None:
    options: dict[str, Any] = {"root_ca_der": world.root_der, "now": world.unix_now}
    missing = {**sgx_report, "quote": None}
    with pytest.raises(AttestationInvalid, match="must carry a quote"):
        verify_attestation(missing, collateral=world.collateral(), **options)
    swapped = {**sgx_report, "quote": tdx_report["quote"]}
    with pytest.raises(AttestationInvalid, match="the quote is tdx"):
        verify_attestation(swapped, collateral=world.collateral(tee="tdx"), **options)


def test_td_report_15_report_verifies_end_to_end(
    identity: Identity, world: DcapWorld, tmp_path: Path
) -> None:
    # A TDX 1.5 module's v5 quote, through the TDX backend, the enclave's report and the client check.
    _, report_dir = fake_tdx_machine(tmp_path)
    backend = TdxBackend(report_dir, FakeTsmFs(lambda inblob: world.tdx_quote(inblob, td_report="1.5")))
    report = build_report(identity, backend, compute_measurement("tdx")).model_dump(mode="json")
    verified = verify_attestation(
        report, collateral=world.collateral(tee="tdx"), root_ca_der=world.root_der, now=world.unix_now
    )
    assert verified.quote is not None
    info = verified.quote.info
    assert (verified.hardware, info.version, info.tee_tcb_svn_2, info.mr_servicetd) == (
        True,
        5,
        TEE_TCB_SVN_2,
        bytes(48),
    )
    assert info.report_data == quote_report_data(verified.report_data)


# --- real Intel quotes (tests/testdata/dcap) in an NSL report ---
# A real quote's REPORTDATA is not the hash of an NSL identity, so the most a report carrying one can
# do is pass every quote check under Intel's root and then be refused for exactly that binding; any
# earlier failure of the quote must refuse first, with its own error.

SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
ACCEPT_SGX = frozenset({"UpToDate", SGX_STATUS})


def _carrying(report: Report, quote: bytes) -> Report:
    # The report stays self-consistent (its signatures are over report_data, not over the quote).
    return {**report, "quote": b64encode(quote)}


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        pytest.param("sgx_quote", ACCEPT_SGX, id="sgx-status-accepted"),
        pytest.param("tdx_quote", frozenset({"UpToDate"}), id="tdx-v4-up-to-date"),
    ],
)
def test_real_quote_verifies_but_does_not_carry_the_reports_data(
    request: pytest.FixtureRequest, name: Name, accepted: frozenset[str]
) -> None:
    real = real_quote(name)
    tee = "sgx" if name == "sgx_quote" else "tdx"
    report = _carrying(request.getfixturevalue(f"{tee}_report"), real.raw)
    with pytest.raises(
        AttestationInvalid, match="the quote does not carry this report's report_data"
    ) as caught:
        verify_attestation(report, collateral=real.collateral, now=real.now, accepted_tcb_statuses=accepted)
    assert type(caught.value) is AttestationInvalid  # not a quote error: the quote itself verified


REAL_QUOTE_REFUSALS: list[Any] = [
    pytest.param(
        "sgx_quote",
        lambda q: q.raw,
        lambda q: q.now,
        QuoteUntrusted,
        SGX_STATUS,
        id="sgx-status-not-accepted",
    ),
    pytest.param(
        "tdx_quote_outdated",
        lambda q: q.raw,
        lambda q: q.now,
        QuoteTcbNotSupported,
        "no TCB level",
        id="tdx-v5-no-tcb-level",
    ),
    pytest.param(
        "tdx_quote", lambda q: q.raw, lambda q: q.expired, QuoteUntrusted, "expired", id="tdx-v4-expired"
    ),
    pytest.param(
        "sgx_quote",
        lambda q: flip_bit(q.raw, q.report_data_at),
        lambda q: q.now,
        QuoteUntrusted,
        "signature",
        id="sgx-report-data-tampered",
    ),
    pytest.param(
        "tdx_quote",
        lambda q: flip_bit(q.raw, q.qe_report_at + 10),
        lambda q: q.now,
        QuoteUntrusted,
        "qe_report",
        id="tdx-v4-qe-report-tampered",
    ),
]


@pytest.mark.parametrize(("name", "quote_of", "at", "error", "message"), REAL_QUOTE_REFUSALS)
def test_real_quote_that_fails_is_refused_before_the_binding(
    request: pytest.FixtureRequest,
    name: Name,
    quote_of: Callable[[RealQuote], bytes],
    at: Callable[[RealQuote], int],
    error: type[QuoteUntrusted],
    message: str,
) -> None:
    real = real_quote(name)
    tee = "sgx" if name == "sgx_quote" else "tdx"
    report = _carrying(request.getfixturevalue(f"{tee}_report"), quote_of(real))
    with pytest.raises(error, match=message) as caught:
        verify_attestation(report, collateral=real.collateral, now=at(real))
    assert type(caught.value) is error


def test_real_quote_of_the_other_tee_is_refused(sgx_report: Report) -> None:
    real = real_quote("tdx_quote")
    with pytest.raises(AttestationInvalid, match="the report says sgx but the quote is tdx"):
        verify_attestation(_carrying(sgx_report, real.raw), collateral=real.collateral, now=real.now)


# --- signed results ---


@pytest.fixture(scope="module")
def verified(software_report: Report) -> VerifiedIdentity:
    return verify_attestation(software_report, allow_software=True)


@pytest.fixture(scope="module")
def signed(identity: Identity, software_report: Report) -> Report:
    ctx = EnclaveContext(
        identity=identity,
        sealer=Sealer(bytes(32)),
        backend=SoftwareBackend(),
        report=build_report(identity, SoftwareBackend(), compute_measurement("software")),
    )
    args = SumArgs(account_id="acc_1", numbers=[1, 2], label="€")
    return sign_result(ctx, "test.sum", args, {"total": 3, "label": "€", "amk_opened": False}).model_dump(
        mode="json"
    )


REQUEST = {"op": "test.sum", "account_id": "acc_1", "params": {"numbers": [1, 2], "label": "€"}}


def test_genuine_result_verifies(signed: Report, verified: VerifiedIdentity) -> None:
    assert verify_result(signed, verified) == {"total": 3, "label": "€", "amk_opened": False}
    assert verify_result(signed, verified, request=REQUEST)["total"] == 3


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param(lambda s: s["result"].update(total=4), "result_hash", id="result"),
        pytest.param(lambda s: s.update(result_hash="00" * 32), "result_hash", id="result-hash"),
        pytest.param(lambda s: s.update(request_hash="00" * 32), "P-256", id="request-hash"),
        pytest.param(
            lambda s: s["signatures"].update(p256=s["signatures"]["p256"][:64] + "00" * 32),
            "P-256",
            id="p256",
        ),
        pytest.param(
            lambda s: s["signatures"].update(
                k1=s["signatures"]["k1"][:-2] + ("1b" if s["signatures"]["k1"][-2:] == "1c" else "1c")
            ),
            "secp256k1",
            id="k1-v-flipped",
        ),
        pytest.param(lambda s: s.pop("signatures"), "not a signed enclave result", id="no-signatures"),
        pytest.param(lambda s: s["result"].update(ratio=0.5), "canonicalized", id="float-in-result"),
    ],
)
def test_tampered_results_are_refused(
    signed: Report, verified: VerifiedIdentity, tamper: Callable[[Report], object], message: str
) -> None:
    result = copy.deepcopy(signed)
    tamper(result)
    with pytest.raises(SignatureInvalid, match=message):
        verify_result(result, verified)


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({**REQUEST, "account_id": "acc_2"}, id="other-account"),
        pytest.param({**REQUEST, "op": "test.other"}, id="other-op"),
        pytest.param({**REQUEST, "params": {"numbers": [1, 2]}}, id="other-params"),
    ],
)
def test_result_for_another_request_is_refused(
    signed: Report, verified: VerifiedIdentity, request_: Report
) -> None:
    with pytest.raises(SignatureInvalid, match="different request"):
        verify_result(signed, verified, request=request_)


def test_malformed_request_is_refused(signed: Report, verified: VerifiedIdentity) -> None:
    with pytest.raises(SignatureInvalid, match="exactly the keys"):
        verify_result(signed, verified, request={"op": "test.sum"})


def test_result_signed_by_another_enclave_is_refused(signed: Report) -> None:
    stranger = Identity.generate()
    other = verify_attestation(
        build_report(stranger, SoftwareBackend(), compute_measurement("software")).model_dump(mode="json"),
        allow_software=True,
    )
    with pytest.raises(SignatureInvalid, match="P-256"):
        verify_result(signed, other)
