"""NSL as a Neo N3 native oracle node: find the OracleContract's pending requests, have the enclave answer
them, broadcast the response transactions (docs/oracle.md §9, docs/chains-neo-n3.md).

A request made with ``OracleContract.request(url, filter, callback, userData, gasForResponse)`` is
stored by the native contract under ``0x07 ‖ id (u64 BE)`` until a response transaction for it is
persisted (neo-go ``pkg/core/native/oracle.go`` ``PutRequestInternal`` / ``PostPersist``), and
announced with an ``OracleRequest(Id, RequestContract, Url, Filter)`` notification. The node here
reads the pending set the way neo-go's oracle service does when it starts (``GetRequests``: a seek
over that prefix, here the ``findstorage`` RPC), so a request is never lost to a missed notification
or a restart, and a request answered by someone else simply leaves the set.

For each pending request it asks the chain what the response transaction depends on — the designated
oracle nodes (RoleManagement ``getDesignatedByRole(8, height + 1)``), the fee settings (Policy
``getExecPicoFeeFactor``, ``getFeePerByte``) and the request transaction's height (ValidUntilBlock =
that height + MaxValidUntilBlockIncrement, as neo-go's ``processRequest``) — and passes them with the
request to the enclave op ``chains.n3_oracle_response``, which fetches, filters, builds and signs.
With one designated node (the enclave's key) the transaction it returns is complete and is broadcast;
with several, this node's signature goes to the other nodes' ``submitoracleresponse`` RPC (``peers``),
and a node that gathers enough signatures broadcasts (neo-go nodes do; NSL does not collect others').
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from neo3 import vm
from neo3.contracts import contract
from neo3.core import types
from pydantic import ValidationError

from neo_service_layer.chains.neo_n3.errors import N3RpcUnavailable
from neo_service_layer.chains.neo_n3.rpc import N3Rpc, N3RpcError
from neo_service_layer.enclave.opdefs.n3_oracle import (
    N3_ORACLE_RESPONSE,
    N3OracleResponseArgs,
    N3OracleResponseResult,
)
from neo_service_layer.enclave.protocol import EnclaveError
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.logging import get_logger

log = get_logger("chains.n3.native_oracle")

ORACLE_CONTRACT: Final = "0xfe924b7cfe89ddd271abaf7210a80a7e11178758"
ORACLE_ROLE: Final = 8  # noderoles.Oracle
REQUEST_PREFIX: Final = b"\x07"  # native/oracle.go prefixRequest
#: With several nodes, a request's signatures go to the peers in its first blocks, then every 10 blocks
#: while it is pending (a worker run has no memory of earlier runs).
FRESH_BLOCKS: Final = 2
RESUBMIT_EVERY_BLOCKS: Final = 10
#: The pending requests listed per ``findstorage`` page (neo-go's default MaxFindStoragePageSize is 50).
_PAGE: Final = 50


class OracleEnclave(Protocol):
    """The enclave op this node needs (``EnclaveClient.run`` satisfies it)."""

    async def run(self, op: Any, args: N3OracleResponseArgs) -> N3OracleResponseResult: ...


@dataclass(frozen=True, slots=True)
class NativeOracleRequest:
    """A pending request as the OracleContract stores it (neo-go ``state.OracleRequest``)."""

    id: int
    original_tx: str  #: 0x + big-endian hex (display form)
    gas_for_response: int
    url: str
    filter: str | None
    callback_contract: str  #: 0x + big-endian hex
    callback_method: str
    user_data: bytes  #: the stack item, binary-serialized


class MalformedRequest(ValueError):
    """A storage value that is not a serialized ``OracleRequest``."""


def decode_request(request_id: int, value: bytes) -> NativeOracleRequest:
    """Parse the binary stack item ``state.OracleRequest.ToStackItem`` stores (an Array of 7)."""
    reader = _ItemReader(value)
    item = reader.item()
    if not isinstance(item, list) or len(item) < 7 or reader.remaining():
        raise MalformedRequest("not an array of 7 items")
    tx, gas, url, flt, callback, method, user_data = item[:7]
    if not (
        isinstance(tx, bytes)
        and len(tx) == 32
        and isinstance(gas, int)
        and gas >= 0
        and isinstance(url, bytes)
    ):
        raise MalformedRequest("bad request fields")
    if not (flt is None or isinstance(flt, bytes)) or not isinstance(callback, bytes) or len(callback) != 20:
        raise MalformedRequest("bad filter or callback contract")
    if not isinstance(method, bytes) or not isinstance(user_data, bytes):
        raise MalformedRequest("bad callback method or user data")
    try:
        return NativeOracleRequest(
            id=request_id,
            # Stored as UInt256/UInt160.to_array() (neo-go BytesBE, the hash's own byte order); the
            # display form that RPC calls take (gettransactionheight) is that reversed.
            original_tx="0x" + tx[::-1].hex(),
            gas_for_response=gas,
            url=url.decode(),
            filter=None if flt is None else flt.decode(),
            callback_contract="0x" + callback[::-1].hex(),
            callback_method=method.decode(),
            user_data=user_data,
        )
    except UnicodeDecodeError as e:
        raise MalformedRequest("a string field is not UTF-8") from e


class _ItemReader:
    """The subset of NeoVM's binary stack-item format (``stackitem.Serialize``) a request uses."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def remaining(self) -> int:
        return len(self._data) - self._at

    def _take(self, n: int) -> bytes:
        if self._at + n > len(self._data):
            raise MalformedRequest("truncated stack item")
        chunk = self._data[self._at : self._at + n]
        self._at += n
        return chunk

    def _var_int(self) -> int:
        first = self._take(1)[0]
        width = {0xFD: 2, 0xFE: 4, 0xFF: 8}.get(first)
        return first if width is None else int.from_bytes(self._take(width), "little")

    def item(self) -> Any:
        kind = self._take(1)[0]
        if kind == 0x00:  # Any (null)
            return None
        if kind == 0x20:  # Boolean
            return self._take(1) != b"\x00"
        if kind == 0x21:  # Integer: little-endian two's complement
            return int.from_bytes(self._take(self._var_int()), "little", signed=True)
        if kind in (0x28, 0x30):  # ByteString, Buffer
            return self._take(self._var_int())
        if kind in (0x40, 0x41):  # Array, Struct
            return [self.item() for _ in range(self._var_int())]
        raise MalformedRequest(f"unexpected stack item type 0x{kind:02x}")


