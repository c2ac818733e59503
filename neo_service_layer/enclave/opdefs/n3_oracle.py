"""The Neo N3 native oracle node ops (handlers: ``handlers/n3_oracle.py``; docs/oracle.md §9).

- ``chains.n3_oracle_public_key``: the enclave's N3 oracle key (``enclave/n3_oracle_key.py``), for
  the committee to designate (RoleManagement ``designateAsRole(8, [keys])``);
- ``chains.n3_oracle_response``: one ``OracleRequest`` of the native OracleContract as the chain stores
  it (id, url, filter, gasForResponse), the designated nodes and the chain's fee settings → the
  enclave fetches and filters the URL itself, builds the response transaction as neo-go's
  ``CreateResponseTx`` does (``crypto/n3_oracle_tx.py``) and signs it with the oracle key.

What the host supplies besides the request — designated keys, fee settings, ``valid_until_block`` —
shapes only whether the chain accepts the transaction and how ``gasForResponse`` is split between the
fees; the response's code and result come from the enclave's own fetch, and the signature covers them.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.keys import HexBytes
from neo_service_layer.enclave.opdefs.oracle import CODE_NAME_PATTERN
from neo_service_layer.enclave.schemas import EnclaveModel, NoArgs
from neo_service_layer.enclave.signing import P256_SIGNATURE_BYTES

P256_PUBLIC_KEY_SIZE: Final = 33
#: neo-go ``pkg/core/native/oracle.go``: maxURLLength 256, maxFilterLength 128 (bytes).
MAX_URL_BYTES: Final = 256
MAX_FILTER_BYTES: Final = 128
#: RoleManagement accepts at most 32 keys per role (neo-go ``native/designate.go`` maxNodeCount).
MAX_ORACLE_NODES: Final = 32
MAX_INT64: Final = 2**63 - 1
MAX_EXTRA_VUBS: Final = 2

PublicKey = Annotated[HexBytes, Field(min_length=P256_PUBLIC_KEY_SIZE, max_length=P256_PUBLIC_KEY_SIZE)]


class N3OraclePublicKeyResult(EnclaveModel):
    """The oracle key: what ``designateAsRole`` takes, and its standard account."""

    public_key: PublicKey
    script_hash: Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]
    address: str


class N3OracleResponseArgs(EnclaveModel):
    """One native oracle request and what the response transaction needs from the chain."""

    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    request_id: Annotated[int, Field(ge=0, le=2**64 - 1)]
    url: Annotated[str, Field(max_length=MAX_URL_BYTES)]  # "" is a request too: ProtocolNotSupported
    filter: Annotated[str, Field(max_length=MAX_FILTER_BYTES)] | None
    gas_for_response: Annotated[int, Field(ge=0, le=MAX_INT64)]
    valid_until_block: Annotated[int, Field(ge=1, le=0xFFFFFFFF)]
    #: The designated oracle nodes (RoleManagement ``getDesignatedByRole(8, height + 1)``).
    oracle_nodes: Annotated[list[PublicKey], Field(min_length=1, max_length=MAX_ORACLE_NODES)]
    exec_fee_factor_pico: Annotated[int, Field(ge=1, le=MAX_INT64)]
    fee_per_byte: Annotated[int, Field(ge=0, le=MAX_INT64)]
    #: Sign the same response with these ValidUntilBlocks too (several nodes: the one another node
    #: built may differ, see docs/oracle.md §9); no second fetch.
    extra_valid_until_blocks: Annotated[
        list[Annotated[int, Field(ge=1, le=0xFFFFFFFF)]], Field(max_length=MAX_EXTRA_VUBS)
    ] = Field(default_factory=list)


class N3OracleVariant(EnclaveModel):
    """The response signed with another ValidUntilBlock (``extra_valid_until_blocks``)."""

    valid_until_block: int
    tx_hash: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)]
    message_signature: Annotated[
        HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)
    ]


class N3OracleResponseResult(EnclaveModel):
    """The response, its transaction and the oracle key's signature of it.

    ``transaction`` is complete (both witnesses) when this key's signature is all the nodes' multisig
    needs (one designated node); otherwise it is None and ``signature`` (with ``message_signature``) is
    what the other nodes' ``submitoracleresponse`` takes (neo-go exchanges them over that RPC)."""

    request_id: int
    code: Annotated[str, Field(pattern=CODE_NAME_PATTERN)]
    result: B64Bytes
    detail: str
    tx_hash: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
    unsigned_transaction: B64Bytes
    transaction: B64Bytes | None
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)]
    #: Over ``public key ‖ uint64le(request id) ‖ signature``: for other nodes' ``submitoracleresponse``.
    message_signature: Annotated[
        HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)
    ]
    public_key: PublicKey
    system_fee: int
    network_fee: int
    variants: list[N3OracleVariant] = Field(default_factory=list)


N3_ORACLE_PUBLIC_KEY: Final = Op("chains.n3_oracle_public_key", NoArgs, N3OraclePublicKeyResult)
N3_ORACLE_RESPONSE: Final = Op("chains.n3_oracle_response", N3OracleResponseArgs, N3OracleResponseResult)
