"""``chains.evm_function_fulfilment`` / ``chains.n3_function_fulfilment`` through the real in-process
enclave, without a chain: a real sandbox pool, the real safe fetcher (trusting the test CA) and a real
local HTTPS server, secrets written through the enclave's own ops.

Every answer's signature is checked the way the gateways check it: rebuilt here from the request
(``evm_gateway.fulfilment_preimage`` as NSLGateway ``_digest`` builds it, ``n3_gateway.fulfilment_message``
as nsl_gateway ``message_of`` builds it) with the hash of the payload the contract sent, VRF key version
0 and a zero key hash. The attacks are those of a compromised host: it resolves the function, picks its
source, lists its consumers and hands in the payload — and each lie is caught or lands in the signed
answer where the gateway or the consumer sees it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import evm_gateway, n3_gateway
from neo_service_layer.enclave.functions import onchain
from neo_service_layer.enclave.functions.limits import RunLimits
from neo_service_layer.enclave.functions.onchain import FunctionCode
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.opdefs.functions_chains import (
    EVM_FUNCTION_FULFILMENT,
    N3_FUNCTION_FULFILMENT,
    ChainFunction,
    EvmFunctionFulfilmentArgs,
    EvmFunctionFulfilmentResult,
    N3FunctionFulfilmentArgs,
    N3FunctionFulfilmentResult,
)
from neo_service_layer.enclave.opdefs.secrets import StoredVersion
from neo_service_layer.enclave.ops import execute
from neo_service_layer.enclave.protocol import CapabilityUnavailable, InvalidArgs
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.signing import evm_address, k1_recover, p256_verify
from neo_service_layer.enclave.tee.software import SoftwareBackend
from tests.enclave.functions.enclave_fixtures import enclave_fetcher, enclave_sandbox
from tests.enclave.functions.stored_secrets import stored_secret
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond
from tests.leaks import assert_never_in, encodings

ACCOUNT = "acct_fnchain"
FUNCTION_ID = "fn_chain1"
RUN_ID = "run_chain1"
VALUE = "sk-live-5e4d3c2b1a09f8e7d6c5"
CHAIN_ID = 31337
MAGIC = 56753
GATEWAY_EVM = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GATEWAY_N3 = "0x" + "12" * 20
CONSUMER_EVM = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CONSUMER_N3 = "0x" + "34" * 20
REQUEST_EVM = bytes.fromhex("ab" * 32)
REQUEST_N3 = 7
ADD = "return {sum: args.a + args.b}"
SMALL = {"timeout_ms": 300, "memory_mb": 16}
ROGUE = Path(__file__).parent / "functions" / "rogue_worker.py"

__all__ = ["enclave_fetcher", "enclave_sandbox"]  # the shared fixtures this module uses


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


@dataclass(frozen=True)
class Chain:
    """One gateway's side of the test: its payload encoding, the op's call, its result decoding and the
    gateway's own signature check (rebuilt here, independently of the enclave's signing module)."""

    name: str
    consumer_key: str
    encode: Callable[[str, bytes | None, str], bytes]
    decode: Callable[[bytes], tuple[FunctionCode, bytes, bytes]]
    call: Callable[
        [UnixEnclaveClient, bytes, ChainFunction | None],
        Any,  # a coroutine of the chain's result model
    ]
    signed_by_enclave: Callable[[Any, bytes, str], bool]


async def _evm_call(
    enclave: UnixEnclaveClient, payload: bytes, function: ChainFunction | None
) -> EvmFunctionFulfilmentResult:
    args = EvmFunctionFulfilmentArgs(
        chain_id=CHAIN_ID,
        gateway=GATEWAY_EVM,
        request_id=REQUEST_EVM,
        payload=payload,
        consumer=CONSUMER_EVM,
        run_id=RUN_ID,
        function=function,
    )
    return await enclave.run(EVM_FUNCTION_FULFILMENT, args)


def _evm_signed(answer: EvmFunctionFulfilmentResult, sent: bytes, signer: str) -> bool:
    """ecrecover of NSLGateway's digest for a request stored with keccak256 of the ``sent`` payload."""
    preimage = evm_gateway.fulfilment_preimage(
        CHAIN_ID,
        bytes.fromhex(GATEWAY_EVM[2:]),
        REQUEST_EVM,
        payload_hash=keccak(sent),
        vrf_key_version=0,
        vrf_key_hash=bytes(32),
        result=answer.result,
    )
    return evm_address(k1_recover(preimage, answer.signature)) == signer == answer.signer


