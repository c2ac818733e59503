"""Offline verification of oracle answers: no network, no trust in the service (docs/oracle.md).

::

    record = response.json()                             # POST /v1/oracle/requests or GET .../{id}
    identity = verify_attestation(report, ...)           # the enclave's identity, checked on your own
    answer = verify_oracle_result(record, identity)
    answer.code, answer.result                           # OracleCode.Success, b'["43000.12"]'

:func:`verify_oracle_result` checks the enclave's signatures over the answer *and* over the request the
record says was asked (``record["request"]``: sources, filter, aggregation, limits), then that every
field the record shows outside the envelope (code, result, per-source reports) is the signed one, and
finally recomputes the agreement of the sources from their signed results (``oracle/aggregate.py``), so
a reader needs to trust neither the API nor its database for any of it. A mismatch raises
:class:`SignatureInvalid` (the envelope) or :class:`OracleVerificationFailed` (the record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from neo_service_layer.client.attestation import VerifiedIdentity, verify_result
from neo_service_layer.enclave.opdefs.oracle import FETCH, FetchArgs, FetchResult
from neo_service_layer.enclave.oracle.aggregate import (
    AggregateMode,
    AggregateSpec,
    Agreement,
    SourceOutcome,
    aggregate,
)
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.extract import ExtractSpec, ValueType, abi_encode
from neo_service_layer.errors import NSLError, OracleVerificationFailed


@dataclass(frozen=True, slots=True)
class VerifiedSource:
    host: str
    code: OracleCode
    result: bytes
    tls_leaf_sha256: bytes | None


@dataclass(frozen=True, slots=True)
class VerifiedOracleAnswer:
    """What the enclave signed: the answer, each source's part in it, and when."""

    request_id: str
    code: OracleCode
    result: bytes
    sources: tuple[VerifiedSource, ...]
    fetched_at_ms: int


def verify_oracle_result(record: Mapping[str, Any], identity: VerifiedIdentity) -> VerifiedOracleAnswer:
    """The verified answer of an oracle request ``record`` as the API returns it (module docstring)."""
    try:
        request = {"op": FETCH.name, "account_id": record["account_id"], "params": record["request"]}
        envelope = record["envelope"]
    except (KeyError, TypeError) as exc:
        raise OracleVerificationFailed(f"not an oracle request record: {exc}") from exc
    signed = verify_result(envelope, identity, request=request)
    try:
        FetchArgs.model_validate({"account_id": record["account_id"], **record["request"]}, strict=False)
        result = FetchResult.model_validate(signed, strict=False)
    except (ValueError, NSLError) as exc:
        raise OracleVerificationFailed(f"the signed request or answer is malformed: {exc}") from exc
    _check_record(record, result)
    _check_agreement(record["request"], result)
    return VerifiedOracleAnswer(
        request_id=result.request_id,
        code=OracleCode[result.code],
        result=result.result,
        sources=tuple(
            VerifiedSource(
                s.host,
                OracleCode[s.code],
                s.result,
                None if s.tls_leaf_sha256 is None else bytes.fromhex(s.tls_leaf_sha256),
            )
            for s in result.sources
        ),
        fetched_at_ms=result.fetched_at,
    )


def _check_record(record: Mapping[str, Any], result: FetchResult) -> None:
    """The fields shown beside the envelope are the signed ones."""
    shown = (record.get("id"), record.get("code"), record.get("result"), record.get("abi"))
    signed = (
        result.request_id,
        result.code,
        result.result.decode() if result.result else None,
        None if result.abi is None else "0x" + result.abi.hex(),
    )
    if shown != signed:
        raise OracleVerificationFailed("the record's id, code, result or abi is not what the enclave signed")
    reports = record.get("sources") or []
    if len(reports) != len(result.sources) or any(
        (shown_source.get("host"), shown_source.get("code"), shown_source.get("result"))
        != (s.host, s.code, s.result.decode() if s.result else None)
        for shown_source, s in zip(reports, result.sources, strict=False)
    ):
        raise OracleVerificationFailed("the record's sources are not what the enclave signed")


def _check_agreement(params: Mapping[str, Any], result: FetchResult) -> None:
    """The answer is what the sources' signed results agree on under the request's rules."""
    spread = params.get("max_spread")
    spec = AggregateSpec(
        AggregateMode(params.get("aggregate", AggregateMode.IDENTICAL)),
        params.get("quorum"),
        None if spread is None else Decimal(spread),
    )
    outcomes = [SourceOutcome(OracleCode[s.code], s.result) for s in result.sources]
    agreed = aggregate(spec, outcomes)
    extract = params.get("extract")
    if extract is not None and agreed.code is OracleCode.Success:
        try:
            abi: bytes | None = abi_encode(
                agreed.result, ExtractSpec(ValueType(extract["type"]), extract["decimals"])
            )
        except OracleFailure:
            agreed, abi = Agreement(OracleCode.Error, b""), None
    else:
        abi = None
    if (agreed.code.name, agreed.result, abi) != (result.code, result.result, result.abi):
        raise OracleVerificationFailed("the answer is not what the sources' results agree on")
