"""The poller's :class:`~neo_service_layer.services.pricefeed.poller.Observer` on the enclave's
``pricefeed.observe`` op (``enclave/opdefs/pricefeed.py``).

The op's declaration is imported when an observation is made, not when this module is (it lives in the
enclave's op definitions, added with the op). The host checks what it records, as the oracle service
does: the envelope's ``request_hash`` must be the hash of the request it sent, and the result must be
for the feed it asked about (the poller checks the feed and the reports).
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Final

from neo_service_layer.enclave.canonical import request_hash
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.services.pricefeed.poller import Observation

OPDEFS_MODULE: Final = "neo_service_layer.enclave.opdefs.pricefeed"


class EnclaveObserver:
    """Runs ``pricefeed.observe`` in the enclave behind ``enclave`` (a client the caller closes)."""

    def __init__(self, enclave: EnclaveClient) -> None:
        self._enclave = enclave

    async def observe(self, args: dict[str, Any]) -> Observation:
        """The signed observation for ``args`` (``ObserveArgs`` without the account: the op's own)."""
        opdefs = importlib.import_module(OPDEFS_MODULE)
        # Through JSON: the args models are strict, and the poller's args are JSON data (nested dicts).
        observe_args = opdefs.ObserveArgs.model_validate_json(json.dumps(args))
        signed = await self._enclave.run(opdefs.OBSERVE, observe_args)
        request = {
            "op": opdefs.OBSERVE.name,
            "account_id": observe_args.account_id,
            "params": observe_args.params(),
        }
        sent = request_hash(request["op"], request["account_id"], request["params"]).hex()
        if signed.envelope.request_hash != sent:
            raise EnclaveRejected("the enclave's observation is not for the request it was sent")
        return Observation(
            result=signed.result.model_dump(mode="json"),
            envelope=signed.envelope.model_dump(mode="json"),
            request=request,
        )