async def _n3_call(
    enclave: UnixEnclaveClient, payload: bytes, function: ChainFunction | None
) -> N3FunctionFulfilmentResult:
    args = N3FunctionFulfilmentArgs(
        network_magic=MAGIC,
        gateway=GATEWAY_N3,
        request_id=REQUEST_N3,
        payload=payload,
        consumer=CONSUMER_N3,
        run_id=RUN_ID,
        function=function,
    )
    return await enclave.run(N3_FUNCTION_FULFILMENT, args)


def _n3_signed(answer: N3FunctionFulfilmentResult, sent: bytes, signer: str) -> bool:
    """CryptoLib.verifyWithECDsa of nsl_gateway's message for a request stored with SHA-256 of ``sent``."""
    message = n3_gateway.fulfilment_message(
        MAGIC,
        bytes.fromhex(GATEWAY_N3[2:])[::-1],
        REQUEST_N3,
        payload_hash=hashlib.sha256(sent).digest(),
        vrf_key_version=0,
        vrf_key_hash=bytes(32),
        result=answer.result,
    )
    return answer.signer.hex() == signer and p256_verify(answer.signer, message, answer.signature)


EVM = Chain(
    "evm",
    f"evm:{CHAIN_ID}:{CONSUMER_EVM.lower()}",
    onchain.encode_evm_payload,
    onchain.decode_evm_result,
    _evm_call,
    _evm_signed,
)
N3 = Chain(
    "n3",
    f"n3:{MAGIC}:{CONSUMER_N3}",
    onchain.encode_n3_payload,
    onchain.decode_n3_result,
    _n3_call,
    _n3_signed,
)
CHAINS = [pytest.param(EVM, id="evm"), pytest.param(N3, id="n3")]


def sha(source: str) -> bytes:
    return hashlib.sha256(source.encode()).digest()


def function(source: str, chain: Chain, **extra: Any) -> ChainFunction:
    """The function as an honest host resolves it: the chain's consumer allowed."""
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "function_id": FUNCTION_ID,
        "version": 2,
        "source": source,
        "consumers": [chain.consumer_key],
    }
    return ChainFunction.model_validate(fields | extra, strict=False)


async def signer_of(enclave: UnixEnclaveClient, chain: Chain) -> str:
    """The enclave identity key a gateway trusts: its address (EVM) or P-256 public key hex (N3)."""
    report = await enclave.attest()
    return report.identity.k1_address if chain is EVM else report.identity.p256


async def answer(
    enclave: UnixEnclaveClient,
    chain: Chain,
    fn: ChainFunction | None,
    args: str = "",
    *,
    pin: bytes | None = None,
) -> Any:
    """The answer to a request whose payload names ``FUNCTION_ID`` with ``args`` (pinned to ``pin``),
    checked: its signature verifies for that payload, and its result decodes to its fields."""
    payload = chain.encode(FUNCTION_ID, pin, args)
    got = await chain.call(enclave, payload, fn)
    assert chain.signed_by_enclave(got, payload, await signer_of(enclave, chain))
    source_hash = bytes.fromhex(got.source_sha256) if got.source_sha256 else bytes(32)
    assert chain.decode(got.result) == (FunctionCode[got.code], source_hash, got.data)
    return got


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_pinned_call_runs_and_its_answer_is_signed_for_the_gateway(
    enclave: UnixEnclaveClient, chain: Chain
) -> None:
    got = await answer(enclave, chain, function(ADD, chain), '{"b": 3, "a": 2}', pin=sha(ADD))
    assert (got.code, got.data, got.source_sha256) == ("Success", b'{"sum":5}', sha(ADD).hex())
    run = got.run
    assert run is not None
    assert (run.run_id, run.function_id, run.version, run.status) == (RUN_ID, FUNCTION_ID, 2, "succeeded")
    assert (run.source_sha256, run.result) == (sha(ADD).hex(), '{"sum":5}')
    assert run.args_sha256 == hashlib.sha256(canonical_json({"a": 2, "b": 3})).hexdigest()


