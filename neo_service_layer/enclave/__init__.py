"""The enclave process (docs/enclave.md): the only process that holds private keys and secret plaintext.

Modules, one concern each: ``canonical`` (hashing encodings), ``protocol`` (framing, envelopes, error
codes), ``sealing`` and ``state`` (sealed storage), ``identity`` and ``signing`` (result signatures),
``measurement`` and ``attestation`` (the report), ``tee`` (hardware backends), ``ops`` and ``handlers``
(the operations), ``server`` / ``client`` (the Unix socket), ``main`` (``run_enclave``).
This package imports nothing at import time so that clients can use its schemas cheaply.
"""

from __future__ import annotations
