"""Chain fulfilment ops: results for requests made to NSL's on-chain gateways (docs/chains-evm.md).

``chains.evm_randomness_fulfilment`` answers one randomness request of an EVM ``NSLGateway``:

1. unwrap the platform's DY-VRF key version as the keys ops do (``keys.version_material``);
2. derive the VRF input itself from the request's fields — ``alpha = "NSL-DYVRF-ALPHA-V1" ‖ chainid ‖
   gateway ‖ requestId ‖ payloadHash``, as the gateway does on chain — and prove it (``dyvrf.prove``);
3. build the result ``beta ‖ pi`` (pi in EIP-2537 form) and its fulfilment preimage
   ``"NSL-FULFIL-V1" ‖ chainid ‖ gateway ‖ requestId ‖ keccak256(result)``, and sign it with the
   identity's secp256k1 key (keccak256, r ‖ s ‖ v, low s: what ``EnclaveSignature.sol`` accepts).

The host hands in no alpha, digest or result, so it cannot make the enclave sign anything but a
correct proof for the request it names. The op is deterministic (the DY-VRF proof is unique for the
key and input; RFC 6979 nonces), so a retry returns the same bytes. The fulfilment transaction itself
is signed by ``keys.evm_sign_tx`` with the relayer's key.
"""

from __future__ import annotations

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import dyvrf, evm_gateway
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.handlers.chains_schemas import (
    EvmRandomnessFulfilmentArgs,
    EvmRandomnessFulfilmentResult,
)
from neo_service_layer.enclave.handlers.keys import version_material
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import KeyUnusable

registry = OpRegistry()


@registry.op("chains.evm_randomness_fulfilment", EvmRandomnessFulfilmentArgs, EvmRandomnessFulfilmentResult)
async def evm_randomness_fulfilment(
    ctx: EnclaveContext, args: EvmRandomnessFulfilmentArgs
) -> EvmRandomnessFulfilmentResult:
    """The proved result of one gateway randomness request and the enclave's signature (module docs)."""
    if args.key_type is not KeyType.BLS12381:
        raise KeyUnusable(f"key type {args.key_type.value} does not prove DY-VRF outputs")
    secret = version_material(ctx, args)
    gateway = bytes.fromhex(args.gateway[2:])
    alpha = evm_gateway.randomness_alpha(args.chain_id, gateway, args.request_id, args.payload_hash)
    pi = dyvrf.prove(secret, alpha)
    beta = dyvrf.proof_to_hash(pi)
    result = beta + dyvrf.eip2537_g2(pi)
    preimage = evm_gateway.fulfilment_preimage(args.chain_id, gateway, args.request_id, result)
    # Identity.sign makes both identity signatures; only the secp256k1 one (over keccak256) is used here.
    signature = ctx.sign(preimage).k1
    return EvmRandomnessFulfilmentResult(
        request_id=args.request_id,
        result=result,
        beta=beta,
        signature=signature,
        signer=ctx.identity.public.k1_address,
        vrf_public_key=dyvrf.public_key(secret),
    )
