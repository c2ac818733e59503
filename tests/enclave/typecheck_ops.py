"""Checked by mypy (``make typecheck``), never run: what op declarations let through and what not.

Each ignore comment below marks a mistake mypy must report with the code it names. mypy --strict reports
an ignore that is not needed, so if one of these mistakes ever type-checks, the type check fails; and
``test_opdefs.py`` checks that without the ignores mypy fails on exactly those lines.
"""

from __future__ import annotations

from neo_service_layer.enclave.client import EnclaveClient, Signed
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.opdefs.keys import (
    GENERATE,
    SIGN,
    GenerateArgs,
    GenerateResult,
    SignArgs,
    SignResult,
    VerifyArgs,
)
from neo_service_layer.enclave.ops import OpRegistry


async def calls(enclave: EnclaveClient, sign_args: SignArgs, generate_args: GenerateArgs) -> None:
    signed: Signed[SignResult] = await enclave.run(SIGN, sign_args)
    generated: GenerateResult = await enclave.run(GENERATE, generate_args)
    assert signed.result.signature
    assert generated.wrapped

    await enclave.run(SIGN, generate_args)  # type: ignore[call-overload]  # another op's args
    await enclave.run("keys.sign", sign_args)  # type: ignore[call-overload]  # a name, not a declaration
    unsigned: SignResult = await enclave.run(SIGN, sign_args)  # type: ignore[assignment]  # it is Signed
    not_signed: Signed[GenerateResult] = await enclave.run(GENERATE, generate_args)  # type: ignore[assignment]
    assert unsigned
    assert not_signed


def handlers(registry: OpRegistry) -> None:
    @registry.handler(SIGN)
    async def sign(ctx: EnclaveContext, args: SignArgs) -> SignResult:
        raise NotImplementedError

    @registry.handler(SIGN)  # type: ignore[arg-type]  # takes narrower args than declared
    async def verify(ctx: EnclaveContext, args: VerifyArgs) -> SignResult:
        raise NotImplementedError

    @registry.handler(GENERATE)  # type: ignore[arg-type]  # returns another result
    async def generate(ctx: EnclaveContext, args: GenerateArgs) -> SignResult:
        raise NotImplementedError


def declarations() -> None:
    Op("x.plain", GenerateArgs, GenerateResult)
    SignedOp("x.signed", SignArgs, SignResult)
    SignedOp("x.unsigned_args", GenerateArgs, GenerateResult)  # type: ignore[type-var]  # no SignedArgs
