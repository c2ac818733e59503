"""The contracts a function's owner lets call it through the gateways (``onchain_consumers``).

Each entry names one contract on one chain: ``evm:<chain id>:<address>`` (an EVM chain's id and a
20-byte address, any case) or ``n3:<network magic>:<script hash>`` (a Neo N3 network's magic and a
contract's script hash, 40 hex digits, big-endian as neo-go shows it). They are kept in the enclave's
``consumer_key`` form (``0x``, lower case), the form the enclave compares a requesting contract's key
with: the list the owner set is the list the enclave enforces.
"""

from __future__ import annotations

from typing import Final

from neo_service_layer.enclave.functions.onchain import consumer_key
from neo_service_layer.enclave.opdefs.functions_chains import MAX_CONSUMERS
from neo_service_layer.services.functions.errors import FunctionConsumerInvalid

#: The most contracts one function may allow (the enclave op's bound).
MAX_ONCHAIN_CONSUMERS: Final = MAX_CONSUMERS
_SHOWN: Final = 120  # an entry quoted in an error is cut to this many characters


def normalise_consumer(entry: str) -> str:
    """``entry`` in ``consumer_key`` form; FunctionConsumerInvalid (naming the entry) if malformed."""
    chain, _, contract = entry.rpartition(":")
    try:
        return consumer_key(chain, contract)
    except ValueError as exc:
        raise FunctionConsumerInvalid(
            f"{entry[:_SHOWN]!r}: expected evm:<chain id>:<0x address> or n3:<network magic>:<0x script "
            f"hash> ({exc})",
            consumer=entry[:_SHOWN],
        ) from exc


def normalise_consumers(entries: list[str]) -> list[str]:
    """Every entry normalised, duplicates dropped, sorted; at most :data:`MAX_ONCHAIN_CONSUMERS`."""
    keys = sorted({normalise_consumer(entry) for entry in entries})
    if len(keys) > MAX_ONCHAIN_CONSUMERS:
        raise FunctionConsumerInvalid(
            f"{len(keys)} consumers: at most {MAX_ONCHAIN_CONSUMERS}", limit=MAX_ONCHAIN_CONSUMERS
        )
    return keys
