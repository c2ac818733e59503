"""Built-in ops: ``ping`` (liveness, version, backend), ``attest`` (the report), ``amk_create``.

Their schemas are the protocol's own (``enclave/schemas.py``): the attestation report is also what
``GET /v1/attestation`` returns and what clients verify.
"""

from __future__ import annotations

from typing import Final

from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.schemas import (
    AmkCreateArgs,
    AmkCreateResult,
    AttestationReport,
    NoArgs,
    PingResult,
)

PING: Final = Op("ping", NoArgs, PingResult)
ATTEST: Final = Op("attest", NoArgs, AttestationReport)
AMK_CREATE: Final = Op("amk_create", AmkCreateArgs, AmkCreateResult)