@pytest.mark.parametrize("chain", CHAINS)
async def test_an_unpinned_call_runs_the_version_the_host_gives_and_names_its_hash(
    enclave: UnixEnclaveClient, chain: Chain
) -> None:
    """A zero / empty hash trusts the host's choice of version; the result still says which code ran."""
    got = await answer(enclave, chain, function("return args", chain))
    assert (got.code, got.data, got.source_sha256) == ("Success", b"null", sha("return args").hex())


def _secret_fn(chain: Chain, stored: StoredVersion, source: str) -> ChainFunction:
    return function(source, chain, secrets=[stored.model_dump(mode="json")])


CODES = [
    pytest.param(ADD, {}, '{"a":1,"b":2}', "Success", b'{"sum":3}', True, id="Success"),
    pytest.param("throw new TypeError('nope')", {}, "", "Failed", b"TypeError: nope", True, id="Failed"),
    pytest.param(
        "while (true) {}",
        {"limits": SMALL},
        "",
        "TimedOut",
        b"TimedOut: the run took longer than its timeout_ms",
        True,
        id="TimedOut",
    ),
    pytest.param(
        "const a = []; while (true) a.push('x'.repeat(1 << 16));",
        {"limits": SMALL},
        "",
        "MemoryExceeded",
        b"MemoryExceeded: the run used more than its memory_mb",
        True,
        id="MemoryExceeded",
    ),
    pytest.param(
        "return 'x'.repeat(5000)",
        {"limits": {"max_output_bytes": 1000}},
        "",
        "OutputTooLarge",
        b"OutputTooLarge: the result is over the function's max_output_bytes",
        True,
        id="OutputTooLarge",
    ),
    pytest.param("return 'x'.repeat(1023)", {}, "", "ResultTooLarge", b"", True, id="ResultTooLarge"),
    pytest.param(
        ADD,
        {"consumers": []},
        "",
        "ConsumerNotAllowed",
        b"ConsumerNotAllowed: ",
        False,
        id="ConsumerNotAllowed",
    ),
    pytest.param(
        ADD, {}, '{"a": 0.5}', "ArgsInvalid", b"ArgsInvalid: args have no canonical", False, id="float"
    ),
    pytest.param(
        ADD, {"function_id": "fn_other"}, "", "FunctionNotFound", b"FunctionNotFound: ", False, id="other-id"
    ),
    pytest.param(ADD, {}, "{a: 1}", "ArgsInvalid", b"ArgsInvalid: args are not JSON", False, id="not-json"),
    pytest.param(
        ADD,
        {"args_valid": False},
        '{"a": 1}',
        "ArgsInvalid",
        b"ArgsInvalid: the args do not match the function's args schema",
        False,
        id="schema-refused",
    ),
]


