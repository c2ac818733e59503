"""NSL as a Neo N3 native oracle node, on a real neo-go, against neo-go's own oracle service.

One neo-go chain for this module runs with neo-go's built-in oracle service enabled (``Oracle`` in its
config, the node's wallet unlocked) and trusts a test CA through ``SSL_CERT_FILE`` (Go's TLS reads it;
neo-go's oracle speaks https only). A contract that knows nothing of NSL
(``contracts/native_oracle_consumer.py``) calls ``OracleContract.request``:

1. with the *node's* key designated for the Oracle role, neo-go's oracle service answers the requests;
2. with the *enclave's* N3 oracle key designated instead, :class:`NativeOracleNode` answers the same
   requests through the enclave op's handler (a real :class:`SafeFetcher` over real TLS).

The callbacks must receive the same (code, result) both times — success with and without a filter, 404,
a filter that fails, a content type not allowed, a body too large — and every response transaction neo-go
built must be the one ``crypto/n3_oracle_tx.py`` builds from the same inputs, byte for byte (neo-go
``pkg/services/oracle/response.go`` ``CreateResponseTx``). The chain needs its own process (the oracle
config and the CA are fixed when neo-go starts), so it does not share the session's devnet.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from neo3.api.wrappers import GenericContract
from neo3.wallet.account import Account

from neo_service_layer.chains.neo_n3.build import N3Build, build_contracts
from neo_service_layer.chains.neo_n3.deploy import deploy_call, predicted_hash
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, facade_for
from neo_service_layer.chains.neo_n3.native_oracle import NativeOracleNode, fee_settings
from neo_service_layer.chains.neo_n3.oracle_role import designate_oracle_nodes
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import n3_oracle_tx
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.handlers.n3_oracle import n3_oracle_response
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.n3_oracle_key import n3_oracle_public_key
from neo_service_layer.enclave.opdefs.n3_oracle import N3OracleResponseArgs, N3OracleResponseResult
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.worker.native_oracle_n3 import N3_NATIVE_ORACLE_KIND
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.neo_n3.helpers import stack_bytes, stack_int, test_invoke
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond
from tests.worker.helpers import job_context

BLOCK_TIME_MS = 200
GAS_FOR_RESPONSE = 50_000_000  # the consumer's
DOCUMENT = b'{"price":123.45,"sym":"NEO","list":[1,2,3]}'
#: (path, filter, expected code): each served by neo-go, then by NSL.
CASES: list[tuple[str, str | None, OracleCode]] = [
    ("/data", "$.price", OracleCode.Success),
    ("/data", "", OracleCode.Success),
    ("/data", None, OracleCode.Success),  # no filter: the body as it is
    ("/latin1", None, OracleCode.Error),  # not UTF-8 (readResponse's checkUTF8)
    ("/latin1", "$", OracleCode.Error),
    ("/data", "$.list[1:]", OracleCode.Success),
    ("/missing", "", OracleCode.NotFound),
    ("/data", "$.[", OracleCode.Error),
    ("/text", "", OracleCode.ContentTypeNotSupported),
    ("/big", "", OracleCode.ResponseTooLarge),
    ("/forbidden", "", OracleCode.Forbidden),
    # URLs refused before any request (not on the test server):
    ("ftp://127.0.0.1/x", None, OracleCode.ProtocolNotSupported),
    ("not a url", None, OracleCode.ProtocolNotSupported),
    ("https://", None, OracleCode.Error),
    ("neofs:abc/def", None, OracleCode.Error),  # NeoFS off in neo-go's config
]


class OracleDevnet(N3Devnet):
    """The devnet with neo-go's oracle service on, unlocking the node's own wallet."""

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config["ApplicationConfiguration"]["Oracle"] = {
            "Enabled": True,
            "AllowPrivateHost": True,
            "AllowedContentTypes": ["application/json"],
            "RequestTimeout": "5s",
            "RefreshInterval": "1s",
            "UnlockWallet": config["ApplicationConfiguration"]["Consensus"]["UnlockWallet"],
        }
        return config


@pytest.fixture(scope="module")
def oracle_devnet(pki: OraclePKI) -> Iterator[OracleDevnet]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "ca.pem"
        ca.write_bytes(pki.ca_pem)
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(ca)  # inherited by neo-go: Go's x509 reads it for its roots
        try:
            chain = OracleDevnet(block_time_ms=BLOCK_TIME_MS)
            chain.start()
        finally:
            if previous is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = previous
        try:
            yield chain
        finally:
            if os.environ.get("NSL_KEEP_LOG"):
                for line in (chain.workdir / "neogo.log").read_text().splitlines():
                    if "racle" in line:
                        print(line[:400])
            chain.stop()


@pytest.fixture(scope="module")
def consumer_build() -> N3Build:
    return build_contracts(["native_oracle_consumer"], source_dir=Path(__file__).parent / "contracts")


async def _routes(server: LocalServer) -> None:
    async def data(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, DOCUMENT)

    async def text(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b"hello", content_type="text/plain")

    async def big(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'"' + b"x" * 70_000 + b'"')

    async def forbidden(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 403, b"{}")

    async def latin1(_: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'"caf\xe9"')

    server.routes.update(
        {"/data": data, "/text": text, "/big": big, "/forbidden": forbidden, "/latin1": latin1}
    )


class InProcessEnclave:
    """The enclave op's handler called in this process, with a real context and fetcher."""

    def __init__(self, ctx: EnclaveContext) -> None:
        self.ctx = ctx

    async def run(self, op: Any, args: N3OracleResponseArgs) -> N3OracleResponseResult:
        return await n3_oracle_response(self.ctx, args)