async def pending_requests(rpc: N3Rpc) -> list[NativeOracleRequest]:
    """Every request the OracleContract holds (not yet answered), in id order."""
    found: list[NativeOracleRequest] = []
    start = 0
    prefix = base64.b64encode(REQUEST_PREFIX).decode()
    while True:
        page = await rpc.call("findstorage", [ORACLE_CONTRACT, prefix, start])
        for pair in page.get("results", []):
            key = base64.b64decode(pair["key"])
            if len(key) != 9:
                continue
            request_id = int.from_bytes(key[1:], "big")
            try:
                found.append(decode_request(request_id, base64.b64decode(pair["value"])))
            except MalformedRequest as e:
                log.warning("native oracle request unreadable", request_id=request_id, error=str(e))
        if not page.get("truncated"):
            return found
        start += len(page.get("results", [])) or _PAGE


async def _invoke(rpc: N3Rpc, script: bytes) -> list[dict[str, Any]]:
    reply = await rpc.invoke_script(script, [])
    if reply.get("state") != "HALT":
        raise N3RpcUnavailable(f"read-only call faulted: {reply.get('exception')}")
    return list(reply["stack"])


def _call(hash_: types.UInt160, method: str, args: Sequence[Any] = ()) -> bytes:
    builder = vm.ScriptBuilder()  # type: ignore[no-untyped-call]
    if args:
        builder.emit_contract_call_with_args(hash_, method, list(args))
    else:
        builder.emit_contract_call(hash_, method)
    return bytes(builder.to_array())


