"""``chains.n3_oracle_public_key`` and ``chains.n3_oracle_response`` (``handlers/n3_oracle.py``), called
with a real context: a real :class:`SafeFetcher` over real TLS to a local server with a test CA.

The differential test against neo-go's own oracle service is tests/chains/neo_n3/test_native_oracle.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import keys, n3_oracle_tx, neo
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.handlers.n3_oracle import n3_oracle_public_key_op, n3_oracle_response
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.n3_oracle_key import n3_oracle_material, n3_oracle_public_key
from neo_service_layer.enclave.opdefs.n3_oracle import N3OracleResponseArgs
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.enclave.schemas import NoArgs
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond

MAGIC = 56753


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[LocalServer, OraclePKI]]:
    pki = OraclePKI.build()
    local = await LocalServer(pki.server_context(str(tmp_path))).start()

    async def data(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'{"a":[1,2]}')

    async def latin1(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'"caf\xe9"')

    local.routes.update({"/data": data, "/latin1": latin1})
    yield local, pki
    await local.stop()


@pytest.fixture
async def oracle_ctx(
    identity: Identity, sealer: Sealer, measurement: str, server: tuple[LocalServer, OraclePKI]
) -> AsyncIterator[EnclaveContext]:
    backend = SoftwareBackend()
    fetcher = SafeFetcher(FetchPolicy(allow_private_hosts=True), ssl_context=server[1].client_context())
    yield EnclaveContext(
        identity=identity,
        sealer=sealer,
        backend=backend,
        report=build_report(identity, backend, measurement),
        fetcher=fetcher,
    )
    await fetcher.aclose()


def _args(
    ctx: EnclaveContext, url: str, flt: str | None, nodes: list[bytes] | None = None
) -> N3OracleResponseArgs:
    return N3OracleResponseArgs(
        network_magic=MAGIC,
        request_id=5,
        url=url,
        filter=flt,
        gas_for_response=10_000_000,
        valid_until_block=1000,
        oracle_nodes=nodes if nodes is not None else [n3_oracle_public_key(ctx.identity)],
        exec_fee_factor_pico=300_000,
        fee_per_byte=1000,
    )


def test_the_oracle_key_is_derived_from_the_identity_and_is_not_its_own_key(identity: Identity) -> None:
    again = Identity.from_secrets(*identity.secrets())
    assert n3_oracle_material(again) == n3_oracle_material(identity)
    assert n3_oracle_public_key(identity) != identity.public.p256
    assert n3_oracle_public_key(Identity.generate()) != n3_oracle_public_key(identity)
    assert n3_oracle_public_key(identity) == keys.public_key(KeyType.SECP256R1, n3_oracle_material(identity))


async def test_public_key_op_gives_the_key_and_its_account(oracle_ctx: EnclaveContext) -> None:
    result = await n3_oracle_public_key_op(oracle_ctx, NoArgs())
    assert result.public_key == n3_oracle_public_key(oracle_ctx.identity)
    assert result.address == neo.address(result.public_key)
    assert result.script_hash == neo.script_hash_hex(result.public_key)


async def test_a_response_is_fetched_filtered_and_signed_over_magic_and_tx_hash(
    oracle_ctx: EnclaveContext, server: tuple[LocalServer, OraclePKI]
) -> None:
    result = await n3_oracle_response(oracle_ctx, _args(oracle_ctx, server[0].url("/data"), "$.a[0]"))
    assert (result.code, result.result) == ("Success", b"[1]")
    digest = hashlib.sha256(result.unsigned_transaction).digest()
    assert result.tx_hash == "0x" + digest[::-1].hex()
    # neo-go hash.NetSha256: ECDSA-SHA256 over uint32le(magic) ‖ SHA-256(unsigned tx).
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), result.public_key)
    r, s = int.from_bytes(result.signature[:32], "big"), int.from_bytes(result.signature[32:], "big")
    public.verify(encode_dss_signature(r, s), MAGIC.to_bytes(4, "little") + digest, ec.ECDSA(hashes.SHA256()))
    assert result.transaction is not None
    assert result.transaction.startswith(result.unsigned_transaction)
    nodes_script = n3_oracle_tx.oracle_nodes_script([result.public_key])  # 42 bytes for 1-of-1
    witness = b"\x0c\x40" + result.signature
    assert result.transaction.endswith(
        bytes([len(witness)]) + witness + bytes([len(nodes_script)]) + nodes_script
    )
    # As neo-go's oracle asks (request.go): a GET with a JSON Content-Type.
    (request,) = server[0].requests
    assert (request.method, request.headers["content-type"]) == ("GET", "application/json")


@pytest.mark.parametrize(
    ("flt", "code"),
    [
        pytest.param(None, "Error", id="no-filter"),  # readResponse's checkUTF8
        pytest.param("$", "Error", id="filter"),  # filterRequest: invalid UTF-8
    ],
)
async def test_a_body_that_is_not_utf8_is_an_error_as_in_neo_go(
    oracle_ctx: EnclaveContext, server: tuple[LocalServer, OraclePKI], flt: str | None, code: str
) -> None:
    result = await n3_oracle_response(oracle_ctx, _args(oracle_ctx, server[0].url("/latin1"), flt))
    assert (result.code, result.result) == (code, b"")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        pytest.param("", "ProtocolNotSupported", id="empty"),  # ParseRequestURI("") fails
        pytest.param("not a url", "ProtocolNotSupported", id="not-a-url"),
        pytest.param("ftp://127.0.0.1/x", "ProtocolNotSupported", id="other-scheme"),
        pytest.param("https://", "Error", id="https-no-host"),  # neo-go: its HTTP client fails
        pytest.param("neofs:abc/def", "Error", id="neofs"),  # neo-go with no NeoFS nodes
        pytest.param("https://127.0.0.1/{{secrets.K}}", "Error", id="placeholder"),  # no grants
    ],
)
async def test_urls_refused_before_any_request_get_neo_gos_codes(
    oracle_ctx: EnclaveContext, server: tuple[LocalServer, OraclePKI], url: str, code: str
) -> None:
    result = await n3_oracle_response(oracle_ctx, _args(oracle_ctx, url, None))
    assert (result.code, result.result) == (code, b"")
    assert result.transaction is not None  # answered all the same: the request does not stay pending
    assert server[0].requests == []


async def test_refuses_to_answer_when_its_key_is_not_designated(
    oracle_ctx: EnclaveContext, server: tuple[LocalServer, OraclePKI]
) -> None:
    other = keys.public_key(KeyType.SECP256R1, keys.generate(KeyType.SECP256R1))
    with pytest.raises(InvalidArgs, match="not among the designated"):
        await n3_oracle_response(oracle_ctx, _args(oracle_ctx, server[0].url("/data"), None, [other]))
    assert server[0].requests == []  # refused before fetching


async def test_with_several_nodes_it_returns_its_signatures_for_the_peers(
    oracle_ctx: EnclaveContext, server: tuple[LocalServer, OraclePKI]
) -> None:
    others = [keys.public_key(KeyType.SECP256R1, keys.generate(KeyType.SECP256R1)) for _ in range(3)]
    nodes = [n3_oracle_public_key(oracle_ctx.identity), *others]
    args = _args(oracle_ctx, server[0].url("/data"), None, nodes).model_copy(
        update={"extra_valid_until_blocks": [77]}
    )
    result = await n3_oracle_response(oracle_ctx, args)
    assert result.code == "Success"
    assert result.transaction is None  # 3 of 4 signatures needed
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), result.public_key)
    # submitoracleresponse (neo-go rpcsrv): SHA-256 of key ‖ uint64le(id) ‖ tx signature.
    message = result.public_key + (5).to_bytes(8, "little") + result.signature
    _verify(public, result.message_signature, message)
    (variant,) = result.variants
    other = n3_oracle_tx.build_response_tx(
        request_id=5,
        code=OracleCode.Success,
        result=result.result,
        gas_for_response=10_000_000,
        valid_until_block=77,
        oracle_nodes=nodes,
        fees=n3_oracle_tx.FeeParams(300_000, 1000),
    )
    digest = hashlib.sha256(other.unsigned).digest()
    assert variant.tx_hash == "0x" + digest[::-1].hex()
    _verify(public, variant.signature, MAGIC.to_bytes(4, "little") + digest)
    _verify(
        public, variant.message_signature, result.public_key + (5).to_bytes(8, "little") + variant.signature
    )
    assert server[0].connections == 1  # one fetch for both


def _verify(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
