"""The poller's :class:`~neo_service_layer.services.pricefeed.poller.Observer` on the enclave's
``pricefeed.observe`` op (``enclave/opdefs/pricefeed.py``).

The host checks what it records, as the oracle service does: the envelope's ``request_hash`` must be
the hash of the request it sent, and the result must be for the feed it asked about (the poller checks
the feed and the reports).
"""

from __future__ import annotations

import json
from typing import Any

from neo_service_layer.enclave.canonical import request_hash
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.pricefeed import OBSERVE, ObserveArgs
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.services.pricefeed.observation import Observation


class EnclaveObserver:
    """Runs ``pricefeed.observe`` in the enclave behind ``enclave`` (a client the caller closes)."""

    def __init__(self, enclave: EnclaveClient) -> None:
        self._enclave = enclave

    async def observe(self, args: dict[str, Any]) -> Observation:
        """The signed observation for ``args`` (``ObserveArgs`` without the account: the op's own)."""
        # Through JSON: the args models are strict, and the poller's args are JSON data (nested dicts).
        observe_args = ObserveArgs.model_validate_json(json.dumps(args))
        signed = await self._enclave.run(OBSERVE, observe_args)
        params = observe_args.params()
        request = {"op": OBSERVE.name, "account_id": observe_args.account_id, "params": params}
        sent = request_hash(OBSERVE.name, observe_args.account_id, params).hex()
        if signed.envelope.request_hash != sent:
            raise EnclaveRejected("the enclave's observation is not for the request it was sent")
        return Observation(
            result=signed.result.model_dump(mode="json"),
            envelope=signed.envelope.model_dump(mode="json"),
            request=request,
        )
