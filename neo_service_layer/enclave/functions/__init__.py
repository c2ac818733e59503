"""User JavaScript for the functions service, run outside the address space that holds keys.

* ``limits`` — per-run limits, their defaults and the operator's maximums;
* ``runs`` — a run request and its result (status, result JSON, error, logs);
* ``bridge`` — :class:`~.bridge.FetchBridge`, how a run's ``fetch`` reaches the web (the oracle's
  :class:`~neo_service_layer.enclave.oracle.fetch.SafeFetcher` in the enclave);
* ``wire`` — the frames between the enclave and a sandbox process;
* ``pool`` — :class:`~.pool.SandboxPool`, warm sandbox processes, one run each at a time;
* ``sandbox_worker`` — the sandbox process itself (standard library and ``quickjs`` only), and
  ``prelude.js``, what every fresh context gets before the user's source.

docs/functions.md says why processes (not WebAssembly) and what each isolation layer defends.
"""
