"""The randomness service's enclave op ``randomness.prove`` (handler: ``handlers/randomness.py``).

The args are a key version (:class:`KeyVersionArgs`: signed key id, version and type; unsigned wrapped
material and sealed AMK) plus the request: scheme, request id, caller seed and output spec — never a
nonce: the enclave derives it from the request (``handlers/randomness.py``). ``min`` / ``max`` travel
as decimal strings: int256 values do not fit the signed canonical JSON (integers there stop at
2^53 - 1). Results carry
fixed-size values as lowercase hex and words as decimal strings, for the same reason.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.crypto.randomness import (
    MAX_BYTES,
    MAX_SEED_BYTES,
    MAX_WORDS,
    OutputKind,
    OutputSpec,
)
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.enclave.opdefs.base import SignedOp
from neo_service_layer.enclave.opdefs.keys import HexBytes, KeyVersionArgs
from neo_service_layer.enclave.schemas import EnclaveModel
from neo_service_layer.ids import ResourceId

# int256 in decimal: at most 77 digits and a sign.
DECIMAL_PATTERN: Final = r"^-?(0|[1-9][0-9]{0,77})$"
MAX_COUNT: Final = max(MAX_WORDS, MAX_BYTES)

SchemeField = Annotated[Scheme, Field(strict=False)]
OutputKindField = Annotated[OutputKind, Field(strict=False)]
Decimal = Annotated[str, Field(pattern=DECIMAL_PATTERN)]


class ProveArgs(KeyVersionArgs):
    """Prove one randomness request with the key version (the op checks the type fits the scheme)."""

    scheme: SchemeField
    request_id: ResourceId
    seed: Annotated[B64Bytes, Field(max_length=MAX_SEED_BYTES)]
    output: OutputKindField
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    min: Decimal | None = None
    max: Decimal | None = None

    def spec(self) -> OutputSpec:
        """The output spec (raises the service's typed errors for an invalid one)."""
        return OutputSpec(
            self.output,
            self.count,
            None if self.min is None else int(self.min),
            None if self.max is None else int(self.max),
        )


class ProveResult(EnclaveModel):
    """The proof and everything needed to check it offline; exactly one of ``words`` / ``data`` is set."""

    scheme: SchemeField
    request_id: str
    key_id: str
    version: int
    public_key: HexBytes
    nonce: HexBytes
    alpha: HexBytes
    proof: HexBytes
    beta: HexBytes
    words: list[Decimal] | None
    data: HexBytes | None


PROVE: Final = SignedOp("randomness.prove", ProveArgs, ProveResult)
