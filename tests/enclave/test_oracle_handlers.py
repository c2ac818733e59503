"""``oracle.fetch`` in the enclave, attacked the way a compromised host would (docs/oracle.md §7).

A real context with the real fetcher (trusting a test CA) and a real local HTTPS server; the op runs
through ``ops.execute``, so schemas, error mapping and signatures are the real ones. The host is the
attacker here: it builds the op's args itself, grants included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.client.attestation import verify_attestation, verify_result
from neo_service_layer.client.secrets import seal_secret_value
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.canonical import b64encode
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.ops import execute
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.protocol import InvalidArgs, UnsealFailed
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond

ACCOUNT = "acc_01ORACLETEST"
SECRET_ID = "sec_01ORACLE"
VALUE = b"sk-live-handler-0123456789"


@pytest.fixture
async def web(pki: OraclePKI, tmp_path: Path) -> AsyncIterator[LocalServer]:
    async def price(_request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'{"price": 7}')

    local = LocalServer(pki.server_context(tmp_path), routes={"/price": price})
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


def _context(identity: Identity, measurement: str, fetcher: SafeFetcher) -> EnclaveContext:
    backend = SoftwareBackend()
    return EnclaveContext(
        identity=identity,
        sealer=Sealer(bytes(32)),
        backend=backend,
        report=build_report(identity, backend, measurement),
        fetcher=fetcher,
    )


@pytest.fixture
async def oracle_ctx(identity: Identity, measurement: str, pki: OraclePKI) -> AsyncIterator[EnclaveContext]:
    """An enclave that may reach 127.0.0.1 (a devnet's policy): only its own rules stand in the way."""
    async with SafeFetcher(
        FetchPolicy(allow_private_hosts=True), ssl_context=pki.client_context()
    ) as fetcher:
        yield _context(identity, measurement, fetcher)


async def _run(ctx: EnclaveContext, args: dict[str, Any]) -> dict[str, Any]:
    spec = default_registry().get("oracle.fetch")
    assert spec is not None
    return await execute(spec, ctx, args)


def _args(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "request_id": "orq_01TEST",
        "sources": [{"url": url}],
        "max_response_bytes": 65535,
        "timeout_ms": 5000,
        **extra,
    }


async def _stored_secret(ctx: EnclaveContext, allowed_hosts: list[str]) -> dict[str, Any]:
    """A secret version as the host stores it, written by its owner with ``allowed_hosts``."""
    amk = {"version": 1, "sealed": b64encode(ctx.new_amk(ACCOUNT, 1))}
    sealed = seal_secret_value(
        ctx.identity.public.x25519, ACCOUNT, "API_KEY", VALUE, cas=0, allowed_hosts=allowed_hosts
    )
    spec = default_registry().get("secrets.encrypt")
    assert spec is not None
    encrypted = await execute(
        spec,
        ctx,
        {
            "account_id": ACCOUNT,
            "secret_id": SECRET_ID,
            "name": "API_KEY",
            "version": 1,
            "amk": amk,
            "sealed_value": sealed,
        },
    )
    return {
        "secret_id": SECRET_ID,
        "name": "API_KEY",
        "version": 1,
        "ciphertext": encrypted["ciphertext"],
        "wrapped_dek": encrypted["wrapped_dek"],
        "amk": amk,
        "allowed_hosts": encrypted["allowed_hosts"],
    }


async def test_the_answer_is_signed_over_the_request_with_placeholders_only(
    oracle_ctx: EnclaveContext, web: LocalServer
) -> None:
    stored = await _stored_secret(oracle_ctx, ["127.0.0.1"])
    args = _args(
        web.url("/price"),
        sources=[{"url": web.url("/price"), "headers": {"X-Key": "{{secrets.API_KEY}}"}}],
        filter="$.price",
        secrets=[{"host": "127.0.0.1", "stored": stored}],
    )
    signed = await _run(oracle_ctx, args)
    assert web.requests[-1].headers["x-key"] == VALUE.decode()
    identity = verify_attestation(oracle_ctx.report, allow_software=True)
    params = {k: v for k, v in args.items() if k not in ("account_id", "secrets")}
    params |= {
        "aggregate": "identical",
        "quorum": None,
        "max_spread": None,
        "filter_syntax": "n3",
        "extract": None,
    }
    params["sources"] = [
        {"url": web.url("/price"), "method": "GET", "headers": {"X-Key": "{{secrets.API_KEY}}"}, "body": None}
    ]
    result = verify_result(
        signed, identity, request={"op": "oracle.fetch", "account_id": ACCOUNT, "params": params}
    )
    assert (result["code"], result["result"]) == ("Success", b64encode(b"[7]"))
    assert VALUE.decode() not in str(signed)


async def test_a_host_that_claims_a_grant_to_its_own_server_gets_nothing(
    oracle_ctx: EnclaveContext, web: LocalServer
) -> None:
    # The secret was sealed for api.example only; the host says it is granted to 127.0.0.1 and
    # points the request there, to read the value off its own server.
    stored = await _stored_secret(oracle_ctx, ["api.example"])
    args = _args(web.url("/price?k={{secrets.API_KEY}}"), secrets=[{"host": "127.0.0.1", "stored": stored}])
    with pytest.raises(InvalidArgs, match="not sealed with that host"):
        await _run(oracle_ctx, args)
    assert web.requests == []


async def test_a_host_that_rewrites_the_sealed_hosts_gets_no_plaintext(
    oracle_ctx: EnclaveContext, web: LocalServer
) -> None:
    stored = await _stored_secret(oracle_ctx, ["api.example"])
    forged = {**stored, "allowed_hosts": ["127.0.0.1", "api.example"]}
    args = _args(web.url("/price?k={{secrets.API_KEY}}"), secrets=[{"host": "127.0.0.1", "stored": forged}])
    with pytest.raises(UnsealFailed):
        await _run(oracle_ctx, args)
    assert web.requests == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://{{secrets.API_KEY}}.example/", id="secret-as-host"),
        pytest.param("https://127.0.0.1:{{secrets.API_KEY}}/", id="secret-as-port"),
        pytest.param("https://127.0.0.1/{{secrets.NOT_GIVEN}}", id="secret-not-granted"),
    ],
)
async def test_a_template_that_breaks_a_rule_is_refused(oracle_ctx: EnclaveContext, url: str) -> None:
    with pytest.raises(InvalidArgs):
        await _run(oracle_ctx, _args(url))


async def test_the_default_policy_refuses_a_private_destination(
    identity: Identity, measurement: str, pki: OraclePKI, web: LocalServer
) -> None:
    # The enclave's own policy, from its own configuration: the host cannot turn it off per request.
    async with SafeFetcher(FetchPolicy(), ssl_context=pki.client_context()) as fetcher:
        signed = await _run(_context(identity, measurement, fetcher), _args(web.url("/price")))
    assert signed["result"]["code"] == "Forbidden"
    assert signed["result"]["sources"][0]["status"] is None
    assert web.connections == 0
