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

``chains.n3_randomness_fulfilment`` does the same for a Neo N3 ``NSLGateway`` (docs/chains-neo-n3.md):
``alpha = "NSL-N3-DYVRF-ALPHA-V1" ‖ magic ‖ gateway ‖ id ‖ SHA-256(payload)``, result ``beta ‖ pi ‖ x``,
message ``"NSL-N3-FULFIL-V1" ‖ magic ‖ gateway ‖ id ‖ SHA-256(result)`` signed with the identity's
secp256r1 key: ECDSA over SHA-256 of the message, raw ``r ‖ s`` (``signing.p256_sign``), which is what
``CryptoLib.verifyWithECDsa(…, NamedCurveHash.secp256r1SHA256)`` verifies — it hashes the message with
SHA-256 itself (neo-go ``pkg/core/native/crypto.go`` ``verifyWithECDsa``). The transaction is signed
by ``keys.n3_sign_tx`` with the relayer's key.
"""

from __future__ import annotations

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import dyvrf, evm_gateway, n3_gateway
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.handlers.chains_schemas import (
    EvmRandomnessFulfilmentArgs,
    EvmRandomnessFulfilmentResult,
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
)
from neo_service_layer.enclave.handlers.keys import version_material
from neo_service_layer.enclave.handlers.keys_schemas import KeyVersionArgs
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import KeyUnusable

registry = OpRegistry()


def _vrf_secret(ctx: EnclaveContext, args: KeyVersionArgs) -> bytes:
    if args.key_type is not KeyType.BLS12381:
        raise KeyUnusable(f"key type {args.key_type.value} does not prove DY-VRF outputs")
    return version_material(ctx, args)


@registry.op("chains.evm_randomness_fulfilment", EvmRandomnessFulfilmentArgs, EvmRandomnessFulfilmentResult)
async def evm_randomness_fulfilment(
    ctx: EnclaveContext, args: EvmRandomnessFulfilmentArgs
) -> EvmRandomnessFulfilmentResult:
    """The proved result of one gateway randomness request and the enclave's signature (module docs)."""
    secret = _vrf_secret(ctx, args)
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


@registry.op("chains.n3_randomness_fulfilment", N3RandomnessFulfilmentArgs, N3RandomnessFulfilmentResult)
async def n3_randomness_fulfilment(
    ctx: EnclaveContext, args: N3RandomnessFulfilmentArgs
) -> N3RandomnessFulfilmentResult:
    """The proved result of one N3 gateway randomness request and the enclave's signature (module docs)."""
    secret = _vrf_secret(ctx, args)
    gateway = bytes.fromhex(args.gateway[2:])[::-1]  # display form (big-endian) -> UInt160.to_array()
    alpha = n3_gateway.randomness_alpha(args.network_magic, gateway, args.request_id, args.payload)
    pi = dyvrf.prove(secret, alpha)
    result = n3_gateway.randomness_result(pi, alpha)
    message = n3_gateway.fulfilment_message(args.network_magic, gateway, args.request_id, result)
    # Identity.sign makes both identity signatures; only the secp256r1 one (SHA-256, r ‖ s) is used here.
    signature = ctx.sign(message).p256
    return N3RandomnessFulfilmentResult(
        request_id=args.request_id,
        result=result,
        beta=result[: n3_gateway.BETA_SIZE],
        signature=signature,
        signer=ctx.identity.public.p256,
        vrf_public_key=dyvrf.public_key(secret),
    )