@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize(("source", "extra", "args", "code", "data", "ran"), CODES)
async def test_each_code_is_reachable(
    enclave: UnixEnclaveClient,
    chain: Chain,
    source: str,
    extra: dict[str, Any],
    args: str,
    code: str,
    data: bytes | None,
    ran: bool,
) -> None:
    got = await answer(enclave, chain, function(source, chain, **extra), args)
    assert got.code == code
    if data is not None:
        assert got.data.startswith(data)
    if ran:  # what ran is named, and its record comes back for the host to store
        assert got.source_sha256 == sha(source).hex()
        assert got.run is not None
        assert got.run.run_id == RUN_ID
    else:
        assert (got.source_sha256, got.run) == (None, None)
    # The enclave keeps serving whatever the last run did.
    again = await answer(enclave, chain, function(ADD, chain), '{"a":1,"b":1}')
    assert (again.code, again.data) == ("Success", b'{"sum":2}')


def test_the_tests_reach_every_code() -> None:
    """CODES, plus the payload, pin and crash tests below: no code a contract may get goes untested."""
    tabled = {param.values[3] for param in CODES}
    assert tabled | {"PayloadInvalid", "SourceMismatch", "Crashed"} == {code.name for code in FunctionCode}


@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff" * 40, id="garbage"),
        pytest.param(b'["fn_1","","",""]', id="four-items"),
    ],
)
async def test_a_payload_that_is_not_a_call_is_answered_payload_invalid(
    enclave: UnixEnclaveClient, chain: Chain, payload: bytes
) -> None:
    got = await chain.call(enclave, payload, function(ADD, chain))
    assert chain.signed_by_enclave(got, payload, await signer_of(enclave, chain))
    assert (got.code, got.source_sha256, got.run) == ("PayloadInvalid", None, None)
    assert got.data.startswith(b"PayloadInvalid: ")
    assert chain.decode(got.result) == (FunctionCode.PayloadInvalid, bytes(32), got.data)


def _fetching(web: LocalServer, then: str = "return 1") -> str:
    """A source whose run would be seen: it fetches the local server first."""
    return f"await fetch({json.dumps(web.url('/price'))}); {then}"


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_host_that_substitutes_the_source_under_a_pinned_hash_gets_nothing_run(
    enclave: UnixEnclaveClient, chain: Chain, web: LocalServer
) -> None:
    """The consumer pinned ADD; the host hands in other code (that would fetch): SourceMismatch, signed,
    with a zero hash, no run, and the code never ran (the server saw nothing)."""
    other = function(_fetching(web), chain, allowed_domains=["127.0.0.1"])
    got = await answer(enclave, chain, other, '{"a":1,"b":2}', pin=sha(ADD))
    assert (got.code, got.source_sha256, got.run) == ("SourceMismatch", None, None)
    assert got.data == b"SourceMismatch: the function's source does not have the requested hash"
    assert web.requests == []
    # The same code, honestly pinned, does run: the server sees its fetch.
    ran = await answer(enclave, chain, other, pin=sha(_fetching(web)))
    assert ran.code == "Success"
    assert len(web.requests) == 1


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_host_that_names_another_function_gets_nothing_run(
    enclave: UnixEnclaveClient, chain: Chain, web: LocalServer
) -> None:
    other = function(_fetching(web), chain, function_id="fn_other", allowed_domains=["127.0.0.1"])
    got = await answer(enclave, chain, other)
    assert (got.code, got.source_sha256, got.run) == ("FunctionNotFound", None, None)
    missing = await answer(enclave, chain, None)
    assert (missing.code, missing.data) == (
        "FunctionNotFound",
        b"FunctionNotFound: no live function of this id",
    )
    assert web.requests == []


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_consumer_not_on_the_owners_list_gets_nothing_run(
    enclave: UnixEnclaveClient, chain: Chain, web: LocalServer
) -> None:
    """The owner allowed the same contract address on another chain, and another contract here: neither is
    the requester, so nothing runs."""
    _, _, contract = chain.consumer_key.split(":")
    elsewhere = f"evm:1:{contract}" if chain is EVM else f"n3:860833102:{contract}"
    other_contract = chain.consumer_key[: -len(contract)] + "0x" + "99" * 20
    fn = function(_fetching(web), chain, consumers=[elsewhere, other_contract], allowed_domains=["127.0.0.1"])
    got = await answer(enclave, chain, fn)
    assert (got.code, got.source_sha256, got.run) == ("ConsumerNotAllowed", None, None)
    assert web.requests == []


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_host_that_hands_in_another_payload_gets_a_signature_the_gateway_refuses(
    enclave: UnixEnclaveClient, chain: Chain
) -> None:
    """The contract asked for a=1; the host hands in a=1000. The enclave signs over the hash of what it
    was given, so the answer does not verify for the request the gateway stored."""
    fn = function(ADD, chain)
    sent = chain.encode(FUNCTION_ID, sha(ADD), '{"a":1,"b":1}')
    lied = chain.encode(FUNCTION_ID, sha(ADD), '{"a":1000,"b":1}')
    got = await chain.call(enclave, lied, fn)
    signer = await signer_of(enclave, chain)
    assert got.data == b'{"sum":1001}'
    assert chain.signed_by_enclave(got, lied, signer)
    assert not chain.signed_by_enclave(got, sent, signer)


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_secrets_value_never_reaches_the_chain(enclave: UnixEnclaveClient, chain: Chain) -> None:
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, [], 1)
    echoed = await answer(enclave, chain, _secret_fn(chain, stored, "return {k: secrets.API_KEY}"))
    assert echoed.code == "Failed"
    assert echoed.data == b"SecretEchoRefused: the result holds a granted secret's value: refused"
    thrown = await answer(
        enclave, chain, _secret_fn(chain, stored, "throw new Error('bad ' + secrets.API_KEY)")
    )
    assert (thrown.code, thrown.data) == ("Failed", b"Error: bad [redacted]")
    used = await answer(enclave, chain, _secret_fn(chain, stored, "return secrets.API_KEY.length"))
    assert (used.code, used.data) == ("Success", str(len(VALUE)).encode())
    artefacts = {
        name: got.model_dump_json().encode() + got.result + got.data
        for name, got in (("echoed", echoed), ("thrown", thrown), ("used", used))
    }
    assert_never_in("the secret", encodings(VALUE.encode()), artefacts)


