"""Request and response bodies of ``/v1/randomness``.

Request bodies check JSON types only; the rules (counts, ranges, seed, scheme) are checked by
``services.randomness.params`` so that each failure has its own stable ``randomness_*`` code. Binary
values are lowercase hex; words and range bounds are decimal strings (uint256 / int256 do not fit
JSON numbers safely); ``envelope`` is the enclave's signed result unchanged (``client.verify_result``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from neo_service_layer.api.routes.schemas import StrictBody
from neo_service_layer.enclave.crypto.vrf import DEFAULT_SCHEME
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.ids import ResourceId
from neo_service_layer.services.randomness.models import RandomnessRequest
from neo_service_layer.services.randomness.params import RandomnessParams, parse_request

# Long enough for any seed the service would refuse with its own code (256 bytes = 512 digits).
MAX_SEED_CHARS = 4096
MAX_BATCH_ITEMS = 1000  # the service's limit (100) answers randomness_batch_size below this
Bound = Annotated[int | Annotated[str, Field(max_length=100)], Field(description="integer or decimal string")]


class RandomnessIn(StrictBody):
    """One request: ``words`` (1-500, default 1; optional integer range) or ``bytes`` (1-1024)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    scheme: str = Field(default=DEFAULT_SCHEME.value, max_length=100)
    seed: str | None = Field(default=None, max_length=MAX_SEED_CHARS, description="hex, at most 256 bytes")
    key_id: ResourceId | None = Field(default=None, description="Default key")
    words: int | None = Field(default=None, strict=True)
    data_bytes: int | None = Field(default=None, strict=True, alias="bytes")
    min: Bound | None = None
    max: Bound | None = None

    def params(self) -> RandomnessParams:
        """The checked request (typed 422s for every rule, docs/randomness.md §5)."""
        return parse_request(
            scheme=self.scheme,
            seed=self.seed,
            key_id=self.key_id,
            words=self.words,
            data_bytes=self.data_bytes,
            minimum=self.min,
            maximum=self.max,
        )


class RandomnessBatchIn(StrictBody):
    requests: list[RandomnessIn] = Field(max_length=MAX_BATCH_ITEMS)


class RandomnessOut(BaseModel):
    """A recorded request and its result: everything ``client.verify_randomness`` needs."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    account_id: str
    scheme: str
    key_id: str
    key_version: int
    public_key: str
    seed: str
    nonce: str
    alpha: str
    proof: str
    output: str = Field(description="beta, the VRF output (hex)")
    words: list[str] | None = Field(default=None, description="uint256 words or ranged integers (decimal)")
    data_bytes: str | None = Field(default=None, alias="bytes", description="hex")
    min: str | None = None
    max: str | None = None
    batch_id: str | None = None
    created_at: datetime
    envelope: SignedResult

    @classmethod
    def of(cls, record: RandomnessRequest) -> RandomnessOut:
        return cls(
            id=record.id,
            account_id=record.account_id,
            scheme=record.scheme,
            key_id=record.key_id,
            key_version=record.key_version,
            public_key=record.public_key.hex(),
            seed=record.seed.hex(),
            nonce=record.nonce.hex(),
            alpha=record.alpha.hex(),
            proof=record.proof.hex(),
            output=record.beta.hex(),
            words=record.output.get("words"),
            data_bytes=record.output.get("bytes"),
            min=record.range_min,
            max=record.range_max,
            batch_id=record.batch_id,
            created_at=record.created_at,
            envelope=SignedResult.model_validate(record.envelope),
        )


class RandomnessBatchOut(BaseModel):
    batch_id: str
    results: list[RandomnessOut]


class VerifyIn(StrictBody):
    """A proof to check: ``alpha`` and ``proof``, or a whole ``result`` (then alpha is recomputed)."""

    scheme: str | None = Field(default=None, max_length=100, description=f"Default: {DEFAULT_SCHEME.value}")
    public_key: str = Field(max_length=200, description="hex")
    alpha: str | None = Field(default=None, max_length=MAX_SEED_CHARS, description="hex")
    proof: str | None = Field(default=None, max_length=400, description="hex")
    result: dict[str, Any] | None = None


class VerifyOut(BaseModel):
    valid: bool
    output: str | None = Field(description="beta (hex) when valid")
    reason: str | None = Field(description="why not, when invalid (client.VerificationReason)")