def _context(pki: OraclePKI) -> EnclaveContext:
    identity = Identity.generate()
    backend = SoftwareBackend()
    fetcher = SafeFetcher(FetchPolicy(allow_private_hosts=True), ssl_context=pki.client_context())
    report = build_report(identity, backend, compute_measurement("software"))
    return EnclaveContext(
        identity=identity, sealer=Sealer(os.urandom(32)), backend=backend, report=report, fetcher=fetcher
    )


async def _ask(
    chain: N3Devnet, user: Account, consumer: GenericContract, urls: list[tuple[str, str | None, str]]
) -> int:
    """Make the requests in one transaction; the block it is in."""
    calls = [
        consumer.call_function("ask", [url, flt, key])
        if flt is not None
        else consumer.call_function("ask_unfiltered", [url, key])
        for url, flt, key in urls
    ]
    receipt = await facade_for(chain.rpc_url, user).invoke_multi(calls)
    assert str(receipt.state) == "HALT", receipt.exception
    return int(receipt.included_in_block)


def _answered(
    chain: N3Devnet, user: Account, consumer: GenericContract, key: str
) -> tuple[int, bytes] | None:
    reply = test_invoke(chain.rpc_url, consumer.call_function("answered", [key]), user)
    code, result = reply.stack[0]["value"]
    value = stack_int(code)
    return None if value == -1 else (value, stack_bytes(result))


async def _wait_answers(
    chain: N3Devnet, user: Account, consumer: GenericContract, keys: list[str], node: NativeOracleNode | None
) -> dict[str, tuple[int, bytes]]:
    found: dict[str, tuple[int, bytes]] = {}
    deadline = time.monotonic() + 40
    while len(found) < len(keys) and time.monotonic() < deadline:
        if node is not None:
            await node.serve_pending()
        await asyncio.sleep(BLOCK_TIME_MS / 1000)
        for key in keys:
            if key not in found and (got := _answered(chain, user, consumer, key)) is not None:
                found[key] = got
    assert sorted(found) == sorted(keys), f"unanswered: {set(keys) - set(found)}"
    return found


async def _response_txs(rpc: N3Rpc, first_block: int) -> list[bytes]:
    """The raw oracle response transactions in blocks from ``first_block`` on."""
    raws = []
    for index in range(first_block, await rpc.block_count()):
        for tx in (await rpc.block(index))["tx"]:
            if any(attr["type"] == "OracleResponse" for attr in tx.get("attributes", [])):
                raw = await rpc.call("getrawtransaction", [tx["hash"], False])
                raws.append(base64.b64decode(raw))
    return raws


async def _wait_past(rpc: N3Rpc, block: int, blocks: int = 1) -> None:
    """Wait until ``blocks`` blocks after ``block`` are persisted."""
    for _ in range(100):
        if await rpc.block_count() > block + blocks:
            return
        await asyncio.sleep(BLOCK_TIME_MS / 1000)
    raise AssertionError(f"no block {block + blocks} in time")


async def _wait_designated(rpc: N3Rpc, block: int) -> None:
    await _wait_past(rpc, block)  # the designation applies from the block after ``block``