@pytest.mark.parametrize("chain", CHAINS)
async def test_a_function_that_cannot_run_as_configured_is_answered_not_raised(
    enclave: UnixEnclaveClient, chain: Chain
) -> None:
    """A secret sealed for other hosts than the function's domains: Failed, nothing ran (the fulfiller
    must not retry a request that can never be served)."""
    stored = await stored_secret(enclave, ACCOUNT, "API_KEY", VALUE, ["api.oracle.test"], 1)
    fn = function(ADD, chain, allowed_domains=["127.0.0.1"], secrets=[stored.model_dump(mode="json")])
    got = await answer(enclave, chain, fn)
    assert (got.code, got.source_sha256, got.run) == ("Failed", None, None)
    # A fixed text: the chain is not told the owner's secret names or domains.
    assert got.data == b"Failed: the function cannot run as configured (its limits, domains or secrets)"


async def test_a_sandbox_process_that_dies_is_answered_crashed(
    identity: Identity, sealer: Sealer, measurement: str
) -> None:
    """A compromised sandbox process (``functions/rogue_worker.py``) that exits mid-run: Crashed, with
    the hash of the code that was running, and the pool replaces the process."""
    backend = SoftwareBackend()
    async with SandboxPool(1, maximums=RunLimits(), worker=ROGUE, grace_seconds=0.2) as pool:
        ctx = EnclaveContext(
            identity=identity,
            sealer=sealer,
            backend=backend,
            report=build_report(identity, backend, measurement),
            sandbox=pool,
        )
        spec = default_registry().get(N3_FUNCTION_FULFILMENT.name)
        assert spec is not None
        fn = function("exit", N3, limits=SMALL)
        raw = N3FunctionFulfilmentArgs(
            network_magic=MAGIC,
            gateway=GATEWAY_N3,
            request_id=REQUEST_N3,
            payload=onchain.encode_n3_payload(FUNCTION_ID, sha("exit"), ""),
            consumer=CONSUMER_N3,
            run_id=RUN_ID,
            function=fn,
        ).model_dump(mode="json")
        got = N3FunctionFulfilmentResult.model_validate(await execute(spec, ctx, raw), strict=False)
        assert (got.code, got.data) == ("Crashed", b"Crashed: the sandbox process died")
        assert onchain.decode_n3_result(got.result) == (FunctionCode.Crashed, sha("exit"), got.data)
        assert got.run is not None
        assert got.run.status == "crashed"
        await pool.replenished()
        assert pool.replaced == 1


