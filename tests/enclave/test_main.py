"""The enclave as its own process (``python -m neo_service_layer.enclave``, what ``nsl enclave`` runs):
start-up, restarts (graceful and SIGKILL) on the same sealed state, and refusals that write nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from neo_service_layer.config import Settings
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.main import oracle_fetcher
from neo_service_layer.enclave.sealing import PURPOSE_AMK, PassphraseKeyProvider, Sealer
from neo_service_layer.errors import ConfigurationError, EnclaveUnavailable
from tests.enclave_runner import EnclaveRunner

pytestmark = pytest.mark.slow


@pytest.fixture
def runner(short_dir: Path) -> Iterator[EnclaveRunner]:
    enclave_runner = EnclaveRunner(short_dir)
    try:
        yield enclave_runner
    finally:
        enclave_runner.cleanup()


async def test_restart_serves_the_same_identity(runner: EnclaveRunner) -> None:
    first = runner.start()
    report = await runner.ready(first)
    assert (report.tee, report.backend, report.quote) == ("none", "software", None)
    first.process.send_signal(signal.SIGTERM)
    assert await runner.wait(first) == 0
    assert not runner.socket.exists()
    output = first.output()
    assert "tee=none: software enclave, not hardware-protected" in output
    assert '"state_created": true' in output
    assert runner.state.stat().st_mode & 0o777 == 0o600
    assert (runner.data_dir / "enclave" / "sealing.key").stat().st_mode & 0o777 == 0o600
    state_before = runner.state.read_bytes()

    second = runner.start()
    again = await runner.ready(second)
    assert again.identity == report.identity
    assert again.measurement == report.measurement
    assert runner.state.read_bytes() == state_before
    second.process.send_signal(signal.SIGINT)
    assert await runner.wait(second) == 0


async def test_sigkill_loses_nothing(runner: EnclaveRunner) -> None:
    first = runner.start(NSL_ENCLAVE_PASSPHRASE="correct horse battery staple")
    report = await runner.ready(first)
    client = UnixEnclaveClient(runner.socket, timeout=5.0, pool_size=2)
    try:
        sealed = (await client.amk_create("acc_1", 1)).sealed
        first.process.kill()
        assert await runner.wait(first) == -signal.SIGKILL
        assert runner.socket.exists()  # a stale socket is left behind
        with pytest.raises(EnclaveUnavailable):
            await client.ping()

        second = runner.start(NSL_ENCLAVE_PASSPHRASE="correct horse battery staple")
        again = await runner.ready(second)
        assert again.identity == report.identity
        # The sealing key is the same after the crash, so the AMK the host stored still opens.
        provider = PassphraseKeyProvider(SecretStr("correct horse battery staple"), runner.state.parent)
        amk = Sealer(provider.load_key(create=False)).open(PURPOSE_AMK, "acc_1:1", sealed)
        assert len(amk) == 32
        # The same client reconnects to the new process.
        assert (await client.amk_create("acc_1", 2)).version == 2
    finally:
        await client.close()


async def test_wrong_passphrase_refuses_to_start_and_writes_nothing(runner: EnclaveRunner) -> None:
    first = runner.start(NSL_ENCLAVE_PASSPHRASE="the right passphrase")
    await runner.ready(first)
    first.process.send_signal(signal.SIGTERM)
    assert await runner.wait(first) == 0
    files = {p.name: p.read_bytes() for p in runner.state.parent.iterdir() if p.is_file()}

    wrong = runner.start(NSL_ENCLAVE_PASSPHRASE="a wrong passphrase")
    assert await runner.wait(wrong) == 2
    assert "[unseal_failed]" in wrong.output()
    assert "wrong passphrase" in wrong.output()
    assert {p.name: p.read_bytes() for p in runner.state.parent.iterdir() if p.is_file()} == files
    assert not runner.socket.exists()


async def test_tampered_state_refuses_to_start_and_is_kept(runner: EnclaveRunner) -> None:
    first = runner.start()
    await runner.ready(first)
    first.process.send_signal(signal.SIGTERM)
    assert await runner.wait(first) == 0
    tampered = runner.state.read_text().replace('"sealed": "A', '"sealed": "B', 1)
    if tampered == runner.state.read_text():
        tampered = runner.state.read_text().replace('"sealed": "', '"sealed": "AAAA', 1)
    runner.state.write_text(tampered)

    refused = runner.start()
    assert await runner.wait(refused) == 2
    assert "[unseal_failed]" in refused.output()
    assert runner.state.read_text() == tampered


async def test_second_enclave_on_the_same_socket_is_refused(runner: EnclaveRunner) -> None:
    first = runner.start()
    report = await runner.ready(first)
    second = runner.start()
    assert await runner.wait(second) == 2
    assert "another enclave is already serving" in second.output()
    assert (await runner.ready(first)).identity == report.identity  # the first one is unharmed


async def test_explicit_hardware_backend_that_is_missing_refuses_to_start(runner: EnclaveRunner) -> None:
    refused = runner.start(NSL_ENCLAVE_BACKEND="tdx")
    assert await runner.wait(refused) == 2
    assert "[tee_unavailable]" in refused.output()
    assert not runner.state.exists()


@pytest.mark.parametrize(
    ("oracle", "message"),
    [
        pytest.param({"deny_domains": ["bad pattern!"]}, "NSL_ORACLE_", id="bad-domain-pattern"),
        pytest.param({"ca_file": "/nonexistent/ca.pem"}, "NSL_ORACLE_", id="missing-ca-file"),
    ],
)
def test_bad_oracle_settings_refuse_to_start(tmp_path: Path, oracle: dict[str, object], message: str) -> None:
    # At start-up, not at the first oracle request.
    settings = Settings(data_dir=tmp_path, oracle=oracle)
    with pytest.raises(ConfigurationError, match=message):
        oracle_fetcher(settings)


async def test_the_oracle_fetcher_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, oracle={"allow_http": True, "max_response_bytes": 100})
    fetcher = oracle_fetcher(settings)
    try:
        assert (fetcher.policy.allow_http, fetcher.policy.max_response_bytes) == (True, 100)
        assert fetcher.policy.allow_private_hosts is False
    finally:
        await fetcher.aclose()