async def test_nsl_answers_native_requests_as_neo_go_does(
    oracle_devnet: OracleDevnet, consumer_build: N3Build, pki: OraclePKI, tmp_path: Path
) -> None:
    chain = oracle_devnet
    user = Account.create_new()
    await chain.fund({user.script_hash: 100 * GAS_FACTOR})
    artifact = consumer_build["native_oracle_consumer"]
    receipt = await facade_for(chain.rpc_url, user).invoke_multi([deploy_call(artifact)])
    assert str(receipt.state) == "HALT", receipt.exception
    consumer = GenericContract(predicted_hash(user.script_hash, artifact))
    server = await LocalServer(pki.server_context(str(tmp_path))).start()
    await _routes(server)
    ctx = _context(pki)
    try:
        async with N3Rpc(chain.rpc_url) as rpc:
            # 1. neo-go's own oracle service, with the node's key designated.
            block = await designate_oracle_nodes(chain.rpc_url, chain.committee, [chain.validator_public_key])
            await _wait_designated(rpc, block)
            start = await rpc.block_count()
            neogo = [(_url(server, path), flt, f"neogo{i}") for i, (path, flt, _) in enumerate(CASES)]
            neogo_height = await _ask(chain, user, consumer, neogo)
            by_neogo = await _wait_answers(chain, user, consumer, [key for *_, key in neogo], None)
            neogo_txs = await _response_txs(rpc, start)

            # 2. NSL, with the enclave's oracle key designated instead.
            nsl_key = n3_oracle_public_key(ctx.identity)
            block = await designate_oracle_nodes(chain.rpc_url, chain.committee, [nsl_key])
            await _wait_designated(rpc, block)
            nsl = [(_url(server, path), flt, f"nsl{i}") for i, (path, flt, _) in enumerate(CASES)]
            start = await rpc.block_count()
            nsl_height = await _ask(chain, user, consumer, nsl)
            # Blocks past the requests' before NSL looks: its ValidUntilBlock must come from the request
            # transaction's own height, not from the height NSL happens to see.
            await _wait_past(rpc, nsl_height, blocks=2)
            node = NativeOracleNode(rpc, InProcessEnclave(ctx))
            by_nsl = await _wait_answers(chain, user, consumer, [key for *_, key in nsl], node)
            nsl_txs = await _response_txs(rpc, start)

            # The callbacks got the same arguments, with the codes each case is about.
            for i, (_, flt, expected) in enumerate(CASES):
                assert by_nsl[f"nsl{i}"] == by_neogo[f"neogo{i}"], (i, flt)
                assert by_nsl[f"nsl{i}"][0] == expected, (i, flt)
            assert by_nsl["nsl0"][1] == b"[123.45]"
            assert by_nsl["nsl1"][1] == b"[" + DOCUMENT + b"]"  # "" selects the root, in an array
            assert by_nsl["nsl2"][1] == DOCUMENT  # null: no filter at all

            # neo-go's response transactions are exactly what NSL's builder makes from their inputs.
            pico, per_byte = await fee_settings(rpc)
            fees = n3_oracle_tx.FeeParams(pico, per_byte)
            assert len(neogo_txs) == len(CASES)
            for raw in neogo_txs:
                request_id = int.from_bytes(raw[1:5], "little")  # nonce = uint32(id); ids are small here
                valid_until = _valid_until(raw)
                code, result = _attribute(raw)
                ours = n3_oracle_tx.build_response_tx(
                    request_id=request_id,
                    code=code,
                    result=result,
                    gas_for_response=GAS_FOR_RESPONSE,
                    valid_until_block=valid_until,
                    oracle_nodes=[chain.validator_public_key],
                    fees=fees,
                )
                assert raw[: len(ours.unsigned)] == ours.unsigned
                assert raw.endswith(ours.verification_script)
                assert len(raw) == len(n3_oracle_tx.signed_transaction(ours, [b"\x00" * 64]))
            # ValidUntilBlock: the request's height + MaxValidUntilBlockIncrement, in both (request.go).
            increment = int((await rpc.call("getversion", []))["protocol"]["maxvaliduntilblockincrement"])
            # neo-go races itself here: a request processed while its transaction still sits in the
            # mempool view gets height MaxUint32 from Blockchain.GetTransaction, and the uint32 sum wraps
            # to increment - 1 (still valid). NSL reads persisted requests only: always the height.
            wrapped = (2**32 - 1 + increment) % 2**32
            got = [(_attribute(raw)[0].name, _valid_until(raw)) for raw in neogo_txs]
            assert {vub for _, vub in got} <= {neogo_height + increment, wrapped}, (neogo_height, got)
            got = [(_attribute(raw)[0].name, _valid_until(raw)) for raw in nsl_txs]
            assert {vub for _, vub in got} == {nsl_height + increment}, (nsl_height, increment, got)
            assert len(nsl_txs) == len(CASES)
    finally:
        await server.stop()
        await ctx.fetcher.aclose()  # type: ignore[attr-defined]


