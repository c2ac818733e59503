"""Offline verification of the enclave's attestation report and signed results (docs/enclave.md §3, §4).

Nothing here touches the network. A typical flow::

    identity = verify_attestation(report, expected_measurement=RELEASE_MEASUREMENT,
                                  collateral=collateral_json)        # once, from GET /v1/attestation
    result = verify_result(signed, identity, request={"op": ..., "account_id": ..., "params": ...})

``verify_attestation`` checks that the report is internally consistent (report data recomputed from
the identity keys and the measurement, both self-signatures, the EVM address), that the measurement is
the one expected, and — on hardware — that a DCAP quote verified by dcap-qvl carries that report data.
A software report (``tee: "none"``) proves nothing about the machine, so it is refused unless the
caller opts in with ``allow_software=True``; it is then returned with ``hardware=False``, never as
hardware. ``verify_result`` checks a result's hashes and both signatures against a verified identity.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.attestation import attestation_report_data
from neo_service_layer.enclave.canonical import CanonicalJSONError, request_hash, result_hash
from neo_service_layer.enclave.schemas import AttestationReport, SignedResult
from neo_service_layer.enclave.tee.base import TEE_OF_BACKEND, quote_report_data
from neo_service_layer.enclave.tee.verify import (
    DEFAULT_ACCEPTED_TCB_STATUSES,
    Collateral,
    VerifiedQuote,
    verify_quote,
)
from neo_service_layer.errors import AttestationInvalid, SignatureInvalid


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """An enclave identity whose attestation verified: what results are checked against."""

    tee: str  # "none" | "sgx" | "tdx"
    hardware: bool
    measurement: str  # hex, the enclave code measurement
    p256: bytes  # compressed SEC 1 public key (Neo N3)
    k1: bytes  # compressed SEC 1 public key (EVM)
    k1_address: str  # EIP-55
    x25519: bytes  # the X25519 transport key secret values are sealed to (client.secrets)
    report_data: bytes
    quote: VerifiedQuote | None  # the verified quote (hardware only)

    @property
    def tee_measurement(self) -> str | None:
        """MRENCLAVE (SGX) or MRTD (TDX) as hex, from the verified quote; None for software."""
        return self.quote.info.measurement.hex() if self.quote is not None else None


def verify_attestation(
    report: Mapping[str, Any] | AttestationReport,
    *,
    expected_measurement: str | None = None,
    allow_software: bool = False,
    collateral: Collateral | None = None,
    root_ca_der: bytes | None = None,
    now: int | None = None,
    expected_tee_measurement: str | None = None,
    accepted_tcb_statuses: Collection[str] = DEFAULT_ACCEPTED_TCB_STATUSES,
) -> VerifiedIdentity:
    """Verify ``report`` offline; :class:`AttestationInvalid` (or a quote error subclass) if it fails.

    ``collateral`` (Intel PCS/PCCS collateral for the quote's platform, as dcap-qvl's object or its
    JSON) is required for hardware reports; ``root_ca_der`` replaces the Intel SGX Root CA;
    ``expected_tee_measurement`` pins MRENCLAVE / MRTD (hex).
    """
    parsed = _parse_report(report)
    if TEE_OF_BACKEND[parsed.backend] != parsed.tee:
        raise AttestationInvalid(f"backend {parsed.backend!r} does not run tee {parsed.tee!r}")
    if parsed.tee == "none" and not allow_software:
        raise AttestationInvalid(
            "the enclave runs the software backend (tee 'none'): it is not hardware-protected; "
            "pass allow_software=True to accept it anyway"
        )
    p256, k1 = bytes.fromhex(parsed.identity.p256), bytes.fromhex(parsed.identity.k1)
    x25519 = bytes.fromhex(parsed.identity.x25519)
    measurement = bytes.fromhex(parsed.measurement)
    try:
        signing.p256_load_public(p256)
        address = signing.evm_address(k1)
    except ValueError as exc:
        raise AttestationInvalid("an identity public key is not a valid curve point") from exc
    if address != parsed.identity.k1_address:
        raise AttestationInvalid("k1_address is not the address of the k1 identity key")
    if x25519 == bytes(32):
        raise AttestationInvalid("the x25519 transport key is the all-zero point")
    report_data = attestation_report_data(p256, k1, x25519, measurement)
    if not hmac.compare_digest(report_data.hex(), parsed.report_data):
        raise AttestationInvalid("report_data does not bind the identity keys and the measurement")
    _check_signatures(report_data, p256, k1, parsed.signature.p256, parsed.signature.k1, AttestationInvalid)
    if expected_measurement is not None and parsed.measurement != expected_measurement.lower():
        raise AttestationInvalid(
            f"measurement {parsed.measurement} is not the expected {expected_measurement.lower()}"
        )
    verified_quote = None
    if parsed.tee == "none":
        if parsed.quote is not None:
            raise AttestationInvalid("a software report carries no quote")
    else:
        verified_quote = _verify_report_quote(
            parsed, report_data, collateral, root_ca_der, now, accepted_tcb_statuses
        )
        tee_measurement = verified_quote.info.measurement.hex()
        if expected_tee_measurement is not None and tee_measurement != expected_tee_measurement.lower():
            raise AttestationInvalid(f"the quote's TEE measurement {tee_measurement} is not the expected one")
    return VerifiedIdentity(
        tee=parsed.tee,
        hardware=parsed.tee != "none",
        measurement=parsed.measurement,
        p256=p256,
        k1=k1,
        k1_address=address,
        x25519=x25519,
        report_data=report_data,
        quote=verified_quote,
    )


def verify_result(
    signed_result: Mapping[str, Any] | SignedResult,
    identity: VerifiedIdentity,
    *,
    request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The verified ``result`` of ``signed_result``; :class:`SignatureInvalid` unless it checks out.

    Checks that ``result_hash`` is the hash of ``result``, that both signatures over the preimage are
    the identity's, and — when ``request`` (``{"op", "account_id", "params"}``) is given — that the
    result answers exactly that request.
    """
    try:
        signed = (
            signed_result
            if isinstance(signed_result, SignedResult)
            else SignedResult.model_validate(dict(signed_result))
        )
    except ValidationError as exc:
        raise SignatureInvalid(f"not a signed enclave result: {exc.error_count()} schema errors") from exc
    try:
        computed_result = result_hash(signed.result)
        computed_request = _request_hash(request) if request is not None else None
    except CanonicalJSONError as exc:
        raise SignatureInvalid(f"the result or request cannot be canonicalized: {exc}") from exc
    if computed_result.hex() != signed.result_hash:
        raise SignatureInvalid("result_hash is not the hash of the result")
    if computed_request is not None and computed_request.hex() != signed.request_hash:
        raise SignatureInvalid("the result answers a different request")
    preimage = signing.result_preimage(bytes.fromhex(signed.request_hash), computed_result)
    _check_signatures(
        preimage, identity.p256, identity.k1, signed.signatures.p256, signed.signatures.k1, SignatureInvalid
    )
    return dict(signed.result)


