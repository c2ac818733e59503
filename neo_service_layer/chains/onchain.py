"""On-chain services: what each service adds to the shared request → fulfil path, per chain family.

A contract asks the NSL gateway for a service (``randomness``, ``oracle``, ``functions``, …). The
watchers, fulfillers, nonces, fee bumps, budgets and reconciliation are the same for every service
(``chains/evm/fulfiller.py``, ``chains/neo_n3/fulfiller.py``); what differs is only

- which enclave op produces the signed result (``op``),
- how a request as the gateway stored it becomes that op's arguments (``args``), and
- how the op's answer becomes what the gateway's ``fulfill`` takes: the result bytes and the enclave's
  signature over the chain's fulfilment digest or message (``fulfilment``).

An :class:`OnchainService` says that for each chain family it is offered on, and :data:`SERVICES` lists
them. Adding a service is writing its enclave op and adding one entry here; a request for a service
without an entry for its chain fails with ``service_not_supported_yet``.

Most services make their op's arguments from the request alone (:class:`Adapter`: a pure ``args``).
A service whose arguments live in the host's database — ``functions``: the function a payload names,
its version, its secrets' records, its run row — is a :class:`HostedAdapter`: it names a
:class:`HostStep` that the fulfillers' signers are given by the worker (``worker/chain_fulfil*.py``),
which makes the arguments before the op and records what the op answered after it. The chain layer
stays below the services (the step is passed in, never imported).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol

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
from neo_service_layer.enclave.opdefs.functions_chains import (
    EVM_FUNCTION_FULFILMENT,
    N3_FUNCTION_FULFILMENT,
    EvmFunctionFulfilmentResult,
    N3FunctionFulfilmentResult,
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


class HostStep[C, A: EnclaveModel, R: EnclaveModel](Protocol):
    """The host's I/O around a hosted service's op: its arguments from the database, and its answer
    recorded there. Both are called again on a retry (the fulfiller asks the op until an answer is
    recorded on the fulfilment row), so both must be safe to repeat."""

    async def args(self, context: C) -> A:
        """The op's arguments for the request in ``context``."""
        ...

    async def answered(self, context: C, sent: A, answer: R) -> None:
        """Record what the op answered to ``sent`` (before the answer is sent on chain)."""
        ...


@dataclass(frozen=True, slots=True)
class HostedAdapter[C, A: EnclaveModel, R: EnclaveModel]:
    """One service on one chain family whose op's arguments come from the host's :class:`HostStep`
    named ``host`` (the fulfiller's signer holds the steps by name)."""

    op: Op[A, R]
    host: str
    fulfilment: Callable[[R], Fulfilment]


class HostStepMissing(LookupError):
    """A hosted service's request reached a signer that was not given its step (a wiring error)."""


type EvmAdapter = Adapter[EvmRequestContext, Any, Any] | HostedAdapter[EvmRequestContext, Any, Any]
type N3Adapter = Adapter[N3RequestContext, Any, Any] | HostedAdapter[N3RequestContext, Any, Any]
type HostSteps[C] = Mapping[str, HostStep[C, Any, Any]]
#: No host steps: the simple services' signers need none.
NO_HOST_STEPS: Final[Mapping[str, Any]] = MappingProxyType({})


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
    | N3OracleFulfilmentResult
    | EvmFunctionFulfilmentResult
    | N3FunctionFulfilmentResult,
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

#: The name of the functions service's host step (``services/functions/chain.py``).
FUNCTIONS_HOST: Final = "functions"

#: User functions (docs/functions.md "Calls from contracts"): the payload names a function, the hash of
#: the code it expects and the args; the result is a code, the hash of the code that ran and its JSON
#: result or an error text. The host resolves the function and records the run around the op
#: (:class:`HostedAdapter`); the first signed answer is kept and re-sent, as the oracle's.
FUNCTIONS: Final = OnchainService(
    "functions",
    evm=HostedAdapter(EVM_FUNCTION_FULFILMENT, FUNCTIONS_HOST, _signed),
    n3=HostedAdapter(N3_FUNCTION_FULFILMENT, FUNCTIONS_HOST, _signed),
)

#: Every on-chain service by name.
SERVICES: Final[Mapping[str, OnchainService]] = {
    service.name: service for service in (RANDOMNESS, ORACLE, FUNCTIONS)
}


async def make_fulfilment[C](
    enclave: EnclaveClient,
    adapter: Adapter[C, Any, Any] | HostedAdapter[C, Any, Any],
    context: C,
    hosts: HostSteps[C] = NO_HOST_STEPS,
) -> Fulfilment:
    """Run ``adapter``'s enclave op on the request in ``context`` and shape its answer for ``fulfill``;
    a hosted adapter's arguments come from, and its answer goes to, its step in ``hosts``."""
    if isinstance(adapter, Adapter):
        return adapter.fulfilment(await enclave.run(adapter.op, adapter.args(context)))
    step = hosts.get(adapter.host)
    if step is None:
        raise HostStepMissing(f"the signer has no host step {adapter.host!r} (worker/chain_fulfil*.py)")
    sent = await step.args(context)
    answer = await enclave.run(adapter.op, sent)
    await step.answered(context, sent, answer)
    return adapter.fulfilment(answer)


def evm_adapter(service: str) -> EvmAdapter | None:
    """How EVM gateways serve ``service``, or None when they do not (yet)."""
    entry = SERVICES.get(service)
    return entry.evm if entry is not None else None


def n3_adapter(service: str) -> N3Adapter | None:
    """How Neo N3 gateways serve ``service``, or None when they do not (yet)."""
    entry = SERVICES.get(service)
    return entry.n3 if entry is not None else None