async def test_the_worker_job_answers_through_the_enclave_server(
    oracle_devnet: OracleDevnet, consumer_build: N3Build, pki: OraclePKI, tmp_path: Path, enclave_socket: Path
) -> None:
    """``chains.n3.native_oracle`` as the worker runs it: the real enclave server over its socket."""
    chain = oracle_devnet
    user = Account.create_new()
    await chain.fund({user.script_hash: 100 * GAS_FACTOR})
    artifact = consumer_build["native_oracle_consumer"]
    receipt = await facade_for(chain.rpc_url, user).invoke_multi([deploy_call(artifact)])
    assert str(receipt.state) == "HALT", receipt.exception
    consumer = GenericContract(predicted_hash(user.script_hash, artifact))
    server = await LocalServer(pki.server_context(str(tmp_path))).start()
    await _routes(server)
    ctx = _context(pki)
    enclave = EnclaveServer(ctx, default_registry(), enclave_socket, stop_grace_seconds=2.0)
    await enclave.start()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # the job touches no table
    settings = Settings(
        data_dir=tmp_path / "data",
        enclave={"socket": enclave_socket},
        n3={"rpc_url": chain.rpc_url, "native_oracle": True},
    )
    assert N3_NATIVE_ORACLE_KIND in {task.kind for task in service_tasks(settings)}  # the worker schedules it
    handler = service_handlers(settings)[N3_NATIVE_ORACLE_KIND]
    try:
        async with N3Rpc(chain.rpc_url) as rpc:
            # Another node designated: the request is pending, the enclave refuses, nothing is sent.
            other = n3_oracle_public_key(Identity.generate())
            await _wait_designated(rpc, await designate_oracle_nodes(chain.rpc_url, chain.committee, [other]))
            await _ask(chain, user, consumer, [(server.url("/data"), "$.sym", "job")])
            refused = await handler(job_context(db, settings, N3_NATIVE_ORACLE_KIND, {}))
            assert refused is not None
            assert [(a["code"], a["sent"], a["error"]) for a in refused["answered"]] == [
                (None, False, "invalid_args")
            ]
            assert server.requests == []  # the enclave refused before fetching
            block = await designate_oracle_nodes(
                chain.rpc_url, chain.committee, [n3_oracle_public_key(ctx.identity)]
            )
            await _wait_designated(rpc, block)
            runs = []
            for _ in range(50):
                run = await handler(job_context(db, settings, N3_NATIVE_ORACLE_KIND, {}))
                assert run is not None
                runs.append(run)
                if (answer := _answered(chain, user, consumer, "job")) is not None:
                    break
                await asyncio.sleep(BLOCK_TIME_MS / 1000)
            assert answer == (OracleCode.Success, b'["NEO"]')
            sent = [item for run in runs for item in run["answered"]]
            assert [(item["code"], item["sent"]) for item in sent] == [("Success", True)]  # answered once
    finally:
        await enclave.stop()
        await server.stop()
        await db.dispose()
        await ctx.fetcher.aclose()  # type: ignore[attr-defined]


