"""Account master key ops beyond creation: ``amk.rewrap`` moves wrapped items to a new AMK version."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.enclave.schemas import AccountId, EnclaveModel, SealedBytes
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap, wrap

MAX_REWRAP_ITEMS = 500
registry = OpRegistry()


class WrappedItem(EnclaveModel):
    purpose: Annotated[WrapPurpose, Field(strict=False)]  # a string on the wire
    context: Annotated[str, Field(min_length=1, max_length=200)]
    from_version: Annotated[int, Field(ge=1)]
    wrapped: B64Bytes


class SealedAmk(EnclaveModel):
    version: Annotated[int, Field(ge=1)]
    sealed: SealedBytes


class RewrapArgs(EnclaveModel):
    account_id: AccountId
    sources: Annotated[list[SealedAmk], Field(min_length=1, max_length=64)]
    target: SealedAmk
    items: Annotated[list[WrappedItem], Field(min_length=1, max_length=MAX_REWRAP_ITEMS)]


class RewrapResult(EnclaveModel):
    target_version: int
    wrapped: list[B64Bytes]


@registry.op("amk.rewrap", RewrapArgs, RewrapResult)
async def rewrap(ctx: EnclaveContext, args: RewrapArgs) -> RewrapResult:
    """Unwrap each item under its AMK version and wrap it under the target; nothing leaves unwrapped."""
    amks = {s.version: ctx.open_amk(args.account_id, s.version, s.sealed) for s in args.sources}
    target = ctx.open_amk(args.account_id, args.target.version, args.target.sealed)
    out: list[bytes] = []
    for item in args.items:
        source = amks.get(item.from_version)
        if source is None:
            raise InvalidArgs(f"no sealed AMK of version {item.from_version} was given")
        plaintext = unwrap(source, args.account_id, item.purpose, item.context, item.wrapped)
        out.append(wrap(target, args.account_id, item.purpose, item.context, plaintext))
    return RewrapResult(target_version=args.target.version, wrapped=out)
