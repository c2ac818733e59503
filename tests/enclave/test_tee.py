"""TEE backends: selection, and the documented device protocols against FAKE devices (tests/enclave/fakes.py).

This machine has no SGX or TDX, so the hardware backends run against fakes of their file interfaces;
the quotes they return are synthetic (dcap_pki) or real Intel quotes (tests/testdata/dcap), parsed by
dcap-qvl, so report-data binding is real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_service_layer.enclave.tee.base import quote_report_data
from neo_service_layer.enclave.tee.detect import DevicePaths, available_backends, select_backend
from neo_service_layer.enclave.tee.sgx import SgxBackend
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.enclave.tee.tdx import TdxBackend
from neo_service_layer.enclave.tee.verify import parse_quote
from neo_service_layer.errors import TeeUnavailable
from tests.enclave.dcap_pki import DcapWorld
from tests.enclave.fakes import FakeTsmFs, fake_gramine_dir, fake_tdx_machine
from tests.enclave.real_quotes import real_quote

REPORT_DATA = bytes(range(32))


@pytest.fixture(scope="module")
def world() -> DcapWorld:
    return DcapWorld()


def _nothing(root: Path) -> DevicePaths:
    return DevicePaths(
        gramine_attestation_dir=root / "no-attestation",
        tsm_report_dir=root / "no-tsm",
        tdx_guest_device=root / "no-tdx-guest",
    )


def test_auto_falls_back_to_software_without_hardware(short_dir: Path) -> None:
    paths = _nothing(short_dir)
    assert available_backends(paths) == ["software"]
    backend = select_backend("auto", paths)
    assert isinstance(backend, SoftwareBackend)
    assert (backend.name, backend.tee, backend.hardware) == ("software", "none", False)
    assert backend.describe() == "tee=none: software enclave, not hardware-protected"
    assert backend.quote(REPORT_DATA) is None


def test_the_real_machine_is_detected_as_software() -> None:
    # This CI machine has no TEE; if it ever had one, this test would say so.
    assert available_backends() == ["software"]


@pytest.mark.parametrize(
    ("requested", "missing"),
    [("sgx", "no-attestation/attestation_type"), ("tdx", "no-tdx-guest")],
)
def test_explicit_backend_that_is_unavailable_is_an_error(
    short_dir: Path, requested: str, missing: str
) -> None:
    with pytest.raises(TeeUnavailable, match=missing) as caught:
        select_backend(requested, _nothing(short_dir))  # type: ignore[arg-type]
    assert caught.value.code == "tee_unavailable"


def test_auto_prefers_sgx_then_tdx(short_dir: Path) -> None:
    device, report_dir = fake_tdx_machine(short_dir)
    tdx_only = DevicePaths(short_dir / "none", report_dir, device)
    assert isinstance(select_backend("auto", tdx_only), TdxBackend)
    gramine = fake_gramine_dir(short_dir / "attestation")
    both = DevicePaths(gramine, report_dir, device)
    assert available_backends(both) == ["sgx", "tdx", "software"]
    assert isinstance(select_backend("auto", both), SgxBackend)


def test_tdx_needs_configfs_tsm_too(short_dir: Path) -> None:
    device, _ = fake_tdx_machine(short_dir)
    with pytest.raises(TeeUnavailable, match="configfs-tsm"):
        select_backend("tdx", DevicePaths(short_dir / "none", short_dir / "missing-tsm", device))


def test_sgx_without_dcap_attestation_is_refused(short_dir: Path) -> None:
    gramine = fake_gramine_dir(short_dir / "attestation", attestation_type="none")
    with pytest.raises(TeeUnavailable, match="'dcap'"):
        select_backend("sgx", DevicePaths(gramine_attestation_dir=gramine))


def test_sgx_quote_writes_report_data_and_checks_the_binding(short_dir: Path, world: DcapWorld) -> None:
    expected = quote_report_data(REPORT_DATA)
    gramine = fake_gramine_dir(short_dir / "attestation", quote=world.sgx_quote(expected))
    backend = SgxBackend(gramine)
    quote = backend.quote(REPORT_DATA)
    assert (gramine / "user_report_data").read_bytes() == expected
    info = parse_quote(quote)
    assert info.tee == "sgx"
    assert info.report_data == expected


@pytest.mark.parametrize(
    ("quote_of", "message"),
    [
        pytest.param(
            lambda w: w.sgx_quote(bytes(64)), "does not carry our report data", id="other-report-data"
        ),
        pytest.param(lambda w: w.tdx_quote(quote_report_data(REPORT_DATA)), "report data", id="tdx-quote"),
        pytest.param(lambda w: b"not a quote", "not a quote", id="garbage"),
    ],
)
def test_sgx_quote_that_does_not_bind_is_refused(
    short_dir: Path, world: DcapWorld, quote_of: object, message: str
) -> None:
    assert callable(quote_of)
    gramine = fake_gramine_dir(short_dir / "attestation", quote=quote_of(world))
    with pytest.raises(TeeUnavailable, match=message):
        SgxBackend(gramine).quote(REPORT_DATA)


def test_tdx_quote_through_configfs_tsm(short_dir: Path, world: DcapWorld) -> None:
    _, report_dir = fake_tdx_machine(short_dir)
    fs = FakeTsmFs(world.tdx_quote)
    quote = TdxBackend(report_dir, fs).quote(REPORT_DATA)
    assert fs.inblobs == [quote_report_data(REPORT_DATA)]
    info = parse_quote(quote)
    assert info.tee == "tdx"
    assert info.report_data == quote_report_data(REPORT_DATA)
    assert len(info.measurement) == 48
    assert len(info.rtmrs) == 4
    assert list(report_dir.iterdir()) == []  # the one-shot entry was removed (rmdir)


@pytest.mark.parametrize(
    ("fs_options", "message"),
    [
        pytest.param({"provider": "sev_guest"}, "provider is 'sev_guest'", id="not-tdx-provider"),
        pytest.param({"extra_writes": 1}, "modified concurrently", id="generation-race"),
        pytest.param({"fail_outblob": True}, "Quote Generation Service", id="qgs-down"),
    ],
)
def test_tdx_configfs_failures_are_typed(
    short_dir: Path, world: DcapWorld, fs_options: dict[str, object], message: str
) -> None:
    _, report_dir = fake_tdx_machine(short_dir)
    fs = FakeTsmFs(world.tdx_quote, **fs_options)  # type: ignore[arg-type]
    with pytest.raises(TeeUnavailable, match=message):
        TdxBackend(report_dir, fs).quote(REPORT_DATA)
    assert list(report_dir.iterdir()) == []


def test_tdx_quote_with_other_report_data_is_refused(short_dir: Path, world: DcapWorld) -> None:
    _, report_dir = fake_tdx_machine(short_dir)
    fs = FakeTsmFs(lambda inblob: world.tdx_quote(bytes(64)))
    with pytest.raises(TeeUnavailable, match="does not carry our report data"):
        TdxBackend(report_dir, fs).quote(REPORT_DATA)


# --- real quotes (tests/testdata/dcap) through the backends' report-data check ---
# Both real samples below follow NSL's REPORTDATA convention (32 bytes, then 32 zero bytes), so the
# backends can be asked for exactly that report data and must hand the real quote back.


def test_tdx_backend_takes_a_real_td_report_15_quote(short_dir: Path) -> None:
    # What configfs-tsm returns on a TDX 1.5 module: a v5 quote. parse_quote used to refuse it as an
    # unsupported report type, so a TDX enclave on current platforms could not start.
    real = real_quote("tdx_quote_outdated")
    ours = parse_quote(real.raw).report_data[:32]
    _, report_dir = fake_tdx_machine(short_dir)
    fs = FakeTsmFs(lambda inblob: real.raw)
    assert TdxBackend(report_dir, fs).quote(ours) == real.raw
    assert fs.inblobs == [quote_report_data(ours)]
    with pytest.raises(TeeUnavailable, match="does not carry our report data"):
        TdxBackend(report_dir, fs).quote(REPORT_DATA)


def test_sgx_backend_takes_a_real_quote(short_dir: Path) -> None:
    real = real_quote("sgx_quote")
    ours = b"Hello, world!".ljust(32, b"\0")
    gramine = fake_gramine_dir(short_dir / "attestation", quote=real.raw)
    assert SgxBackend(gramine).quote(ours) == real.raw
    with pytest.raises(TeeUnavailable, match="does not carry our report data"):
        SgxBackend(gramine).quote(REPORT_DATA)
