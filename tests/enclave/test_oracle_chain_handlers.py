"""``chains.evm_oracle_fulfilment`` / ``chains.n3_oracle_fulfilment`` in the enclave, without a chain: a
real fetcher (default policy, test CA) and a real local HTTPS server (``oracle/chain_web.py``).

Every answer's signature is checked the way the gateways check it: rebuilt on the host from the request
(``evm_gateway.fulfilment_preimage`` as NSLGateway ``_digest`` builds it;
``n3_gateway.fulfilment_message`` as nsl_gateway ``message_of`` builds it) with the payload's own hash,
VRF key version 0 and a zero key hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import evm_gateway, n3_gateway
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.opdefs.oracle_chains import (
    EVM_ORACLE_FULFILMENT,
    N3_ORACLE_FULFILMENT,
    EvmOracleFulfilmentResult,
    N3OracleFulfilmentResult,
)
from neo_service_layer.enclave.ops import execute
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.onchain import split_evm_result, split_n3_result
from neo_service_layer.enclave.signing import evm_address, k1_recover, p256_verify
from tests.enclave.oracle.chain_web import PRICE, oracle_context, public_fetcher, public_url, web
from tests.enclave.oracle.servers import LocalServer, OraclePKI

GATEWAY_EVM = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GATEWAY_N3 = "0x" + "12" * 20
REQUEST_ID = bytes.fromhex("ab" * 32)


@pytest.fixture
async def server(pki: OraclePKI) -> AsyncIterator[LocalServer]:
    async with web(pki) as local:
        yield local


@pytest.fixture
async def oracle_ctx(identity: Identity, measurement: str, pki: OraclePKI) -> AsyncIterator[EnclaveContext]:
    fetcher = public_fetcher(pki)
    try:
        yield oracle_context(identity, measurement, fetcher)
    finally:
        await fetcher.aclose()


async def run(ctx: EnclaveContext, op: str, args: dict[str, Any]) -> dict[str, Any]:
    spec = default_registry().get(op)
    assert spec is not None
    return await execute(spec, ctx, args)


def evm_payload(url: str, filter_: str) -> bytes:
    return abi_encode(["string", "string"], [url, filter_])


def n3_payload(url: str, filter_: str | None) -> bytes:
    return json.dumps([url, filter_], separators=(",", ":")).encode()


def signer_of(answer: EvmOracleFulfilmentResult, payload_hash: bytes) -> str:
    """Who signed ``answer`` for a request stored with ``payload_hash``: ``ecrecover`` of the gateway's
    digest, keccak256 of this preimage (``k1_recover`` hashes it)."""
    preimage = evm_gateway.fulfilment_preimage(
        31337,
        bytes.fromhex(GATEWAY_EVM[2:]),
        REQUEST_ID,
        payload_hash=payload_hash,
        vrf_key_version=0,
        vrf_key_hash=bytes(32),
        result=answer.result,
    )
    return evm_address(k1_recover(preimage, answer.signature))


async def evm_answer(ctx: EnclaveContext, payload: bytes) -> EvmOracleFulfilmentResult:
    args = {
        "chain_id": 31337,
        "gateway": GATEWAY_EVM,
        "request_id": REQUEST_ID.hex(),
        "payload": payload.hex(),
    }
    answer = EvmOracleFulfilmentResult.model_validate(await run(ctx, EVM_ORACLE_FULFILMENT.name, args))
    # What NSLGateway._digest rebuilds for a request stored with keccak256(payload) and no VRF key.
    assert signer_of(answer, keccak(payload)) == ctx.identity.public.k1_address == answer.signer
    return answer


async def n3_answer(ctx: EnclaveContext, payload: bytes) -> N3OracleFulfilmentResult:
    args = {"network_magic": 56753, "gateway": GATEWAY_N3, "request_id": 7, "payload": payload.hex()}
    answer = N3OracleFulfilmentResult.model_validate(await run(ctx, N3_ORACLE_FULFILMENT.name, args))
    message = n3_gateway.fulfilment_message(
        56753,
        bytes.fromhex(GATEWAY_N3[2:])[::-1],
        7,
        payload_hash=hashlib.sha256(payload).digest(),
        vrf_key_version=0,
        vrf_key_hash=bytes(32),
        result=answer.result,
    )
    assert p256_verify(ctx.identity.public.p256, message, answer.signature)
    assert answer.signer == ctx.identity.public.p256
    return answer


CASES = [
    pytest.param("/price", "$.data.price", OracleCode.Success, b'["43000.12"]', id="success-filtered"),
    pytest.param("/price", "$", OracleCode.Success, None, id="dollar-wraps-the-document"),
    pytest.param("/missing", "$", OracleCode.NotFound, b"", id="not-found"),
    pytest.param("/big", "$.items", OracleCode.ResponseTooLarge, b"", id="over-the-on-chain-cap"),
    pytest.param("/price", "$.data[", OracleCode.Error, b"", id="filter-does-not-parse"),
]


@pytest.mark.parametrize(("path", "filter_", "code", "data"), CASES)
async def test_evm_answers(
    oracle_ctx: EnclaveContext,
    server: LocalServer,
    path: str,
    filter_: str,
    code: OracleCode,
    data: bytes | None,
) -> None:
    answer = await evm_answer(oracle_ctx, evm_payload(public_url(server, path), filter_))
    assert (answer.code, split_evm_result(answer.result)) == (code.name, (code, answer.data))
    if data is not None:
        assert answer.data == data
    else:  # "$" wraps: the document in a one-item array, in the server's key order
        assert answer.data.startswith(b'[{"data":{"price":"43000.12"')


@pytest.mark.parametrize(("path", "filter_", "code", "data"), CASES)
async def test_n3_answers(
    oracle_ctx: EnclaveContext,
    server: LocalServer,
    path: str,
    filter_: str,
    code: OracleCode,
    data: bytes | None,
) -> None:
    answer = await n3_answer(oracle_ctx, n3_payload(public_url(server, path), filter_))
    assert (answer.code, split_n3_result(answer.result)) == (code.name, (code, answer.data))
    if data is not None:
        assert answer.data == data


@pytest.mark.parametrize(
    ("filter_", "extract", "code", "data"),
    [
        pytest.param(
            "$.data.price",
            "uint256:2",
            OracleCode.Success,
            abi_encode(["uint256"], [4300012]),
            id="uint256",
        ),
        pytest.param(
            "$.data.price",
            "int256:8",
            OracleCode.Success,
            abi_encode(["int256"], [4300012000000]),
            id="int256",
        ),
        pytest.param("$.data.price", "bool", OracleCode.Error, b"", id="not-a-bool"),
    ],
)
async def test_an_evm_typed_request_gets_an_abi_value(
    oracle_ctx: EnclaveContext, server: LocalServer, filter_: str, extract: str, code: OracleCode, data: bytes
) -> None:
    payload = abi_encode(["string", "string", "string"], [public_url(server, "/price"), filter_, extract])
    answer = await evm_answer(oracle_ctx, payload)
    assert (answer.code, answer.data) == (code.name, data)
    assert split_evm_result(answer.result) == (code, data)


async def test_no_filter_delivers_the_body(oracle_ctx: EnclaveContext, server: LocalServer) -> None:
    evm = await evm_answer(oracle_ctx, evm_payload(public_url(server, "/price"), ""))
    n3 = await n3_answer(oracle_ctx, n3_payload(public_url(server, "/price"), None))
    assert evm.data == n3.data == PRICE


async def test_a_private_address_is_forbidden_by_the_default_policy(
    oracle_ctx: EnclaveContext, server: LocalServer
) -> None:
    """The same server, named by its loopback address: the fetcher refuses to dial it."""
    evm = await evm_answer(oracle_ctx, evm_payload(server.url("/price"), "$"))
    n3 = await n3_answer(oracle_ctx, n3_payload(server.url("/price"), "$"))
    assert (evm.code, evm.data, n3.code, n3.data) == ("Forbidden", b"", "Forbidden", b"")
    assert server.requests == []


@pytest.mark.parametrize(
    ("payload", "code", "detail"),
    [
        pytest.param(b"not abi", "Error", "undecodable payload", id="garbage"),
        pytest.param(b"", "Error", "undecodable payload", id="empty"),
        pytest.param(
            abi_encode(["string", "string"], ["https://api.oracle.test/{{secrets.KEY}}", ""]),
            "Error",
            "is not granted",  # on-chain requests have no secrets: a placeholder is refused, not sent
            id="secret-placeholder",
        ),
        pytest.param(
            abi_encode(["string", "string"], ["ftp://api.oracle.test/", ""]),
            "ProtocolNotSupported",
            "",
            id="ftp",
        ),
    ],
)
async def test_evm_requests_that_cannot_be_served_are_answered_not_raised(
    oracle_ctx: EnclaveContext, payload: bytes, code: str, detail: str
) -> None:
    answer = await evm_answer(oracle_ctx, payload)
    assert (answer.code, answer.data) == (code, b"")
    assert split_evm_result(answer.result) == (OracleCode[code], b"")
    assert detail in answer.detail


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff", id="not-utf8"),
        pytest.param(b'{"url": "https://x"}', id="object"),
        pytest.param(b'["https://x"]', id="one-item"),
    ],
)
async def test_n3_payloads_that_do_not_decode_are_answered_error(
    oracle_ctx: EnclaveContext, payload: bytes
) -> None:
    answer = await n3_answer(oracle_ctx, payload)
    assert (answer.code, answer.result) == ("Error", bytes([0xFF]))
    assert answer.detail.startswith("undecodable payload")


async def test_the_payload_hash_is_the_enclaves_own(oracle_ctx: EnclaveContext, server: LocalServer) -> None:
    """A host that hands in another payload gets a signature over that payload's hash: it does not
    verify for the request's stored hash (what the gateway checks)."""
    honest = evm_payload(public_url(server, "/price"), "$.data.price")
    lied = evm_payload(public_url(server, "/price"), "$.data.volume")
    answer = await evm_answer(oracle_ctx, lied)
    assert signer_of(answer, keccak(honest)) != oracle_ctx.identity.public.k1_address
