"""The oracle's enclave-side code: what runs where the host cannot reach it.

* :mod:`.codes` — the outcome codes, numerically the Neo N3 oracle's;
* :mod:`.jsonpath` and :mod:`.filter` (with :mod:`.ordered_json`) — the N3 oracle's JSONPath dialect
  and its filter, byte for byte as neo-go;
* :mod:`.template` — requests as callers write them: ``{{secrets.NAME}}`` placeholders, safe headers;
* :mod:`.aggregate` — what several sources agree on (median, identical, majority);
* :mod:`.addresses` and :mod:`.urls` — which addresses and URLs may be reached (IANA special-purpose
  registries, neo-go ``network.go``), hosts normalised to what a client dials, the operator's domain lists;
* :mod:`.fetch` (with :mod:`.dial`, :mod:`.limits`, :mod:`.policy`) — ``SafeFetcher``, the fetcher that
  dials only the address it checked, under a ``FetchPolicy``.

These modules are pure (no enclave state), so the API's filter playground and the Python client run
exactly the code the enclave runs.
"""
