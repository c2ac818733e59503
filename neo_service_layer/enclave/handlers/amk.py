"""Account master key ops beyond creation: ``amk.rewrap`` moves wrapped items to a new AMK version."""

from __future__ import annotations

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.amk import REWRAP, RewrapArgs, RewrapResult
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.enclave.wrapping import unwrap, wrap

registry = OpRegistry()


@registry.handler(REWRAP)
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
