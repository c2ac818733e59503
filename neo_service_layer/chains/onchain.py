"""On-chain services: what each service adds to the shared request → fulfil path, per chain family.

A contract asks the NSL gateway for a service (``randomness``, ``oracle``, later ``functions``, …). The
watchers, fulfillers, nonces, fee bumps, budgets and reconciliation are the same for every service
(``chains/evm/fulfiller.py``, ``chains/neo_n3/fulfiller.py``); what differs is only

- which enclave op produces the signed result (``op``),
- how a request as the gateway stored it becomes that op's arguments (``args``), and
- how the op's answer becomes what the gateway's ``fulfill`` takes: the result bytes and the enclave's
  signature over the chain's fulfilment digest or message (``fulfilment``).

An :class:`OnchainService` says that for each chain family it is offered on, and :data:`SERVICES` lists
them. Adding a service is writing its enclave op and adding one entry here; a request for a service
without an entry for its chain fails with ``service_not_supported_yet``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from neo_service_layer.chains.evm.gateway_rpc import StoredRequest
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.neo_n3.requests import N3Request, N3StoredRequest
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.chains import (
    EVM_RANDOMNESS_FULFILMENT,
    N3_RANDOMNESS_FULFILMENT,
    EvmRandomnessFulfilmentArgs,
    EvmRandomnessFulfilmentResult,
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
)
from neo_service_layer.enclave.opdefs.oracle_chains import (
    EVM_ORACLE_FULFILMENT,
    N3_ORACLE_FULFILMENT,
    EvmOracleFulfilmentArgs,
    EvmOracleFulfilmentResult,
    N3OracleFulfilmentArgs,
    N3OracleFulfilmentResult,
)
from neo_service_layer.enclave.schemas import EnclaveModel


@dataclass(frozen=True, slots=True)
class Fulfilment:
    """What ``fulfill`` takes besides the request id: the result and the enclave's signature of it."""

    result: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class EvmRequestContext:
    """An EVM request as the watcher saw it and the gateway stores it (``getRequest``)."""

    chain_id: int
    gateway: str  # EIP-55
    request: ServiceRequest
    stored: StoredRequest


@dataclass(frozen=True, slots=True)
class N3RequestContext:
    """A Neo N3 request as its ``Request`` notification carries it and the gateway stores it."""

    network_magic: int
    gateway: str  # 0x + big-endian hex
    request: N3Request
    stored: N3StoredRequest


@dataclass(frozen=True, slots=True)
class Adapter[C, A: EnclaveModel, R: EnclaveModel]:
    """One service on one chain family: its enclave op, and the two conversions around it."""

    op: Op[A, R]
    args: Callable[[C], A]
    fulfilment: Callable[[R], Fulfilment]


type EvmAdapter = Adapter[EvmRequestContext, Any, Any]
type N3Adapter = Adapter[N3RequestContext, Any, Any]


@dataclass(frozen=True, slots=True)
class OnchainService:
    """A service contracts request through the gateways, and how each chain family serves it."""

    name: str  # the gateway's service name (EVM: ASCII, left-aligned bytes32)
    evm: EvmAdapter | None = None
    n3: N3Adapter | None = None


def _evm_randomness_args(c: EvmRequestContext) -> EvmRandomnessFulfilmentArgs:
    return EvmRandomnessFulfilmentArgs(
        chain_id=c.chain_id,
        gateway=c.gateway,
        request_id=c.request.request_id,
        payload_hash=c.stored.payload_hash,
        vrf_key_version=c.stored.vrf_key_version,
    )


def _n3_randomness_args(c: N3RequestContext) -> N3RandomnessFulfilmentArgs:
    return N3RandomnessFulfilmentArgs(
        network_magic=c.network_magic,
        gateway=c.gateway,
        request_id=c.request.request_id,
        payload=c.request.payload,
        vrf_key_version=c.stored.vrf_key_version,
    )


def _evm_oracle_args(c: EvmRequestContext) -> EvmOracleFulfilmentArgs:
    # The payload itself: the enclave reads the URL and filter from it and hashes it for the digest.
    return EvmOracleFulfilmentArgs(
        chain_id=c.chain_id, gateway=c.gateway, request_id=c.request.request_id, payload=c.request.payload
    )


def _n3_oracle_args(c: N3RequestContext) -> N3OracleFulfilmentArgs:
    return N3OracleFulfilmentArgs(
        network_magic=c.network_magic,
        gateway=c.gateway,
        request_id=c.request.request_id,
        payload=c.request.payload,
    )


def _signed(
    result: EvmRandomnessFulfilmentResult
    | N3RandomnessFulfilmentResult
    | EvmOracleFulfilmentResult
    | N3OracleFulfilmentResult,
) -> Fulfilment:
    return Fulfilment(result=result.result, signature=result.signature)


#: Verifiable randomness (docs/randomness.md, docs/dyvrf.md): the DY-VRF proof of the request's own
#: input under the platform key version it is pinned to, signed by the enclave's identity.
RANDOMNESS: Final = OnchainService(
    "randomness",
    evm=Adapter(EVM_RANDOMNESS_FULFILMENT, _evm_randomness_args, _signed),
    n3=Adapter(N3_RANDOMNESS_FULFILMENT, _n3_randomness_args, _signed),
)

#: Web data (docs/oracle.md §8): one URL and a filter in the payload, the N3 response code and the
#: filtered data (at most 1,024 bytes) in the result; not deterministic, so the fulfillers keep the first
#: signed answer and re-send it (chains.fulfilments ``result`` / ``signature``).
ORACLE: Final = OnchainService(
    "oracle",
    evm=Adapter(EVM_ORACLE_FULFILMENT, _evm_oracle_args, _signed),
    n3=Adapter(N3_ORACLE_FULFILMENT, _n3_oracle_args, _signed),
)

#: Every on-chain service by name.
SERVICES: Final[Mapping[str, OnchainService]] = {service.name: service for service in (RANDOMNESS, ORACLE)}


async def make_fulfilment[C](enclave: EnclaveClient, adapter: Adapter[C, Any, Any], context: C) -> Fulfilment:
    """Run ``adapter``'s enclave op on the request in ``context`` and shape its answer for ``fulfill``."""
    return adapter.fulfilment(await enclave.run(adapter.op, adapter.args(context)))


def evm_adapter(service: str) -> EvmAdapter | None:
    """How EVM gateways serve ``service``, or None when they do not (yet)."""
    entry = SERVICES.get(service)
    return entry.evm if entry is not None else None


def n3_adapter(service: str) -> N3Adapter | None:
    """How Neo N3 gateways serve ``service``, or None when they do not (yet)."""
    entry = SERVICES.get(service)
    return entry.n3 if entry is not None else None
