"""Oracle fulfilments for the NSL gateways: fetch what a contract asked for and sign it for ``fulfill``.

``chains.evm_oracle_fulfilment`` and ``chains.n3_oracle_fulfilment`` (docs/oracle.md §8):

1. decode the request's payload (``oracle/onchain.py``: EVM ``abi.encode(string url, string filter)``,
   N3 ``jsonSerialize([url, filter])``); a payload that does not decode is answered ``Error``;
2. run the shared oracle core (``handlers/oracle.py`` :func:`answer`) with one GET source, no secrets,
   the platform account :data:`CHAIN_ACCOUNT_ID`, N3's response limit (65,535 bytes) and the fetcher's
   own timeout (the request asks for the longest the op allows; the policy's total timeout is lower);
3. cap the data at 1,024 bytes (``ResponseTooLarge`` above), empty unless ``Success``, and build the
   result: EVM ``abi.encode(uint8 code, bytes data)``, N3 ``code ‖ data``;
4. sign the gateway's fulfilment digest with the identity key, exactly as the randomness ops do
   (``handlers/chains.py``), with VRF key version 0 and a zero key hash (``gateway_signing.py``: a
   service without a VRF key, what NSLGateway ``_digest`` and nsl_gateway ``message_of`` rebuild for
   it), and the payload hash computed HERE from the payload: a host that lies about the payload gets a
   signature over another hash, which the gateway refuses.

Unlike randomness, the op is not deterministic: the web may answer differently a second time. The
fulfillers therefore record the first signed result before sending it and re-send that one on a retry
or fee bump (``chains/evm/fulfiller.py``, ``chains/neo_n3/fulfiller.py``); the gateway accepts one
fulfilment per request whatever happens.

Every failure of the request itself is an answer, never an exception: an exception would make the
fulfiller retry the op forever while the consumer waits. Only a broken op (a bad gateway address)
raises.
"""

from __future__ import annotations

from collections.abc import Callable

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers.gateway_signing import (
    evm_fulfilment_signature,
    n3_fulfilment_signature,
)
from neo_service_layer.enclave.handlers.oracle import (
    DEFAULT_MAX_RESPONSE_BYTES,
    OracleQuery,
    answer,
)
from neo_service_layer.enclave.opdefs.oracle import MAX_TIMEOUT_MS, Source
from neo_service_layer.enclave.opdefs.oracle_chains import (
    EVM_ORACLE_FULFILMENT,
    N3_ORACLE_FULFILMENT,
    EvmOracleFulfilmentArgs,
    EvmOracleFulfilmentResult,
    N3OracleFulfilmentArgs,
    N3OracleFulfilmentResult,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle import onchain
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.onchain import CHAIN_ACCOUNT_ID, ChainQuery, PayloadError
from neo_service_layer.enclave.protocol import InvalidArgs

registry = OpRegistry()


async def _outcome(ctx: EnclaveContext, query: ChainQuery | PayloadError) -> tuple[OracleCode, bytes, str]:
    """(code, data, detail) of a decoded query, or ``Error`` for a payload that did not decode."""
    if isinstance(query, PayloadError):
        return OracleCode.Error, b"", f"undecodable payload: {query}"
    spec = OracleQuery(
        account_id=CHAIN_ACCOUNT_ID,
        sources=[Source(url=query.url)],
        filter=query.filter,
        extract=query.extract,
        max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
        timeout_ms=MAX_TIMEOUT_MS,  # the fetcher's policy bounds it lower: the enclave's timeout
    )
    try:
        result = await answer(ctx, spec)
    except InvalidArgs as e:  # a rule of the request broken (a secret placeholder: none are granted)
        return OracleCode.Error, b"", str(e)
    # A typed value is delivered ABI-encoded, for the contract to abi.decode; else the filter's JSON.
    answered = result.abi if query.extract is not None and result.abi is not None else result.result
    code, data = onchain.onchain_outcome(result.code, answered)
    detail = result.detail
    if code is not result.code:
        cap = onchain.MAX_ONCHAIN_DATA_BYTES
        detail = f"the filter gave {len(answered)} bytes: over the {cap}-byte on-chain cap"
    return code, data, detail


def _decoded(decode: Callable[[bytes], ChainQuery], payload: bytes) -> ChainQuery | PayloadError:
    try:
        return decode(payload)
    except PayloadError as e:
        return e


@registry.handler(EVM_ORACLE_FULFILMENT)
async def evm_oracle_fulfilment(
    ctx: EnclaveContext, args: EvmOracleFulfilmentArgs
) -> EvmOracleFulfilmentResult:
    """The answer to one EVM gateway oracle request, signed for ``fulfill`` (module docs)."""
    code, data, detail = await _outcome(ctx, _decoded(onchain.decode_evm_payload, args.payload))
    result = onchain.evm_result(code, data)
    signature = evm_fulfilment_signature(
        ctx, args.chain_id, args.gateway, args.request_id, args.payload, result
    )
    return EvmOracleFulfilmentResult(
        request_id=args.request_id,
        code=code.name,
        data=data,
        detail=detail,
        result=result,
        signature=signature,
        signer=ctx.identity.public.k1_address,
    )


@registry.handler(N3_ORACLE_FULFILMENT)
async def n3_oracle_fulfilment(ctx: EnclaveContext, args: N3OracleFulfilmentArgs) -> N3OracleFulfilmentResult:
    """The answer to one Neo N3 gateway oracle request, signed for ``fulfill`` (module docs)."""
    code, data, detail = await _outcome(ctx, _decoded(onchain.decode_n3_payload, args.payload))
    result = onchain.n3_result(code, data)
    signature = n3_fulfilment_signature(
        ctx, args.network_magic, args.gateway, args.request_id, args.payload, result
    )
    return N3OracleFulfilmentResult(
        request_id=args.request_id,
        code=code.name,
        data=data,
        detail=detail,
        result=result,
        signature=signature,
        signer=ctx.identity.public.p256,
    )
