"""Offline verification of a function run: no network, no trust in the service (docs/functions.md).

::

    identity = verify_attestation(report, ...)               # the enclave's identity, checked on your own
    run = verify_function_result(envelope, identity, account_id=account, params=params)
    run.status, run.result                                   # "succeeded", '{"sum": 3}'

``params`` are the signed request parameters of ``functions.run`` — ``function_id``, ``version``,
``run_id``, ``source``, ``args``, ``limits``, ``allowed_domains`` — from the run record (id, version,
args) and its version as ``GET /v1/functions/{id}/versions`` lists it (source, limits, domains: a
version never changes, so an old run's params can be rebuilt after any PATCH).
:func:`verify_function_result` checks the enclave's signatures over the outcome and over exactly that
request (so the source and args are the ones that ran), then recomputes the SHA-256 of
the source and of the canonical args and compares them, and the run, function and version the outcome
names, with the request's. A bad envelope raises :class:`SignatureInvalid`; an outcome that names other
code, input or run raises :class:`FunctionVerificationFailed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from neo_service_layer.client.attestation import VerifiedIdentity, verify_result
from neo_service_layer.enclave.canonical import CanonicalJSONError, canonical_json
from neo_service_layer.enclave.opdefs.functions import RUN, RunArgs, RunOutcome
from neo_service_layer.errors import FunctionVerificationFailed, NSLError


def verify_function_result(
    envelope: Mapping[str, Any], identity: VerifiedIdentity, *, account_id: str, params: Mapping[str, Any]
) -> RunOutcome:
    """The verified outcome of one run (module docstring); raises unless every check passes."""
    request = {"op": RUN.name, "account_id": account_id, "params": dict(params)}
    signed = verify_result(envelope, identity, request=request)
    try:
        args = RunArgs.model_validate({"account_id": account_id, **params}, strict=False)
        outcome = RunOutcome.model_validate(signed, strict=False)
        args_hash = hashlib.sha256(canonical_json(args.args)).hexdigest()
    except (ValueError, CanonicalJSONError, NSLError) as exc:
        raise FunctionVerificationFailed(f"the signed request or outcome is malformed: {exc}") from exc
    if outcome.source_sha256 != hashlib.sha256(args.source.encode("utf-8")).hexdigest():
        raise FunctionVerificationFailed("source_sha256 is not the hash of the source that was asked to run")
    if outcome.args_sha256 != args_hash:
        raise FunctionVerificationFailed("args_sha256 is not the hash of the canonical args")
    if (outcome.run_id, outcome.function_id, outcome.version) != (
        args.run_id,
        args.function_id,
        args.version,
    ):
        raise FunctionVerificationFailed("the outcome names another run, function or version")
    return outcome
