"""Shared by the randomness tests: the schemes to run, and results proved without the service."""

from __future__ import annotations

from typing import Any

from neo_service_layer.enclave.crypto import vrf
from neo_service_layer.enclave.crypto.randomness import AlphaInput, OutputKind, OutputSpec, alpha, derive
from neo_service_layer.enclave.crypto.vrf import Scheme

SCHEMES: list[Scheme] = list(Scheme)


def make_result(
    scheme: Scheme,
    secret: bytes,
    *,
    seed: bytes = b"seed",
    nonce: bytes = b"\x07" * 32,
    spec: OutputSpec | None = None,
) -> dict[str, Any]:
    """A result shaped as the API returns it, proved here with ``secret`` (no enclave, no envelope)."""
    spec = spec or OutputSpec(OutputKind.WORDS, 2)
    data = AlphaInput(scheme.value, "acc_01T", "rnd_01T", "key_01T", 1, seed, nonce, spec)
    message = alpha(data)
    proof = vrf.prove(scheme, secret, message)
    beta = vrf.proof_to_hash(scheme, proof)
    output = derive(beta, spec)
    return {
        "id": data.request_id,
        "account_id": data.account_id,
        "scheme": scheme.value,
        "key_id": data.key_id,
        "key_version": data.key_version,
        "public_key": vrf.public_key(scheme, secret).hex(),
        "seed": seed.hex(),
        "nonce": nonce.hex(),
        "alpha": message.hex(),
        "proof": proof.hex(),
        "output": beta.hex(),
        "words": None if output.words is None else [str(w) for w in output.words],
        "bytes": None if output.data is None else output.data.hex(),
        "min": None if spec.minimum is None else str(spec.minimum),
        "max": None if spec.maximum is None else str(spec.maximum),
    }