async def test_with_two_nodes_neo_go_assembles_nsls_signature_with_its_own(
    oracle_devnet: OracleDevnet, consumer_build: N3Build, pki: OraclePKI, tmp_path: Path
) -> None:
    """neo-go's node key and the enclave's both designated (2-of-2): NSL hands its signature to neo-go's
    ``submitoracleresponse``; neo-go, holding both, broadcasts — so NSL built the very same transaction."""
    chain = oracle_devnet
    user = Account.create_new()
    await chain.fund({user.script_hash: 100 * GAS_FACTOR})
    artifact = consumer_build["native_oracle_consumer"]
    receipt = await facade_for(chain.rpc_url, user).invoke_multi([deploy_call(artifact)])
    assert str(receipt.state) == "HALT", receipt.exception
    consumer = GenericContract(predicted_hash(user.script_hash, artifact))
    server = await LocalServer(pki.server_context(str(tmp_path))).start()
    await _routes(server)
    ctx = _context(pki)
    try:
        async with N3Rpc(chain.rpc_url) as rpc:
            nodes = [chain.validator_public_key, n3_oracle_public_key(ctx.identity)]
            await _wait_designated(rpc, await designate_oracle_nodes(chain.rpc_url, chain.committee, nodes))
            start = await rpc.block_count()
            asks = [(server.url("/data"), "$.sym", "two0"), (server.url("/missing"), None, "two1")]
            await _ask(chain, user, consumer, asks)
            node = NativeOracleNode(rpc, InProcessEnclave(ctx), peers=[chain.rpc_url])
            answers = await _wait_answers(chain, user, consumer, ["two0", "two1"], node)
            assert answers == {"two0": (OracleCode.Success, b'["NEO"]'), "two1": (OracleCode.NotFound, b"")}
            txs = await _response_txs(rpc, start)
            assert len(txs) == 2
            two_of_two = n3_oracle_tx.oracle_nodes_script(nodes)
            nsl_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), nodes[1])
            for raw in txs:
                # The last witness: varint 132, PUSHDATA1 64 <sig> twice (m = 2), the 2-of-2 script.
                witness = raw[-(len(two_of_two) + 1 + 133) :]
                assert witness[0] == 132
                assert witness[133:] == bytes([len(two_of_two)]) + two_of_two
                signatures = [witness[1:67], witness[67:133]]
                assert all(sig[:2] == b"\x0c\x40" for sig in signatures)
                unsigned = raw[: -(len(two_of_two) + 1 + 133 + 3)]  # witness count + empty witness
                signed_data = chain.magic.to_bytes(4, "little") + hashlib.sha256(unsigned).digest()
                assert sum(_verifies(nsl_public, sig[2:], signed_data) for sig in signatures) == 1
    finally:
        await server.stop()
        await ctx.fetcher.aclose()  # type: ignore[attr-defined]


async def test_a_fresh_node_skips_a_request_whose_response_waits_in_the_mempool(
    n3_devnet_at_default_pace: N3Devnet, consumer_build: N3Build, pki: OraclePKI, tmp_path: Path
) -> None:
    """On a 1 s chain, between the broadcast and the next block: a second node instance (a later worker
    run) finds the response in the mempool and neither fetches nor sends again."""
    chain = n3_devnet_at_default_pace
    user = chain.committee  # one block saved on a 1 s chain: no funding
    artifact = consumer_build["native_oracle_consumer"]
    server = await LocalServer(pki.server_context(str(tmp_path))).start()
    await _routes(server)
    ctx = _context(pki)
    try:
        async with N3Rpc(chain.rpc_url) as rpc:
            key = n3_oracle_public_key(ctx.identity)
            deployed, block = await asyncio.gather(
                facade_for(chain.rpc_url, user).invoke_multi([deploy_call(artifact)]),
                designate_oracle_nodes(chain.rpc_url, chain.committee, [key]),
            )
            assert str(deployed.state) == "HALT", deployed.exception
            consumer = GenericContract(predicted_hash(user.script_hash, artifact))
            await _wait_designated(rpc, block)
            await _ask(chain, user, consumer, [(server.url("/data"), "$.price", "pool")])
            first = await NativeOracleNode(rpc, InProcessEnclave(ctx)).serve_pending()
            assert [(item.request.id, item.sent) for item in first] == [(first[0].request.id, True)]
            assert await NativeOracleNode(rpc, InProcessEnclave(ctx)).serve_pending() == []
            assert len(server.requests) == 1
            answers = await _wait_answers(chain, user, consumer, ["pool"], None)
            assert answers == {"pool": (OracleCode.Success, b"[123.45]")}
    finally:
        await server.stop()
        await ctx.fetcher.aclose()  # type: ignore[attr-defined]


def _verifies(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _url(server: LocalServer, path: str) -> str:
    return server.url(path) if path.startswith("/") else path


def _valid_until(raw: bytes) -> int:
    return int.from_bytes(raw[21:25], "little")  # after version, nonce, system fee, network fee


def _attribute(raw: bytes) -> tuple[OracleCode, bytes]:
    """The OracleResponse attribute's code and result (the tx layout of ``n3_oracle_tx._unsigned``)."""
    at = 25 + 1 + 2 * 21 + 1  # header, signer count, two signers, attribute count
    assert raw[at] == n3_oracle_tx.ORACLE_RESPONSE_ATTRIBUTE
    code = OracleCode(raw[at + 9])
    length = raw[at + 10]
    if length == 0xFD:
        size = int.from_bytes(raw[at + 11 : at + 13], "little")
        return code, raw[at + 13 : at + 13 + size]
    return code, raw[at + 11 : at + 11 + length]
