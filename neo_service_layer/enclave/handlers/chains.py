"""Chain fulfilment ops: results for requests made to NSL's on-chain gateways (docs/chains-evm.md).

``chains.evm_randomness_fulfilment`` answers one randomness request of an EVM ``NSLGateway``:

1. derive the platform's EVM VRF key of the request's version from the identity
   (``chain_keys.chain_vrf_secret``: the host names a version, never a key);
2. derive the VRF input itself from the request's fields — ``alpha = "NSL-DYVRF-ALPHA-V1" ‖ chainid ‖
   gateway ‖ requestId ‖ payloadHash``, as the gateway does on chain — and prove it (``dyvrf.prove``);
3. build the result ``beta ‖ pi`` (pi in EIP-2537 form) and its fulfilment preimage
   ``"NSL-FULFIL-V2" ‖ chainid ‖ gateway ‖ requestId ‖ payloadHash ‖ vrfKeyVersion ‖ vrfKeyHash ‖
   keccak256(result)``, and sign it with the identity's secp256k1 key (keccak256, r ‖ s ‖ v, low s:
   what ``EnclaveSignature.sol`` accepts).

The gateway rebuilds that preimage from the payload hash and key version it stored with the request and
the key hash it registered for that version, so a host that lies about any of them gets a signature the
gateway refuses: one request, one acceptable output. The op is deterministic (the DY-VRF proof is unique
for the key and input; RFC 6979 nonces), so a retry returns the same bytes. The fulfilment transaction
itself is signed by ``keys.evm_sign_tx`` with the relayer's key.

``chains.n3_randomness_fulfilment`` does the same for a Neo N3 ``NSLGateway`` (docs/chains-neo-n3.md):
``alpha = "NSL-N3-DYVRF-ALPHA-V1" ‖ magic ‖ gateway ‖ id ‖ SHA-256(payload)``, result ``beta ‖ pi ‖ x``,
message ``"NSL-N3-FULFIL-V2" ‖ magic ‖ gateway ‖ id ‖ SHA-256(payload) ‖ version ‖ SHA-256(vrf key) ‖
SHA-256(result)`` signed with the identity's secp256r1 key: ECDSA over SHA-256 of the message, raw
``r ‖ s`` (``signing.p256_sign``), which is what ``CryptoLib.verifyWithECDsa(…, secp256r1SHA256)``
verifies — it hashes the message with SHA-256 itself (neo-go ``pkg/core/native/crypto.go``
``verifyWithECDsa``). The transaction is signed by ``keys.n3_sign_tx`` with the relayer's key.

``chains.vrf_public_key`` gives the public key of a version, for the operator to register on a gateway.
"""

from __future__ import annotations

import hashlib

from neo_service_layer.enclave.chain_keys import ChainFamily, chain_vrf_secret
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import dyvrf, evm_gateway, n3_gateway
from neo_service_layer.enclave.opdefs.chains import (
    EVM_RANDOMNESS_FULFILMENT,
    N3_RANDOMNESS_FULFILMENT,
    VRF_PUBLIC_KEY,
    EvmRandomnessFulfilmentArgs,
    EvmRandomnessFulfilmentResult,
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
    VrfPublicKeyArgs,
    VrfPublicKeyResult,
)
from neo_service_layer.enclave.ops import OpRegistry

registry = OpRegistry()


@registry.handler(VRF_PUBLIC_KEY)
async def vrf_public_key(ctx: EnclaveContext, args: VrfPublicKeyArgs) -> VrfPublicKeyResult:
    """The public key of a version of a chain family's VRF key, as the gateways register it."""
    public = dyvrf.public_key(chain_vrf_secret(ctx.identity, args.family, args.version))
    eip2537 = dyvrf.eip2537_g1(public)
    key_hash = (
        evm_gateway.vrf_key_hash(eip2537)
        if args.family is ChainFamily.EVM
        else n3_gateway.vrf_key_hash(public)
    )
    return VrfPublicKeyResult(
        family=args.family,
        version=args.version,
        public_key=public,
        public_key_eip2537=eip2537,
        key_hash=key_hash,
    )


@registry.handler(EVM_RANDOMNESS_FULFILMENT)
async def evm_randomness_fulfilment(
    ctx: EnclaveContext, args: EvmRandomnessFulfilmentArgs
) -> EvmRandomnessFulfilmentResult:
    """The proved result of one gateway randomness request and the enclave's signature (module docs)."""
    secret = chain_vrf_secret(ctx.identity, ChainFamily.EVM, args.vrf_key_version)
    public = dyvrf.public_key(secret)
    gateway = bytes.fromhex(args.gateway[2:])
    alpha = evm_gateway.randomness_alpha(args.chain_id, gateway, args.request_id, args.payload_hash)
    pi = dyvrf.prove(secret, alpha)
    beta = dyvrf.proof_to_hash(pi)
    result = beta + dyvrf.eip2537_g2(pi)
    preimage = evm_gateway.fulfilment_preimage(
        args.chain_id,
        gateway,
        args.request_id,
        payload_hash=args.payload_hash,
        vrf_key_version=args.vrf_key_version,
        vrf_key_hash=evm_gateway.vrf_key_hash(dyvrf.eip2537_g1(public)),
        result=result,
    )
    # Identity.sign makes both identity signatures; only the secp256k1 one (over keccak256) is used here.
    signature = ctx.sign(preimage).k1
    return EvmRandomnessFulfilmentResult(
        request_id=args.request_id,
        result=result,
        beta=beta,
        signature=signature,
        signer=ctx.identity.public.k1_address,
        vrf_key_version=args.vrf_key_version,
        vrf_public_key=public,
    )


@registry.handler(N3_RANDOMNESS_FULFILMENT)
async def n3_randomness_fulfilment(
    ctx: EnclaveContext, args: N3RandomnessFulfilmentArgs
) -> N3RandomnessFulfilmentResult:
    """The proved result of one N3 gateway randomness request and the enclave's signature (module docs)."""
    secret = chain_vrf_secret(ctx.identity, ChainFamily.N3, args.vrf_key_version)
    public = dyvrf.public_key(secret)
    gateway = bytes.fromhex(args.gateway[2:])[::-1]  # display form (big-endian) -> UInt160.to_array()
    alpha = n3_gateway.randomness_alpha(args.network_magic, gateway, args.request_id, args.payload)
    pi = dyvrf.prove(secret, alpha)
    result = n3_gateway.randomness_result(pi, alpha)
    message = n3_gateway.fulfilment_message(
        args.network_magic,
        gateway,
        args.request_id,
        payload_hash=hashlib.sha256(args.payload).digest(),
        vrf_key_version=args.vrf_key_version,
        vrf_key_hash=n3_gateway.vrf_key_hash(public),
        result=result,
    )
    # Identity.sign makes both identity signatures; only the secp256r1 one (SHA-256, r ‖ s) is used here.
    signature = ctx.sign(message).p256
    return N3RandomnessFulfilmentResult(
        request_id=args.request_id,
        result=result,
        beta=result[: n3_gateway.BETA_SIZE],
        signature=signature,
        signer=ctx.identity.public.p256,
        vrf_key_version=args.vrf_key_version,
        vrf_public_key=public,
    )
