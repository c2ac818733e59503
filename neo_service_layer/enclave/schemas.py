"""Typed schemas of the enclave protocol: the base classes op schemas build on, and the built-in ops.

Every op has an args model and a result model (pydantic, strict, unknown fields rejected). Binary
values are :data:`B64Bytes` (base64 on the wire). Models are strict so that a value has exactly one
accepted JSON form — ``"5"`` is not an integer — and the request a client hashes is the request the
enclave signs.

Signed ops take :class:`SignedArgs`: ``account_id`` plus public parameters. Fields annotated with
:data:`UNSIGNED` (e.g. :data:`SealedBytes`, the host's sealed blobs) are left out of the signed
``params``, which are "what the client asked for" (docs/enclave.md §3).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.ids import AccountId

MAX_AMK_VERSION: Final = 2**31 - 1

Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
HexPublicKey = Annotated[str, Field(pattern=r"^0[23][0-9a-f]{64}$")]  # SEC 1 compressed point
HexX25519Key = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # RFC 7748 u-coordinate, 32 bytes
HexP256Signature = Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")]  # r ‖ s
HexK1Signature = Annotated[str, Field(pattern=r"^[0-9a-f]{128}(1b|1c)$")]  # r ‖ s ‖ v, v ∈ {27, 28}
EvmAddress = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
TeeName = Literal["none", "sgx", "tdx"]
BackendLabel = Literal["software", "sgx", "tdx"]


class Unsigned:
    """Field metadata: this argument is not part of the signed request ``params``."""

    def __repr__(self) -> str:
        return "UNSIGNED"


UNSIGNED: Final = Unsigned()


def _marked_unsigned(annotation: Any) -> bool:
    """Whether ``annotation`` carries :data:`UNSIGNED`, also inside ``X | None`` or other unions."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return any(isinstance(item, Unsigned) for item in metadata) or _marked_unsigned(base)
    return any(_marked_unsigned(arg) for arg in get_args(annotation))


# A sealed blob handed in by the host: binary, and never part of what a signature covers.
SealedBytes = Annotated[B64Bytes, UNSIGNED]


class EnclaveModel(BaseModel):
    """Base of every op schema: strict types, unknown fields rejected, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SignedArgs(EnclaveModel):
    """Args of an op whose result the enclave signs: the account and the public request parameters."""

    account_id: AccountId

    def params(self) -> dict[str, Any]:
        """The signed request parameters: every field but ``account_id`` and :data:`UNSIGNED` ones."""
        return self.model_dump(mode="json", exclude=_unsigned_fields(type(self)))


@functools.cache
def _unsigned_fields(model: type[SignedArgs]) -> Mapping[str, bool]:
    """The fields :meth:`SignedArgs.params` leaves out, once per args model (its fields never change);
    read-only, as it is shared by every call."""
    return MappingProxyType(
        {"account_id": True}
        | {
            name: True
            for name, field in model.model_fields.items()
            if any(isinstance(item, Unsigned) for item in field.metadata)
            or _marked_unsigned(field.annotation)
        }
    )


class ResultSignatures(EnclaveModel):
    p256: HexP256Signature
    k1: HexK1Signature


class SignedResult(EnclaveModel):
    """What a signed op returns and what ``client.attestation.verify_result`` checks (docs §3)."""

    result: dict[str, Any]
    request_hash: Hex32
    result_hash: Hex32
    signatures: ResultSignatures


class NoArgs(EnclaveModel):
    """Args of ops that take none."""


class PingResult(EnclaveModel):
    protocol_version: int
    version: str  # the package version of the enclave's code
    backend: BackendLabel
    tee: TeeName


class IdentityInfo(EnclaveModel):
    p256: HexPublicKey
    k1: HexPublicKey
    k1_address: EvmAddress
    x25519: HexX25519Key  # the transport key: clients seal secret values to it (docs/secrets.md)


class ReportSignature(EnclaveModel):
    p256: HexP256Signature
    k1: HexK1Signature


class AttestationReport(EnclaveModel):
    """The enclave's attestation report, as ``GET /v1/attestation`` returns it (docs/enclave.md §4)."""

    format: Literal["nsl-attestation-v1"] = "nsl-attestation-v1"
    tee: TeeName
    backend: BackendLabel
    protocol_version: int
    measurement: Hex32
    identity: IdentityInfo
    report_data: Hex32
    quote: B64Bytes | None
    signature: ReportSignature


class AmkCreateArgs(EnclaveModel):
    account_id: AccountId
    version: int = Field(ge=1, le=MAX_AMK_VERSION)


class AmkCreateResult(EnclaveModel):
    """A fresh account master key, sealed for ``(account_id, version)``; the host stores ``sealed``."""

    account_id: AccountId
    version: int
    sealed: B64Bytes
