"""Test-only ops, registered on a registry of their own (as a handler module would) and served next to the
built-in ones by the in-process server fixture. They are not part of the enclave."""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import Field

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.errors import DecryptionFailed, InvalidKeyMaterial, UnsupportedOperation
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import KeyUnusable
from neo_service_layer.enclave.schemas import AccountId, EnclaveModel, SealedBytes, SignedArgs

registry = OpRegistry()


class SumArgs(SignedArgs):
    numbers: list[int] = Field(max_length=100)
    label: str = ""
    amk: SealedBytes | None = None  # a sealed blob: must stay out of the signed params


class SumResult(EnclaveModel):
    total: int
    label: str
    amk_opened: bool


@registry.op("test.sum", SumArgs, SumResult, signed=True)
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


@registry.op("test.sleep", SleepArgs, SleepResult)
async def sleep(ctx: EnclaveContext, args: SleepArgs) -> SleepResult:
    await asyncio.sleep(args.seconds)
    return SleepResult(tag=args.tag)


class FailArgs(EnclaveModel):
    how: str


class FailResult(EnclaveModel):
    never: int


@registry.op("test.fail", FailArgs, FailResult)
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


@registry.op("test.float", FloatArgs, FloatResult, signed=True)
async def float_result(ctx: EnclaveContext, args: FloatArgs) -> FloatResult:
    return FloatResult(value=0.5)


class AmkArgs(EnclaveModel):
    account_id: AccountId
    version: int
    sealed: SealedBytes


class AmkResult(EnclaveModel):
    fingerprint: str


@registry.op("test.amk_fingerprint", AmkArgs, AmkResult)
async def amk_fingerprint(ctx: EnclaveContext, args: AmkArgs) -> AmkResult:
    return AmkResult(
        fingerprint=hashlib.sha256(ctx.open_amk(args.account_id, args.version, args.sealed)).hexdigest()
    )


class BigArgs(EnclaveModel):
    size: int = Field(ge=0, le=16 * 1024 * 1024)


class BigResult(EnclaveModel):
    data: str


@registry.op("test.big", BigArgs, BigResult)
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


@registry.op("test.hold", HoldArgs, SleepResult)
async def hold(ctx: EnclaveContext, args: HoldArgs) -> SleepResult:
    await gate(args.tag).wait()
    return SleepResult(tag=args.tag)