def _raw_evm_args(fn: ChainFunction | None, **extra: Any) -> dict[str, Any]:
    args = EvmFunctionFulfilmentArgs(
        chain_id=CHAIN_ID,
        gateway=GATEWAY_EVM,
        request_id=REQUEST_EVM,
        payload=onchain.encode_evm_payload(FUNCTION_ID, None, ""),
        consumer=CONSUMER_EVM,
        run_id=RUN_ID,
        function=fn,
    )
    return args.model_dump(mode="json") | extra


async def test_only_a_broken_op_raises(ctx: EnclaveContext) -> None:
    """Malformed op args (the host's bug, not the request's) raise; so does an enclave without a sandbox
    asked to run. A request that runs nothing is answered even there."""
    spec = default_registry().get(EVM_FUNCTION_FULFILMENT.name)
    assert spec is not None
    fn = function(ADD, EVM)
    for broken in ({"gateway": "0x12"}, {"run_id": "run 1"}, {"consumer": "alice"}):
        with pytest.raises(InvalidArgs):
            await execute(spec, ctx, _raw_evm_args(fn, **broken))
    with pytest.raises(CapabilityUnavailable, match="no sandbox"):
        await execute(spec, ctx, _raw_evm_args(fn))
    answered = await execute(spec, ctx, _raw_evm_args(None))
    assert answered["code"] == "FunctionNotFound"


@pytest.mark.parametrize(
    ("chain", "contract"),
    [
        pytest.param("evm:31337", CONSUMER_EVM, id="evm"),
        pytest.param(f"evm:{2**53 - 1}", "0x" + "AB" * 20, id="evm-largest-chain-id"),
        pytest.param("n3:0", "0x" + "cd" * 20, id="n3-magic-0"),
        pytest.param("n3:4294967295", "ef" * 20, id="n3-largest-magic"),
    ],
)
def test_a_function_takes_every_key_consumer_key_writes(chain: str, contract: str) -> None:
    key = onchain.consumer_key(chain, contract)
    assert function(ADD, EVM, consumers=[key]).consumers == [key]


@pytest.mark.parametrize(
    "consumers",
    [
        pytest.param([f"evm:{CHAIN_ID}:{CONSUMER_EVM}"], id="not-lower-case"),
        pytest.param([f"evm:{CHAIN_ID}:{CONSUMER_EVM[2:].lower()}"], id="no-0x"),
        pytest.param(["evm:031337:0x" + "ab" * 20], id="leading-zero"),
        pytest.param(["sol:1:0x" + "ab" * 20], id="unknown-chain"),
        pytest.param([f"evm:{2**53}:0x" + "ab" * 20], id="chain-id-too-large"),
        pytest.param([f"n3:{2**32}:0x" + "ab" * 20], id="magic-too-large"),
        pytest.param([f"evm:1:0x{i:040x}" for i in range(65)], id="over-64"),
    ],
)
def test_a_function_refuses_consumer_keys_not_normalised(consumers: list[str]) -> None:
    with pytest.raises(ValueError, match="consumers"):
        function(ADD, EVM, consumers=consumers)
