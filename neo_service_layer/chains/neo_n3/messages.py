"""The bytes NSLGateway on Neo N3 verifies — built the same way in Python (pure functions, no I/O).

The builders are ``enclave.crypto.n3_gateway``'s (the enclave builds what it signs itself and imports
nothing outside its measured files); this module re-exports them with the chain adapter's error,
:class:`InvalidN3Message`.

All integers are little-endian (NeoVM's byte order), the gateway hash is the 20-byte ``UInt160`` as N3
serializes it (little-endian, i.e. ``UInt160.to_array()``, the reverse of the ``0x…`` display form), and
each format starts with a versioned ASCII tag, so a signature is valid for one network, one gateway and
one request only (docs/chains-neo-n3.md):

- fulfilment message (signed by the enclave, ECDSA secp256r1 over its SHA-256, raw ``r ‖ s``; verified
  on chain by ``CryptoLib.verifyWithECDsa(message, pubkey, signature, secp256r1SHA256)``, which hashes
  the message itself)::

      "NSL-N3-FULFIL-V2" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖ SHA-256(payload) ‖
      VRF key version (u32) ‖ SHA-256(VRF key) ‖ SHA-256(result)                               -- 148 bytes

  with the request's stored payload hash, its pinned VRF key version and the hash of the key the gateway
  registered under that version (version 0 and zero bytes for a service without a VRF key);

- VRF input of a randomness request::

      alpha = "NSL-N3-DYVRF-ALPHA-V1" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖ SHA-256(payload)
      x     = int_be(SHA-256(alpha)) mod 2^254                      (dyvrf.alpha_to_scalar)

- randomness result: ``beta (32) ‖ pi (compressed G2, 96) ‖ x (32, little-endian)`` with
  ``pi = dyvrf.prove(sk, alpha)`` and ``beta = SHA-256(pi)``;
- price report (``nsl_price_feed.transmit``, built by ``enclave.crypto.price_reports``)::

      "NSL-N3-PRICE-V2" ‖ magic (u32) ‖ contract (20) ‖ SHA-256(pair) ‖ round id (u64) ‖ answer (u256) ‖
      observed at (u64, Unix seconds) ‖ configHash (32, the pair's registered rules)         -- 151 bytes
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.enclave.crypto import n3_gateway, price_reports
from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.n3_gateway import RandomnessResult

__all__ = [
    "RandomnessResult",
    "fulfilment_message",
    "price_report_message",
    "randomness_alpha",
    "randomness_result",
    "split_randomness_result",
]


@contextmanager
def _converted() -> Iterator[None]:
    try:
        yield
    except InvalidInput as e:
        raise InvalidN3Message(e.detail) from e


def _wrap[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with _converted():
            return fn(*args, **kwargs)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


fulfilment_message = _wrap(n3_gateway.fulfilment_message)
randomness_alpha = _wrap(n3_gateway.randomness_alpha)
randomness_result = _wrap(n3_gateway.randomness_result)
split_randomness_result = _wrap(n3_gateway.split_randomness_result)
price_report_message = _wrap(price_reports.n3_price_report_message)
