"""Typed errors of the Neo N3 chain adapter (stable codes, see :mod:`neo_service_layer.errors`)."""

from __future__ import annotations

from neo_service_layer.errors import NSLError, ServiceUnavailable, ValidationFailed


class N3ContractBuildFailed(NSLError):
    """neo3-boa reported errors or wrote no ``.nef`` / manifest."""

    code = "n3_contract_build_failed"
    status = 500
    title = "Neo N3 contract compilation failed"


class N3DevnetFailed(ServiceUnavailable):
    """The local neo-go chain did not start, or stopped answering."""

    code = "n3_devnet_failed"
    title = "Local Neo N3 chain failed"


class N3TransactionFailed(NSLError):
    """A transaction FAULTed, or could not be sent or found."""

    code = "n3_transaction_failed"
    status = 502
    title = "Neo N3 transaction failed"


class InvalidN3Message(ValidationFailed):
    """A value does not fit the on-chain message format (wrong size, out of range)."""

    code = "invalid_n3_message"
    title = "Value does not fit the Neo N3 message format"


class N3RpcUnavailable(ServiceUnavailable):
    """The N3 node did not answer, or answered with an error: retry later (nothing was recorded)."""

    code = "n3_rpc_unavailable"
    title = "Neo N3 node unavailable"


class N3PriceFeedError(NSLError):
    """The price feed contract refused a read (an unknown pair, a contract that is not a feed)."""

    code = "n3_price_feed_error"
    status = 502
    title = "Neo N3 price feed read failed"