async def designated_oracle_nodes(rpc: N3Rpc, height: int) -> list[bytes]:
    """RoleManagement ``getDesignatedByRole(Oracle, height)``: the keys valid at block ``height``."""
    stack = await _invoke(
        rpc, _call(contract.CONTRACT_HASHES.ROLE_MANAGEMENT, "getDesignatedByRole", [ORACLE_ROLE, height])
    )
    return [base64.b64decode(item["value"]) for item in stack[0]["value"]]


async def fee_settings(rpc: N3Rpc) -> tuple[int, int]:
    """``(exec fee factor in picoGAS, fee per byte)`` from the PolicyContract."""
    policy = contract.CONTRACT_HASHES.POLICY
    builder = vm.ScriptBuilder()  # type: ignore[no-untyped-call]
    builder.emit_contract_call(policy, "getExecPicoFeeFactor")
    builder.emit_contract_call(policy, "getFeePerByte")
    stack = await _invoke(rpc, bytes(builder.to_array()))
    return int(stack[0]["value"]), int(stack[1]["value"])


async def responses_in_mempool(rpc: N3Rpc) -> set[int]:
    """The request ids that a response transaction waiting in the node's mempool answers."""
    ids: set[int] = set()
    for tx_hash in await rpc.call("getrawmempool", []):
        try:
            tx = await rpc.call("getrawtransaction", [tx_hash, True])
        except N3RpcError:
            continue  # persisted (or dropped) since the mempool was listed
        for attribute in tx.get("attributes", []):
            if attribute.get("type") == "OracleResponse":
                ids.add(int(attribute["id"]))
    return ids


def _error_code(error: Exception) -> str:
    """The enclave's protocol code (``invalid_args``, ...), whether it came over the socket or not."""
    if isinstance(error, EnclaveRejected):
        return error.enclave_code
    if isinstance(error, EnclaveError):
        return str(error.code)
    return "invalid_args"  # the op's args model refused a field


@dataclass(frozen=True, slots=True)
class Served:
    """What became of one request: the enclave's answer (None if it failed: ``error`` says why) and
    whether its transaction was broadcast."""

    request: NativeOracleRequest
    response: N3OracleResponseResult | None
    sent: bool
    error: str | None = None


