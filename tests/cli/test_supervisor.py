"""What ``nsl serve`` supervises, and its warning when the enclave shares the API's user."""

from __future__ import annotations

import pytest
import structlog

from neo_service_layer.cli.supervisor import DEPLOYMENT_GUIDE, serve_children, warn_if_enclave_shares_api_user

PASSPHRASE = "correct horse battery staple"


@pytest.mark.parametrize(
    ("enclave", "names", "warned"),
    [
        pytest.param(True, ["enclave", "api", "worker"], True, id="enclave-started-by-serve"),
        pytest.param(False, ["api", "worker"], False, id="enclave-run-as-its-own-user"),
    ],
)
def test_serve_warns_once_when_it_starts_the_enclave_as_the_api_user(
    monkeypatch: pytest.MonkeyPatch, enclave: bool, names: list[str], warned: bool
) -> None:
    monkeypatch.setenv("NSL_ENCLAVE_PASSPHRASE", PASSPHRASE)
    children = serve_children(enclave=enclave)
    assert [child.name for child in children] == names
    for child in children:  # only the enclave sees what unlocks its sealing key
        assert child.env is not None
        assert (child.env.get("NSL_ENCLAVE_PASSPHRASE") == PASSPHRASE) == (child.name == "enclave")
    with structlog.testing.capture_logs() as logs:
        assert warn_if_enclave_shares_api_user(children) is warned
    warnings = [entry for entry in logs if entry["event"] == "enclave_shares_api_user"]
    assert len(warnings) == int(warned)
    for entry in warnings:
        assert entry["log_level"] == "warning"
        assert entry["guide"] == DEPLOYMENT_GUIDE
