"""The host side of the enclave protocol: a small pool of persistent Unix-socket connections.

Requests are pipelined: each connection has one reader task that routes responses to waiting callers
by request id, so any number of requests can be in flight on it. Calls that cannot be answered raise
typed errors: :class:`EnclaveUnavailable` (503) when the enclave is down, restarting or too slow,
:class:`EnclaveBusy` (503) when it refuses a connection or request over its limits, an
:class:`EnclaveRejected` subclass when it answers with an error.

After an enclave restart the pooled connections are dead. The first call on one notices (a failed
write, or end of stream before the response) and is retried once on a fresh connection; that is safe
because enclave ops keep no state (``ops.py``): running one twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, overload

from pydantic import ValidationError

from neo_service_layer.config import Settings
from neo_service_layer.enclave.opdefs.base import Op, OpDecl, SignedOp
from neo_service_layer.enclave.opdefs.builtin import AMK_CREATE, ATTEST, PING
from neo_service_layer.enclave.protocol import (
    MAX_REQUEST_ID,
    PROTOCOL_VERSION,
    BadFrame,
    ErrorCode,
    Response,
    decode_message,
    encode_frame,
    read_frame,
)
from neo_service_layer.enclave.schemas import (
    AmkCreateArgs,
    AmkCreateResult,
    AttestationReport,
    EnclaveModel,
    NoArgs,
    PingResult,
    SignedArgs,
    SignedResult,
)
from neo_service_layer.errors import (
    EnclaveBusy,
    EnclaveCryptoFailed,
    EnclaveKeyUnusable,
    EnclavePreconditionFailed,
    EnclaveRejected,
    EnclaveUnavailable,
    NSLError,
)

DEFAULT_POOL_SIZE: Final = 4


@dataclass(frozen=True, slots=True)
class Signed[R: EnclaveModel]:
    """A signed op's typed result and the signed envelope to hand to whoever verifies it."""

    result: R
    envelope: SignedResult


class EnclaveClient(Protocol):
    """What the API and the workers need from the enclave.

    Ops are called through their declarations (``enclave/opdefs/``), never by name: ``run(op, args)``
    returns the op's result model, or for a :class:`SignedOp` a :class:`Signed` of it.
    """

    @overload
    async def run[A: SignedArgs, R: EnclaveModel](self, op: SignedOp[A, R], args: A) -> Signed[R]: ...

    @overload
    async def run[A: EnclaveModel, R: EnclaveModel](self, op: Op[A, R], args: A) -> R: ...

    async def ping(self) -> PingResult: ...

    async def attest(self) -> AttestationReport: ...

    async def amk_create(self, account_id: str, version: int) -> AmkCreateResult: ...

    async def close(self) -> None: ...


def error_from_response(code: str, detail: str) -> NSLError:
    """The platform error for an enclave error response (docs/enclave.md §1 codes)."""
    if code == ErrorCode.SHUTTING_DOWN:
        return EnclaveUnavailable(f"the enclave is restarting: {detail}")
    if code == ErrorCode.BUSY:
        return EnclaveBusy(f"the enclave is busy: {detail}")
    if code == ErrorCode.KEY_UNUSABLE:
        return EnclaveKeyUnusable(detail, enclave_code=code)
    if code == ErrorCode.CRYPTO_ERROR:
        return EnclaveCryptoFailed(detail, enclave_code=code)
    if code == ErrorCode.PRECONDITION_FAILED:
        return EnclavePreconditionFailed(detail, enclave_code=code)
    return EnclaveRejected(f"enclave error {code}: {detail}", enclave_code=code)


class _ConnectionLost(Exception):
    """The connection died before our response arrived (the enclave restarted, crashed or hung up)."""


