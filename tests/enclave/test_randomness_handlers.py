"""``randomness.prove`` over the real protocol: proofs verify, the enclave derives the nonce from the
request (the same request always gets the same output, the host cannot choose it), the result is signed
over the public request, and mismatched keys are refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from neo_service_layer.client import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import vrf
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.crypto.randomness import AlphaInput, OutputKind, OutputSpec, alpha, derive
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.enclave.handlers.randomness import request_nonce
from neo_service_layer.enclave.opdefs import keys as keys_ops
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import GenerateArgs
from neo_service_layer.enclave.opdefs.randomness import PROVE, ProveArgs
from neo_service_layer.errors import EnclaveKeyUnusable, EnclaveRejected
from tests.randomness_helpers import SCHEMES

ACCOUNT = "acc_01RANDOMNESS"


async def _prove_args(client: UnixEnclaveClient, scheme: Scheme, **overrides: Any) -> dict[str, Any]:
    created = await client.amk_create(ACCOUNT, 1)
    amk = SealedAmk(version=1, sealed=created.sealed)
    generated = await client.run(
        keys_ops.GENERATE,
        GenerateArgs(account_id=ACCOUNT, key_id="key_01R", version=1, key_type=scheme.key_type, amk=amk),
    )
    return {
        "account_id": ACCOUNT,
        "key_id": "key_01R",
        "version": 1,
        "key_type": scheme.key_type,
        "amk": amk,
        "material": generated.wrapped,
        "scheme": scheme,
        "request_id": "rnd_01A",
        "seed": b"caller seed",
        "output": OutputKind.WORDS,
        "count": 3,
        "min": "-5",
        "max": "5",
    } | overrides


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_prove_verifies_and_is_signed(
    client: UnixEnclaveClient, ctx: EnclaveContext, scheme: Scheme
) -> None:
    args = ProveArgs(**await _prove_args(client, scheme))
    signed = await client.run(PROVE, args)
    result = signed.result
    spec = OutputSpec(OutputKind.WORDS, 3, -5, 5)
    expected_alpha = alpha(
        AlphaInput(scheme.value, ACCOUNT, "rnd_01A", "key_01R", 1, b"caller seed", result.nonce, spec)
    )
    assert result.alpha == expected_alpha
    assert len(result.nonce) == 32
    assert vrf.verify(scheme, result.public_key, result.proof, expected_alpha) == result.beta
    assert result.words == [str(w) for w in derive(result.beta, spec).words or []]
    identity: VerifiedIdentity = verify_attestation(ctx.report, allow_software=True)
    request = {"op": "randomness.prove", "account_id": ACCOUNT, "params": args.params()}
    assert set(args.params()) == {
        "key_id",
        "version",
        "key_type",
        "scheme",
        "request_id",
        "seed",
        "output",
        "count",
        "min",
        "max",
    }
    assert verify_result(signed.envelope, identity, request=request)["beta"] == result.beta.hex()


async def test_the_nonce_is_the_enclaves_and_a_function_of_the_request(
    client: UnixEnclaveClient, ctx: EnclaveContext
) -> None:
    """A compromised host asking again, hoping for a better draw, gets the same output; another request
    id (or key version) gets another nonce; and the host cannot hand in a nonce of its choosing."""
    raw = await _prove_args(client, SCHEMES[0], output=OutputKind.BYTES, count=64, min=None, max=None)
    first = (await client.run(PROVE, ProveArgs(**raw))).result
    again = (await client.run(PROVE, ProveArgs(**raw))).result
    assert again == first
    other = ProveArgs(**(raw | {"request_id": "rnd_01B"}))
    second = (await client.run(PROVE, other)).result
    assert (second.nonce, second.data) != (first.nonce, first.data)
    assert first.nonce == request_nonce(ctx, ProveArgs(**raw))
    with pytest.raises(ValidationError):
        ProveArgs(**(raw | {"nonce": bytes(32)}))


async def test_a_host_chosen_nonce_is_refused_on_the_wire(client: UnixEnclaveClient) -> None:
    raw = await _prove_args(client, SCHEMES[0], output=OutputKind.BYTES, count=8, min=None, max=None)
    wire = ProveArgs(**raw).model_dump(mode="json") | {"nonce": base64.b64encode(bytes(32)).decode()}
    with pytest.raises(EnclaveRejected) as refused:
        await client._roundtrip("randomness.prove", wire)  # what a compromised host would send
    assert refused.value.extra["enclave_code"] == "invalid_args"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"key_type": KeyType.SECP256K1}, EnclaveKeyUnusable),  # the key type does not prove the scheme
        ({"min": "5", "max": "-5"}, EnclaveRejected),  # an invalid spec: invalid_args
        ({"output": OutputKind.BYTES}, EnclaveRejected),  # a range with bytes
        ({"key_id": "key_01B"}, EnclaveRejected),  # another key's row: the wrap context differs
    ],
    ids=["type-mismatch", "min>max", "range-with-bytes", "other-key"],
)
async def test_refused(client: UnixEnclaveClient, overrides: dict[str, Any], error: type[Exception]) -> None:
    args = ProveArgs(**await _prove_args(client, Scheme.DYVRF_BLS12381, **overrides))
    with pytest.raises(error):
        await client.run(PROVE, args)