class NativeOracleNode:
    """Answers the native OracleContract's pending requests through the enclave (module docstring).

    ``serve_pending`` is one pass: safe to call every block, from a new instance each time (a worker
    job): a request whose response transaction waits in the mempool, or that this instance answered
    with a transaction still valid (``_inflight``: request id → its ValidUntilBlock), is not answered
    again.
    """

    def __init__(self, rpc: N3Rpc, enclave: OracleEnclave, *, peers: Sequence[str] = ()) -> None:
        """``peers``: JSON-RPC URLs of the other oracle nodes (neo-go ``Oracle.Nodes``), which take this
        node's signatures when several nodes are designated (``submitoracleresponse``)."""
        self.rpc = rpc
        self.enclave = enclave
        self.peers = tuple(peers)
        self._inflight: dict[int, int] = {}  # only touched by serve_pending, which is not reentrant

    async def serve_pending(self) -> list[Served]:
        """Answer every pending request not already answered by a transaction still valid."""
        requests = await pending_requests(self.rpc)
        if not requests:
            self._inflight.clear()
            return []
        height = await self.rpc.block_count() - 1
        pending_ids = {request.id for request in requests}
        self._inflight = {k: v for k, v in self._inflight.items() if k in pending_ids and v > height}
        pooled = await responses_in_mempool(self.rpc)  # sent by an earlier run (or another node)
        todo = [r for r in requests if r.id not in self._inflight and r.id not in pooled]
        if not todo:
            return []
        nodes = await designated_oracle_nodes(self.rpc, height + 1)
        if not nodes:
            return []
        pico, per_byte = await fee_settings(self.rpc)
        version = await self.rpc.call("getversion", [])
        magic = int(version["protocol"]["network"])
        increment = int(version["protocol"]["maxvaliduntilblockincrement"])
        served = []
        for request in todo:
            try:
                served.append(await self._serve(request, nodes, pico, per_byte, magic, increment, height))
            except (EnclaveRejected, EnclaveError, ValidationError) as e:
                # One request the enclave cannot answer (its key not designated yet, a field out of the
                # op's bounds) must not keep the others waiting: logged, and tried again next pass.
                log.warning("native oracle request not answered", request_id=request.id, error=str(e))
                served.append(Served(request, None, sent=False, error=_error_code(e)))
        return served

    async def _serve(
        self,
        request: NativeOracleRequest,
        nodes: list[bytes],
        pico: int,
        per_byte: int,
        magic: int,
        increment: int,
        height: int,
    ) -> Served:
        try:
            request_height = int(await self.rpc.call("gettransactionheight", [request.original_tx]))
        except N3RpcError:
            request_height = height  # not persisted yet: neo-go uses the current height too
        vub = request_height + increment
        while vub <= height:  # expired: neo-go's backup transaction moves on the same way
            vub += increment
        several = len(nodes) > 1
        age = height - request_height
        if several and not (age <= FRESH_BLOCKS or age % RESUBMIT_EVERY_BLOCKS == 0):
            return Served(request, None, sent=False, error="waiting_for_other_nodes")
        # neo-go may build its transaction while the request's is still in its mempool view, where
        # GetTransaction reports height MaxUint32: its ValidUntilBlock wraps to increment - 1. Signing
        # that variant too lets a neo-go node assemble either (same code and result).
        wrapped = (0xFFFFFFFF + increment) % 2**32
        extra = [wrapped] if several and wrapped != vub and wrapped > height else []
        args = N3OracleResponseArgs(
            network_magic=magic,
            request_id=request.id,
            url=request.url,
            filter=request.filter,
            gas_for_response=request.gas_for_response,
            valid_until_block=vub,
            oracle_nodes=nodes,
            exec_fee_factor_pico=pico,
            fee_per_byte=per_byte,
            extra_valid_until_blocks=extra,
        )
        response = await self.enclave.run(N3_ORACLE_RESPONSE, args)
        if response.transaction is None:
            return Served(request, response, sent=await self._submit_to_peers(response))
        try:
            await self.rpc.send(response.transaction)
        except N3RpcError as e:
            log.warning("native oracle response refused", request_id=request.id, error=str(e))
            return Served(request, response, sent=False)
        self._inflight[request.id] = vub
        return Served(request, response, sent=True)

    async def _submit_to_peers(self, response: N3OracleResponseResult) -> bool:
        """Give every peer this node's signatures (neo-go RPC ``submitoracleresponse``: key, request id,
        tx signature, message signature, base64); whether one took at least one."""
        if not self.peers:
            log.info(
                "native oracle request needs other nodes' signatures: no peers",
                request_id=response.request_id,
            )
            return False
        signatures = [(response.signature, response.message_signature)]
        signatures += [(variant.signature, variant.message_signature) for variant in response.variants]
        key = base64.b64encode(response.public_key).decode()
        taken = False
        for peer in self.peers:
            async with N3Rpc(peer) as node:
                for signature, message_signature in signatures:
                    params = [
                        key,
                        response.request_id,
                        base64.b64encode(signature).decode(),
                        base64.b64encode(message_signature).decode(),
                    ]
                    try:
                        await node.call("submitoracleresponse", params)
                        taken = True
                    except N3RpcUnavailable as e:
                        log.warning(
                            "oracle peer refused a signature", request_id=response.request_id, error=str(e)
                        )
        return taken