class _Connection:
    """One socket to the enclave: writes under a lock, one reader routing responses by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        # Guards the writer: one whole frame is written and drained at a time.
        self._write_lock = asyncio.Lock()
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._closed = False
        # Set when the enclave refused a request whose id it could not read (``busy``, id null): it
        # answers the others, then hangs up, and whatever is left unanswered fails with this error.
        self._refusal: EnclaveBusy | None = None
        self._read_task = asyncio.create_task(self._read_loop())

    @property
    def alive(self) -> bool:
        return not self._closed

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def request(self, request_id: int, frame: bytes) -> Response:
        if self._closed:
            raise _ConnectionLost("connection closed")
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with self._write_lock:
                self._writer.write(frame)
                await self._writer.drain()
            return await future
        except (ConnectionError, OSError) as exc:
            # The enclave hung up. If it said why first (busy), the reader is about to see it: wait
            # for the reader to finish (it will, the stream is ending) and report that instead.
            await asyncio.wait([self._read_task])
            error: Exception = self._refusal or _ConnectionLost(str(exc))
            self._fail(error)
            raise error from exc
        finally:
            # On timeout (cancellation) too: a late response for this id is then dropped.
            self._pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved here when we raised our own error instead

    async def _read_loop(self) -> None:
        error: Exception = _ConnectionLost("the enclave closed the connection")
        try:
            while True:
                payload = await read_frame(self._reader)
                if payload is None:
                    break
                response = Response.model_validate(decode_message(payload))
                if response.id is None:
                    body = response.error
                    detail = body.detail if body is not None else "unmatched error"
                    if body is not None and body.code == ErrorCode.BUSY:
                        # Over the enclave's limits: it answers what it took, then hangs up.
                        self._closed = True  # no new requests on this connection
                        self._refusal = EnclaveBusy(f"the enclave is busy: {detail}")
                        continue
                    # The enclave could not parse something we sent and is hanging up on us.
                    error = EnclaveRejected(f"enclave rejected a frame: {detail}", enclave_code="bad_frame")
                    break
                future = self._pending.get(response.id)
                if future is not None and not future.done():
                    future.set_result(response)
        except (BadFrame, ValidationError) as exc:
            error = EnclaveRejected(f"malformed response from the enclave: {exc}", enclave_code="bad_frame")
        except (ConnectionError, OSError) as exc:
            error = _ConnectionLost(str(exc))
        except asyncio.CancelledError:
            error = _ConnectionLost("client closed")
        self._fail(self._refusal or error)

    def _fail(self, error: Exception) -> None:
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._writer.close()

    async def close(self) -> None:
        self._closed = True
        self._read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._read_task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class UnixEnclaveClient:
    """:class:`EnclaveClient` over the enclave's Unix socket."""

    def __init__(self, path: Path, *, timeout: float, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.path = path
        self.timeout = timeout
        self._slots: list[_Connection | None] = [None] * pool_size
        # Guards _slots while connecting, so that concurrent callers do not open a socket each.
        self._connect_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = DEFAULT_POOL_SIZE) -> UnixEnclaveClient:
        return cls(
            settings.effective_enclave_socket, timeout=settings.enclave.timeout_seconds, pool_size=pool_size
        )

    def _next_id(self) -> int:
        request_id = next(self._ids)
        if request_id > MAX_REQUEST_ID:
            self._ids = itertools.count(2)
            request_id = 1
        return request_id

    async def _connection(self) -> _Connection:
        async with self._connect_lock:
            if self._closed:
                raise EnclaveUnavailable("the enclave client is closed")
            live = [conn for conn in self._slots if conn is not None and conn.alive]
            free = [index for index, conn in enumerate(self._slots) if conn is None or not conn.alive]
            idle = [conn for conn in live if conn.in_flight == 0]
            if idle:
                return idle[0]
            if free:
                conn = await self._open()
                self._slots[free[0]] = conn
                return conn
            return min(live, key=lambda conn: conn.in_flight)

    async def _open(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_unix_connection(self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise EnclaveUnavailable(f"the enclave is not running (no listener on {self.path})") from exc
        except OSError as exc:
            raise EnclaveUnavailable(f"cannot connect to the enclave at {self.path}: {exc.strerror}") from exc
        return _Connection(reader, writer)

    async def _roundtrip(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        request_id = self._next_id()
        try:
            frame = encode_frame({"v": PROTOCOL_VERSION, "id": request_id, "op": op, "args": args})
        except BadFrame as exc:
            raise EnclaveRejected(
                f"request for {op} is too large: {exc.detail}", enclave_code="bad_frame"
            ) from exc
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    response = await (await self._connection()).request(request_id, frame)
                except _ConnectionLost:
                    # A pooled connection from before an enclave restart: retry once, fresh.
                    response = await (await self._connection()).request(request_id, frame)
        except TimeoutError as exc:
            raise EnclaveUnavailable(f"the enclave did not answer {op} within {self.timeout:g} s") from exc
        except _ConnectionLost as exc:
            raise EnclaveUnavailable(f"lost the connection to the enclave during {op}: {exc}") from exc
        if response.error is not None:
            raise error_from_response(response.error.code, response.error.detail)
        assert response.result is not None  # Response guarantees one of result and error
        return response.result

    @overload
    async def run[A: SignedArgs, R: EnclaveModel](self, op: SignedOp[A, R], args: A) -> Signed[R]: ...

    @overload
    async def run[A: EnclaveModel, R: EnclaveModel](self, op: Op[A, R], args: A) -> R: ...

    async def run(self, op: OpDecl, args: EnclaveModel) -> EnclaveModel | Signed[EnclaveModel]:
        """Run ``op`` with ``args`` (exactly its args model): its result, with the signatures if signed."""
        if not isinstance(op, Op | SignedOp):
            raise TypeError(f"ops are called through their declarations (enclave/opdefs), not {op!r}")
        # A subclass of the args model type-checks but carries fields the enclave refuses: say so here.
        if type(args) is not op.args_model:
            raise TypeError(f"{op.name} takes {op.args_model.__name__}, not {type(args).__name__}")
        raw = await self._roundtrip(op.name, args.model_dump(mode="json"))
        result_model: type[EnclaveModel] = op.result_model
        if not isinstance(op, SignedOp):
            return _parse(op, result_model, raw)
        envelope = _parse(op, SignedResult, raw)
        return Signed(result=_parse(op, result_model, envelope.result), envelope=envelope)

    async def ping(self) -> PingResult:
        return await self.run(PING, NoArgs())

    async def attest(self) -> AttestationReport:
        return await self.run(ATTEST, NoArgs())

    async def amk_create(self, account_id: str, version: int) -> AmkCreateResult:
        return await self.run(AMK_CREATE, AmkCreateArgs(account_id=account_id, version=version))

    async def close(self) -> None:
        """Close every connection; calls after this raise EnclaveUnavailable. Safe to call twice."""
        async with self._connect_lock:
            self._closed = True
            slots, self._slots = self._slots, [None] * len(self._slots)
        for conn in slots:
            if conn is not None:
                await conn.close()


def _parse[R: EnclaveModel](op: OpDecl, model: type[R], raw: dict[str, Any]) -> R:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise EnclaveRejected(
            f"the enclave's {op.name} result does not match {model.__name__}", enclave_code="internal"
        ) from exc
