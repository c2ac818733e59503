"""``functions.check`` and ``functions.run`` through the real in-process enclave, with a real sandbox pool,
the real safe fetcher (trusting the test CA) and secrets written through the enclave's own ops."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.client.attestation import verify_attestation
from neo_service_layer.client.functions import verify_function_result
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.client import Signed, UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.functions.limits import RunLimits
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.opdefs.functions import CHECK, RUN, CheckArgs, Limits, RunArgs, RunOutcome
from neo_service_layer.enclave.ops import OpSpec, execute
from neo_service_layer.enclave.protocol import CapabilityUnavailable, InvalidArgs
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.errors import EnclaveRejected, SignatureInvalid
from neo_service_layer.logging import configure_logging
from tests.enclave.functions.enclave_fixtures import enclave_fetcher, enclave_sandbox
from tests.enclave.functions.stored_secrets import stored_secret
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond
from tests.leaks import assert_never_in, encodings

ACCOUNT = "acct_fn"
VALUE = "sk-live-9f8e7d6c5b4a39281706"
OTHER_VALUE = "sk-other-0a1b2c3d4e5f60718293"

__all__ = ["enclave_fetcher", "enclave_sandbox"]  # the shared fixtures this module uses


@pytest.fixture
async def web(pki: OraclePKI, tmp_path: Path) -> AsyncIterator[LocalServer]:
    async def echo_key(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(
            writer, 200, json.dumps({"price": 7, "key_ok": request.headers.get("x-key") == VALUE}).encode()
        )

    async def missing(_request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 404, b'{"error": "no such pair"}')

    local = LocalServer(pki.server_context(tmp_path), routes={"/price": echo_key, "/missing": missing})
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


def _args(source: str, **extra: Any) -> RunArgs:
    return RunArgs.model_validate(
        {"account_id": ACCOUNT, "function_id": "fn_1", "version": 3, "run_id": "run_1", "source": source}
        | extra,
        strict=False,
    )


async def _run(enclave: UnixEnclaveClient, source: str, **extra: Any) -> Signed[RunOutcome]:
    return await enclave.run(RUN, _args(source, **extra))


async def test_a_function_returns_json_derived_from_its_args(enclave: UnixEnclaveClient) -> None:
    args = {"a": 2, "b": [3, 4], "name": "ünï"}
    signed = await _run(
        enclave, "return {sum: args.a + args.b[0] + args.b[1], upper: args.name.toUpperCase()}", args=args
    )
    outcome = signed.result
    assert outcome.status == "succeeded"
    assert json.loads(outcome.result or "") == {"sum": 9, "upper": "ÜNÏ"}
    assert (outcome.run_id, outcome.function_id, outcome.version) == ("run_1", "fn_1", 3)
    assert outcome.args_sha256 == hashlib.sha256(canonical_json(args)).hexdigest()
    assert outcome.error is None
    assert outcome.duration_ms >= 0


async def test_granted_secrets_are_given_frozen_and_others_are_absent(enclave: UnixEnclaveClient) -> None:
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, [], 1)
    source = """
        let frozen = Object.isFrozen(secrets);
        try { secrets.API_KEY = "x"; } catch (e) {}
        return {len: secrets.API_KEY.length, starts: secrets.API_KEY.slice(0, 8), names: Object.keys(secrets),
                other: secrets.OTHER === undefined, frozen, same: secrets.API_KEY.length === 28};
    """
    outcome = (await _run(enclave, source, secrets=[stored.model_dump(mode="json")])).result
    assert outcome.status == "succeeded", outcome.error
    assert json.loads(outcome.result or "") == {
        "len": len(VALUE),
        "starts": VALUE[:8],
        "names": ["API_KEY"],
        "other": True,
        "frozen": True,
        "same": True,
    }


async def test_a_result_that_echoes_a_secret_is_refused_and_logs_are_redacted(
    enclave: UnixEnclaveClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    caplog.set_level(logging.DEBUG)
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, [], 1)
    secrets = [stored.model_dump(mode="json")]
    echoed = await _run(
        enclave, "console.log('key', secrets.API_KEY); return {k: secrets.API_KEY}", secrets=secrets
    )
    assert echoed.result.status == "failed"
    assert echoed.result.error is not None
    assert echoed.result.error.name == "SecretEchoRefused"
    assert echoed.result.result is None
    assert "[redacted]" in echoed.result.logs
    thrown = await _run(
        enclave, "throw new Error('bad ' + encodeURIComponent(secrets.API_KEY))", secrets=secrets
    )
    assert thrown.result.status == "failed"
    assert thrown.result.error is not None
    assert "[redacted]" in thrown.result.error.message
    captured = capsys.readouterr()
    artefacts = {
        "echoed envelope": echoed.envelope.model_dump_json().encode(),
        "thrown envelope": thrown.envelope.model_dump_json().encode(),
        "logs": (captured.err + captured.out + "\n".join(r.getMessage() for r in caplog.records)).encode(),
    }
    assert_never_in("the secret", encodings(VALUE.encode()), artefacts)


async def test_a_secret_not_sealed_for_the_functions_domains_is_refused(enclave: UnixEnclaveClient) -> None:
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, ["api.oracle.test"], 1)
    with pytest.raises(EnclaveRejected) as caught:
        await _run(
            enclave,
            "return 1",
            allowed_domains=["127.0.0.1", "api.oracle.test"],
            secrets=[stored.model_dump(mode="json")],
        )
    assert "127.0.0.1" in caught.value.detail
    assert VALUE not in caught.value.detail


async def test_fetch_reaches_an_allowed_domain_with_a_secret_and_nothing_else(
    enclave: UnixEnclaveClient, web: LocalServer
) -> None:
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, ["127.0.0.1"], 1)
    source = f"""
        const r = await fetch({json.dumps(web.url("/price"))}, {{headers: {{"X-Key": secrets.API_KEY}}}});
        const body = await r.json();
        let refused = null;
        try {{ await fetch("https://localhost:{web.port}/price"); }} catch (e) {{ refused = e.code; }}
        return {{status: r.status, price: body.price, key_ok: body.key_ok, refused}};
    """
    outcome = (
        await _run(enclave, source, allowed_domains=["127.0.0.1"], secrets=[stored.model_dump(mode="json")])
    ).result
    assert outcome.status == "succeeded", outcome.error
    assert json.loads(outcome.result or "") == {
        "status": 200,
        "price": 7,
        "key_ok": True,
        "refused": "not_allowed",
    }
    assert outcome.fetches == 2
    assert len(web.requests) == 1  # the refused one never left the enclave


async def test_a_function_with_no_allowed_domains_cannot_fetch(
    enclave: UnixEnclaveClient, web: LocalServer
) -> None:
    url = json.dumps(web.url("/price"))
    source = f"try {{ await fetch({url}); return 'fetched' }} catch (e) {{ return e.code }}"
    outcome = (await _run(enclave, source)).result
    assert (outcome.status, outcome.result) == ("succeeded", '"not_allowed"')
    assert web.requests == []


@pytest.mark.parametrize(
    ("source", "limits", "status"),
    [
        pytest.param("while (true) {}", {"timeout_ms": 300}, "timed_out", id="busy-loop"),
        pytest.param(
            "const a = []; while (true) a.push('x'.repeat(1 << 16));",
            {"memory_mb": 16},
            "memory_exceeded",
            id="memory",
        ),
        pytest.param("return 'x'.repeat(5000)", {"max_output_bytes": 1000}, "output_too_large", id="output"),
        pytest.param("throw new TypeError('nope')", {}, "failed", id="thrown"),
    ],
)  # fmt: skip
async def test_limits_end_a_run_with_their_status(
    enclave: UnixEnclaveClient, source: str, limits: dict[str, int], status: str
) -> None:
    outcome = (await _run(enclave, source, limits=limits)).result
    assert outcome.status == status
    assert outcome.result is None
    # The enclave carries on serving the next run.
    assert (await _run(enclave, "return 1")).result.result == "1"


def test_limits_above_the_operators_maximums_are_refused() -> None:
    with pytest.raises(ValueError, match="less than or equal"):
        Limits(timeout_ms=10**9)


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        pytest.param("return 1 +;", 1, 11, id="first-line"),
        pytest.param("let x = 1;\n  let = ;", 2, 9, id="second-line"),
        pytest.param('await x;\nreturn "abc', 2, 8, id="unterminated-string"),
        pytest.param("\n\nfoo(", 3, 5, id="unclosed-call-at-end"),
        pytest.param("if (x) {\n  return 1;\n", 3, 1, id="unclosed-block"),
    ],
)
async def test_a_syntax_error_is_reported_with_its_line_and_column(
    enclave: UnixEnclaveClient, source: str, line: int, column: int
) -> None:
    checked = await enclave.run(CHECK, CheckArgs(source=source))
    assert (checked.ok, checked.line, checked.column) == (False, line, column)
    assert checked.message


@pytest.mark.parametrize(
    "source",
    ["return args.a + 1", "const r = await fetch('https://x.test'); return r.status", "while (true) {}"],
)
async def test_a_valid_source_checks_ok_without_running(enclave: UnixEnclaveClient, source: str) -> None:
    checked = await asyncio.wait_for(enclave.run(CHECK, CheckArgs(source=source)), 5)
    assert (checked.ok, checked.message, checked.line) == (True, None, None)


async def test_a_source_that_escapes_the_wrapper_at_compile_time_is_bounded(
    enclave: UnixEnclaveClient,
) -> None:
    checked = await enclave.run(CHECK, CheckArgs(source="}); while (true) {}; (async () => {"))
    assert checked.ok is False
    assert checked.line is None


async def test_the_envelope_verifies_offline_and_a_tampered_copy_does_not(enclave: UnixEnclaveClient) -> None:
    args = _args("return args.n * 2", args={"n": 21}, allowed_domains=["api.oracle.test"])
    signed = await enclave.run(RUN, args)
    identity = verify_attestation(await enclave.attest(), allow_software=True)
    envelope = signed.envelope.model_dump(mode="json")
    params = args.params()
    outcome = verify_function_result(envelope, identity, account_id=ACCOUNT, params=params)
    assert (outcome.status, outcome.result) == ("succeeded", "42")
    assert outcome.source_sha256 == hashlib.sha256(b"return args.n * 2").hexdigest()

    tampered = copy.deepcopy(envelope)
    tampered["result"]["result"] = "43"
    with pytest.raises(SignatureInvalid):
        verify_function_result(tampered, identity, account_id=ACCOUNT, params=params)
    for field, value in [("source", "return args.n * 3"), ("args", {"n": 22}), ("version", 4)]:
        with pytest.raises(SignatureInvalid, match="different request"):
            verify_function_result(envelope, identity, account_id=ACCOUNT, params=params | {field: value})
    with pytest.raises(SignatureInvalid, match="different request"):
        verify_function_result(envelope, identity, account_id="acct_other", params=params)


def test_args_without_a_canonical_form_are_refused() -> None:
    with pytest.raises(ValueError, match="canonical"):
        _args("return 1", args={"x": 0.5})


def _spec(name: str) -> OpSpec:
    spec = default_registry().get(name)
    assert spec is not None
    return spec


async def test_without_a_sandbox_the_functions_ops_are_unavailable(ctx: EnclaveContext) -> None:
    raw = _args("return 1").model_dump(mode="json")
    for name, args in (("functions.run", raw), ("functions.check", {"source": "return 1"})):
        with pytest.raises(CapabilityUnavailable, match="no sandbox"):
            await execute(_spec(name), ctx, args)


async def test_limits_above_the_enclaves_pool_maximums_are_invalid_args(
    identity: Identity, sealer: Sealer, measurement: str
) -> None:
    backend = SoftwareBackend()
    async with SandboxPool(1, maximums=RunLimits(timeout_ms=1000, memory_mb=32)) as pool:
        small = EnclaveContext(
            identity=identity,
            sealer=sealer,
            backend=backend,
            report=build_report(identity, backend, measurement),
            sandbox=pool,
        )
        raw = _args("return 1", limits={"timeout_ms": 2000, "memory_mb": 16}).model_dump(mode="json")
        with pytest.raises(InvalidArgs, match="timeout_ms 2000 is above the maximum 1000"):
            await execute(_spec("functions.run"), small, raw)
        within = await execute(
            _spec("functions.run"), small, raw | {"limits": {"timeout_ms": 900, "memory_mb": 16}}
        )
        assert within["result"]["result"] == "1"


async def test_a_function_reads_any_status_although_the_enclaves_fetcher_fails_on_them(
    enclave: UnixEnclaveClient, web: LocalServer
) -> None:
    """The enclave's fetcher fails on a non-200 for the oracle (FetchPolicy.fail_on_status); a function's
    fetch gets the response and decides what a 404 means."""
    url = json.dumps(web.url("/missing"))
    source = f"const r = await fetch({url}); return {{status: r.status, ok: r.ok, body: await r.json()}}"
    outcome = (await _run(enclave, source, allowed_domains=["127.0.0.1"])).result
    assert outcome.status == "succeeded", outcome.error
    assert json.loads(outcome.result or "") == {"status": 404, "ok": False, "body": {"error": "no such pair"}}
