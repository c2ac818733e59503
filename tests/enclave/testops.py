"""Test-only ops, declared and registered here as an ``opdefs`` module and a handler module would, and
served next to the enclave's own by the in-process server fixture (:func:`full_registry`). They are not
part of the enclave."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from typing import Final

from pydantic import Field

from neo_service_layer.enclave.capabilities import HttpRequest
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.errors import DecryptionFailed, InvalidKeyMaterial, UnsupportedOperation
from neo_service_layer.enclave.handlers import handler_registries
from neo_service_layer.enclave.opdefs import catalogue, declared_in
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.ops import OpRegistry, build_registry
from neo_service_layer.enclave.protocol import KeyUnusable
from neo_service_layer.enclave.schemas import EnclaveModel, SealedBytes, SignedArgs
from neo_service_layer.ids import AccountId

registry = OpRegistry()


class SumArgs(SignedArgs):
    numbers: list[int] = Field(max_length=100)
    label: str = ""
    amk: SealedBytes | None = None  # a sealed blob: must stay out of the signed params


class SumResult(EnclaveModel):
    total: int
    label: str
    amk_opened: bool


SUM: Final = SignedOp("test.sum", SumArgs, SumResult)


@registry.handler(SUM)
async def sum_numbers(ctx: EnclaveContext, args: SumArgs) -> SumResult:
    opened = False
    if args.amk is not None:
        ctx.open_amk(args.account_id, 1, args.amk)
        opened = True
    return SumResult(total=sum(args.numbers), label=args.label, amk_opened=opened)


class SleepArgs(EnclaveModel):
    seconds: float = Field(ge=0, le=5)
    tag: str


class SleepResult(EnclaveModel):
    tag: str


SLEEP: Final = Op("test.sleep", SleepArgs, SleepResult)


@registry.handler(SLEEP)
async def sleep(ctx: EnclaveContext, args: SleepArgs) -> SleepResult:
    await asyncio.sleep(args.seconds)
    return SleepResult(tag=args.tag)


class FailArgs(EnclaveModel):
    how: str


class FailResult(EnclaveModel):
    never: int


FAIL: Final = Op("test.fail", FailArgs, FailResult)


@registry.handler(FAIL)
async def fail(ctx: EnclaveContext, args: FailArgs) -> FailResult:
    if args.how == "key_unusable":
        raise KeyUnusable("key version 3 is disabled")
    if args.how == "unsupported":
        raise UnsupportedOperation("secp256k1 keys cannot encrypt")
    if args.how == "decrypt":
        raise DecryptionFailed("ciphertext does not open")
    if args.how == "material":
        raise InvalidKeyMaterial("public key is not on the curve")
    if args.how == "wrong_type":
        return SleepResult(tag="x")  # type: ignore[return-value]  # the bug under test
    raise RuntimeError("secret-plaintext-that-must-not-be-logged")


class FloatResult(EnclaveModel):
    value: float


class FloatArgs(SignedArgs):
    pass


FLOAT: Final = SignedOp("test.float", FloatArgs, FloatResult)


@registry.handler(FLOAT)
async def float_result(ctx: EnclaveContext, args: FloatArgs) -> FloatResult:
    return FloatResult(value=0.5)


class AmkArgs(EnclaveModel):
    account_id: AccountId
    version: int
    sealed: SealedBytes


class AmkResult(EnclaveModel):
    fingerprint: str


AMK_FINGERPRINT: Final = Op("test.amk_fingerprint", AmkArgs, AmkResult)


@registry.handler(AMK_FINGERPRINT)
async def amk_fingerprint(ctx: EnclaveContext, args: AmkArgs) -> AmkResult:
    return AmkResult(
        fingerprint=hashlib.sha256(ctx.open_amk(args.account_id, args.version, args.sealed)).hexdigest()
    )


class BigArgs(EnclaveModel):
    size: int = Field(ge=0, le=16 * 1024 * 1024)


class BigResult(EnclaveModel):
    data: str


BIG: Final = Op("test.big", BigArgs, BigResult)


@registry.handler(BIG)
async def big(ctx: EnclaveContext, args: BigArgs) -> BigResult:
    return BigResult(data="x" * args.size)


# Events that ``test.hold`` requests wait for, by tag: a test keeps requests (and their bytes) in flight
# for exactly as long as it needs, with no sleeps.
_gates: dict[str, asyncio.Event] = {}


def gate(tag: str) -> asyncio.Event:
    """The event the ``test.hold`` requests tagged ``tag`` wait for (set it to let them finish)."""
    return _gates.setdefault(tag, asyncio.Event())


class HoldArgs(EnclaveModel):
    tag: str
    pad: str = ""  # makes the frame as large as a test needs


HOLD: Final = Op("test.hold", HoldArgs, SleepResult)


@registry.handler(HOLD)
async def hold(ctx: EnclaveContext, args: HoldArgs) -> SleepResult:
    await gate(args.tag).wait()
    return SleepResult(tag=args.tag)


class FetchArgs(EnclaveModel):
    url: str
    method: str = "GET"
    authorization: str | None = None


class FetchResult(EnclaveModel):
    status: int
    content_type: str | None
    body_sha256: str


FETCH_TIMEOUT_SECONDS: Final = 5.0
FETCH_MAX_BYTES: Final = 4096
FETCH: Final = Op("test.fetch", FetchArgs, FetchResult)


@registry.handler(FETCH)
async def fetch(ctx: EnclaveContext, args: FetchArgs) -> FetchResult:
    """The pattern of an oracle op: the request through ``ctx.fetcher``, a digest of the response back."""
    headers = {} if args.authorization is None else {"Authorization": args.authorization}
    response = await ctx.fetcher.fetch(
        HttpRequest(
            method=args.method,
            url=args.url,
            headers=headers,
            timeout_seconds=FETCH_TIMEOUT_SECONDS,
            max_bytes=FETCH_MAX_BYTES,
        )
    )
    return FetchResult(
        status=response.status,
        content_type=response.headers.get("content-type"),
        body_sha256=hashlib.sha256(response.body).hexdigest(),
    )


def full_registry() -> OpRegistry:
    """The enclave's ops and these, checked as the enclave checks its own (``build_registry``)."""
    declared = [*catalogue(), *declared_in(sys.modules[__name__])]
    return build_registry(declared, *handler_registries(), registry)