def _parse_report(report: Mapping[str, Any] | AttestationReport) -> AttestationReport:
    if isinstance(report, AttestationReport):
        return report
    try:
        return AttestationReport.model_validate(dict(report))
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, error["loc"])) for error in exc.errors()}))
        raise AttestationInvalid(f"not an attestation report (invalid: {fields})") from exc


def _request_hash(request: Mapping[str, Any]) -> bytes:
    if set(request) != {"op", "account_id", "params"}:
        raise SignatureInvalid('request must have exactly the keys "op", "account_id" and "params"')
    op, account_id, params = request["op"], request["account_id"], request["params"]
    if not isinstance(op, str) or not isinstance(account_id, str) or not isinstance(params, Mapping):
        raise SignatureInvalid("request op and account_id must be strings, params an object")
    return request_hash(op, account_id, params)


def _check_signatures(
    message: bytes,
    p256: bytes,
    k1: bytes,
    p256_signature: str,
    k1_signature: str,
    error: type[AttestationInvalid] | type[SignatureInvalid],
) -> None:
    if not signing.p256_verify(p256, message, bytes.fromhex(p256_signature)):
        raise error("the P-256 signature does not verify")
    try:
        recovered = signing.k1_recover(message, bytes.fromhex(k1_signature))
    except ValueError as exc:
        raise error("the secp256k1 signature is malformed") from exc
    if recovered != k1:
        raise error("the secp256k1 signature is not the identity key's")


def _verify_report_quote(
    parsed: AttestationReport,
    report_data: bytes,
    collateral: Collateral | None,
    root_ca_der: bytes | None,
    now: int | None,
    accepted_tcb_statuses: Collection[str],
) -> VerifiedQuote:
    if parsed.quote is None:
        raise AttestationInvalid(f"a {parsed.tee} report must carry a quote")
    if collateral is None:
        raise AttestationInvalid(
            "verifying a hardware quote offline needs its collateral (TCB info, QE identity, CRLs from "
            "Intel PCS or a PCCS, e.g. dcap_qvl.get_collateral)"
        )
    verified = verify_quote(
        parsed.quote,
        collateral,
        now=now,
        root_ca_der=root_ca_der,
        accepted_tcb_statuses=accepted_tcb_statuses,
    )
    if verified.info.tee != parsed.tee:
        raise AttestationInvalid(f"the report says {parsed.tee} but the quote is {verified.info.tee}")
    if verified.info.report_data != quote_report_data(report_data):
        raise AttestationInvalid("the quote does not carry this report's report_data")
    return verified
