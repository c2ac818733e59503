"""Typed errors of ``nsl devnet demo`` (stable codes, see :mod:`neo_service_layer.errors`)."""

from __future__ import annotations

from neo_service_layer.errors import ConfigurationError, NSLError, ServiceUnavailable


class DevnetNotUp(ServiceUnavailable):
    """No devnet is recorded, or one of its chains does not answer."""

    code = "devnet_not_up"
    title = "No devnet is up (run nsl devnet up)"


class DevnetAccountMissing(ConfigurationError):
    """The devnet's files do not hold the key of the account the demo sends from."""

    code = "devnet_account_missing"
    title = "The devnet's test account cannot be loaded"


class DemoNoFulfilment(ServiceUnavailable):
    """The request was sent, but no fulfilment reached the chain in time."""

    code = "demo_no_fulfilment"
    title = "No fulfilment in time: is nsl serve running?"


class DemoFulfilmentFailed(ServiceUnavailable):
    """The platform recorded that it gave up on the request (a final ``failed`` fulfilment)."""

    code = "demo_fulfilment_failed"
    title = "The platform could not fulfil the request"


class N3RequestFailed(NSLError):
    """The consumer's request transaction (or a read of the gateway) FAULTed on Neo N3."""

    code = "demo_n3_request_failed"
    title = "The Neo N3 request transaction failed"


class DemoNoRound(ServiceUnavailable):
    """The price was moved on the exchange simulator, but no round observed after it reached the chain."""

    code = "demo_no_round"
    title = "No new price round on chain in time"
