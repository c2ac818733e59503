"""Account master key op beyond creation: ``amk.rewrap`` moves wrapped items to a new AMK version.

:class:`SealedAmk` is how every op that opens an AMK takes it: its version and the sealed blob the host
stores (``amk_create``, ``opdefs/builtin.py``).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.schemas import EnclaveModel, SealedBytes
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.ids import AccountId

MAX_REWRAP_ITEMS: Final = 500


class WrappedItem(EnclaveModel):
    purpose: Annotated[WrapPurpose, Field(strict=False)]  # a string on the wire
    context: Annotated[str, Field(min_length=1, max_length=200)]
    from_version: Annotated[int, Field(ge=1)]
    wrapped: B64Bytes


class SealedAmk(EnclaveModel):
    version: Annotated[int, Field(ge=1)]
    sealed: SealedBytes


class RewrapArgs(EnclaveModel):
    account_id: AccountId
    sources: Annotated[list[SealedAmk], Field(min_length=1, max_length=64)]
    target: SealedAmk
    items: Annotated[list[WrappedItem], Field(min_length=1, max_length=MAX_REWRAP_ITEMS)]


class RewrapResult(EnclaveModel):
    target_version: int
    wrapped: list[B64Bytes]


REWRAP: Final = Op("amk.rewrap", RewrapArgs, RewrapResult)
