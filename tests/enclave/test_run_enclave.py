"""``run_enclave`` in-process (the coroutine ``nsl enclave`` runs), with the software backend and with the
SGX backend on FAKE Gramine devices (tests/enclave/fakes.py), end to end through the client and the
offline verifier. The subprocess tests (test_main.py) cover signals and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from neo_service_layer.client import verify_attestation
from neo_service_layer.config import Settings
from neo_service_layer.enclave import main as enclave_main
from neo_service_layer.enclave.attestation import attestation_report_data
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.enclave.sealing import GramineSgxKeyProvider
from neo_service_layer.enclave.state import load_or_create_state
from neo_service_layer.enclave.tee.base import quote_report_data
from neo_service_layer.enclave.tee.detect import DevicePaths
from neo_service_layer.errors import AttestationInvalid, EnclaveUnavailable, TeeUnavailable
from tests.enclave.dcap_pki import DcapWorld
from tests.enclave.fakes import fake_gramine_dir

NO_HARDWARE = DevicePaths(
    Path("/nonexistent/attestation"), Path("/nonexistent/tsm"), Path("/nonexistent/tdx")
)


@asynccontextmanager
async def running(settings: Settings, devices: DevicePaths) -> AsyncIterator[AttestationReport]:
    stop = asyncio.Event()
    task = asyncio.create_task(enclave_main.run_enclave(settings, stop=stop, devices=devices))
    client = UnixEnclaveClient(settings.effective_enclave_socket, timeout=5.0, pool_size=1)
    try:
        for _ in range(200):
            if task.done():
                await task  # raises the start-up error
            try:
                report = await client.attest()
                break
            except EnclaveUnavailable:
                await asyncio.sleep(0.02)
        else:
            pytest.fail("the enclave did not come up")
        yield report
    finally:
        await client.close()
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_software_enclave_runs_and_stops(short_dir: Path) -> None:
    settings = Settings(data_dir=short_dir, enclave={"passphrase": SecretStr("pass phrase")})
    async with running(settings, NO_HARDWARE) as report:
        assert report.tee == "none"
        identity = verify_attestation(report.model_dump(mode="json"), allow_software=True)
        assert identity.measurement == compute_measurement("software")
    assert not settings.effective_enclave_socket.exists()
    async with running(settings, NO_HARDWARE) as again:
        assert again.identity == report.identity


async def test_sgx_enclave_on_fake_gramine_attests_verifiably(short_dir: Path) -> None:
    # FAKE DEVICE: Gramine's /dev/attestation as files. The quote must carry the report data of the
    # enclave's identity, so the state is created first (sealed with the fake MRENCLAVE key) and the
    # quote file prepared for it; run_enclave then unseals that same identity.
    world = DcapWorld()
    gramine = fake_gramine_dir(short_dir / "attestation")
    settings = Settings(data_dir=short_dir / "data", enclave={"backend": "sgx"})
    state = load_or_create_state(settings.effective_enclave_state_dir, GramineSgxKeyProvider(gramine))
    measurement = compute_measurement("sgx")
    public = state.identity.public
    report_data = attestation_report_data(public.p256, public.k1, public.x25519, bytes.fromhex(measurement))
    (gramine / "quote").write_bytes(world.sgx_quote(quote_report_data(report_data)))

    async with running(settings, DevicePaths(gramine_attestation_dir=gramine)) as report:
        assert (report.tee, report.backend) == ("sgx", "sgx")
        assert report.quote is not None
        with pytest.raises(AttestationInvalid, match="collateral"):
            verify_attestation(report.model_dump(mode="json"))  # no collateral given
        identity = verify_attestation(
            report.model_dump(mode="json"),
            expected_measurement=measurement,
            collateral=world.collateral(),
            root_ca_der=world.root_der,
            now=world.unix_now,
        )
    assert identity.hardware
    assert identity.p256 == public.p256
    assert (gramine / "user_report_data").read_bytes() == quote_report_data(report_data)


async def test_unavailable_backend_fails_before_touching_anything(short_dir: Path) -> None:
    settings = Settings(data_dir=short_dir, enclave={"backend": "tdx"})
    with pytest.raises(TeeUnavailable):
        await enclave_main.run_enclave(settings, stop=asyncio.Event(), devices=NO_HARDWARE)
    assert not settings.effective_enclave_state_dir.exists()


@pytest.fixture
def quiet_main(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    # main() configures process-wide logging for a real process; keep the test process's own.
    monkeypatch.setattr(enclave_main, "configure_logging", lambda level, fmt: None)
    return enclave_main.main


@pytest.mark.parametrize(
    ("env", "code"),
    [
        pytest.param({"NSL_ENCLAVE_BACKEND": "quantum"}, "[configuration_error]", id="invalid-setting"),
        pytest.param({"NSL_ENCLAVE_BACKEND": "sgx"}, "[tee_unavailable]", id="no-sgx-here"),
    ],
)
def test_main_exits_2_with_a_clean_message(
    quiet_main: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    short_dir: Path,
    env: dict[str, str],
    code: str,
) -> None:
    monkeypatch.setenv("NSL_DATA_DIR", str(short_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as caught:
        quiet_main()
    assert caught.value.code == 2
    assert code in capsys.readouterr().err
