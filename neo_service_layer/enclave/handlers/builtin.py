"""Built-in ops: ``ping`` (liveness, version, backend), ``attest`` (the report), ``amk_create``."""

from __future__ import annotations

from neo_service_layer import __version__
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.builtin import AMK_CREATE, ATTEST, PING
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import PROTOCOL_VERSION
from neo_service_layer.enclave.schemas import (
    AmkCreateArgs,
    AmkCreateResult,
    AttestationReport,
    NoArgs,
    PingResult,
)

registry = OpRegistry()


@registry.handler(PING)
async def ping(ctx: EnclaveContext, args: NoArgs) -> PingResult:
    return PingResult(
        protocol_version=PROTOCOL_VERSION, version=__version__, backend=ctx.backend.name, tee=ctx.backend.tee
    )


@registry.handler(ATTEST)
async def attest(ctx: EnclaveContext, args: NoArgs) -> AttestationReport:
    # Built once at start-up: the keys and measurement never change while the process lives.
    return ctx.report


@registry.handler(AMK_CREATE)
async def amk_create(ctx: EnclaveContext, args: AmkCreateArgs) -> AmkCreateResult:
    sealed = ctx.new_amk(args.account_id, args.version)
    return AmkCreateResult(account_id=args.account_id, version=args.version, sealed=sealed)
