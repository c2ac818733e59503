"""Randomness service op: prove a VRF output for a request with an account's key (docs/randomness.md).

``randomness.prove`` unwraps the key version as the keys ops do (``keys.version_material``), derives
the 32-byte enclave nonce of the request itself (:func:`request_nonce`: the host never supplies it),
builds alpha from the request (``crypto.randomness.alpha``: the host never supplies alpha either),
proves, and derives the output from β. The result is signed (``signed=True``): the enclave's signatures
cover the request (key, scheme, request id, seed, output spec) and the result (nonce, alpha, proof, β,
output).

The nonce is ``HMAC-SHA256(K, canonical_json({account_id, request_id, scheme, key_id, key_version}))``
with ``K = Identity.derive("nsl-randomness-nonce-v1")``: unpredictable to everyone outside the enclave
(so nobody can compute an output before the enclave proves it), yet a function of the request, so
asking again — a retry, an audit, or a compromised host hoping for a better draw — always yields the
same output for a request id.
"""

from __future__ import annotations

import hashlib
import hmac

from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import vrf
from neo_service_layer.enclave.crypto.randomness import NONCE_SIZE, AlphaInput, alpha, derive
from neo_service_layer.enclave.handlers.keys import version_material
from neo_service_layer.enclave.opdefs.randomness import PROVE, ProveArgs, ProveResult
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import InvalidArgs, KeyUnusable
from neo_service_layer.errors import NSLError

registry = OpRegistry()

NONCE_KEY_INFO = b"nsl-randomness-nonce-v1"


def request_nonce(ctx: EnclaveContext, args: ProveArgs) -> bytes:
    """The enclave nonce of the request in ``args`` (module docstring)."""
    key = ctx.identity.derive(NONCE_KEY_INFO, NONCE_SIZE)
    request = {
        "account_id": args.account_id,
        "request_id": args.request_id,
        "scheme": args.scheme.value,
        "key_id": args.key_id,
        "key_version": args.version,
    }
    return hmac.new(key, canonical_json(request), hashlib.sha256).digest()


@registry.handler(PROVE)
async def prove(ctx: EnclaveContext, args: ProveArgs) -> ProveResult:
    """The VRF proof of the request's alpha and the output derived from it (module docs)."""
    if args.key_type is not args.scheme.key_type:
        raise KeyUnusable(f"key type {args.key_type.value} does not prove {args.scheme.value}")
    try:
        spec = args.spec()
    except NSLError as exc:
        raise InvalidArgs(exc.detail) from exc
    material = version_material(ctx, args)
    nonce = request_nonce(ctx, args)
    message = alpha(
        AlphaInput(
            scheme=args.scheme.value,
            account_id=args.account_id,
            request_id=args.request_id,
            key_id=args.key_id,
            key_version=args.version,
            seed=args.seed,
            nonce=nonce,
            spec=spec,
        )
    )
    proof = vrf.prove(args.scheme, material, message)
    beta = vrf.proof_to_hash(args.scheme, proof)
    output = derive(beta, spec)
    return ProveResult(
        scheme=args.scheme,
        request_id=args.request_id,
        key_id=args.key_id,
        version=args.version,
        public_key=vrf.public_key(args.scheme, material),
        nonce=nonce,
        alpha=message,
        proof=proof,
        beta=beta,
        words=None if output.words is None else [str(w) for w in output.words],
        data=output.data,
    )
